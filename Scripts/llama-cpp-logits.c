// llama.cpp's logits for a token id sequence, every position, as an NPY file: the reference a
// TritBench forward is compared with. Built and run by Scripts/llama-cpp-logits.sh against the
// pinned llama.cpp's static libraries (public llama.h API only).
//
//   llama-cpp-logits MODEL.gguf TOKENS OUT.npy [THREADS]
//
// TOKENS: a file of token ids (decimal, separated by whitespace or commas; "-" = stdin), or
// "ids:1,2,3" for ids on the command line. The whole sequence is one llama_decode call (one batch,
// one ubatch, sequence 0, positions 0..n-1, a fresh KV cache) with logits requested for every
// position. OUT.npy: little-endian float32, NPY format 1.0, shape (n_tokens, n_vocab), row t =
// the logits after tokens 0..t.
// The KV cache holds F32 by default (llama.cpp's default is F16; environment
// LLAMA_LOGITS_KV=f16 selects it); flash attention is off (LLAMA_LOGITS_FA=1 turns it on).
// LLAMA_LOGITS_VERBOSE=1 shows llama.cpp's own log.
#include "llama.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int verbose = 0;

static void quiet_log(enum ggml_log_level level, const char * text, void * user) {
    (void) user;
    if (verbose || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void die(const char * fmt, const char * arg) {
    fprintf(stderr, "llama-cpp-logits: error: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    exit(1);
}

// Parses decimal ids separated by anything that is not a digit or '-'.
static llama_token * parse_ids(const char * text, int * count, const char * what) {
    size_t cap = 256, n = 0;
    llama_token * ids = malloc(cap * sizeof *ids);
    const char * p = text;
    while (*p) {
        if ((*p >= '0' && *p <= '9') || *p == '-') {
            char * end;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (end == p || errno || v < 0 || v > INT32_MAX) die("%s: expected non-negative token ids", what);
            if (n == cap) ids = realloc(ids, (cap *= 2) * sizeof *ids);
            ids[n++] = (llama_token) v;
            p = end;
        } else if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') {
            p++;
        } else {
            die("%s: expected token ids separated by whitespace or commas", what);
        }
    }
    *count = (int) n;
    return ids;
}

static char * read_all(const char * path) {
    FILE * f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) die("%s: cannot open the token file", path);
    size_t cap = 4096, n = 0, got;
    char * buf = malloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
    }
    buf[n] = 0;
    if (f != stdin) fclose(f);
    return buf;
}

static void write_npy(const char * path, const float * data, int rows, int cols) {
    char header[256];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    int total = 10 + len + 1;                   // magic(6) version(2) header_len(2) dict '\n'
    int pad = (64 - total % 64) % 64;
    memset(header + len, ' ', pad);
    header[len + pad] = '\n';
    uint16_t hlen = (uint16_t) (len + pad + 1);
    FILE * f = fopen(path, "wb");
    if (!f) die("%s: cannot create the output file", path);
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    unsigned char hl[2] = {(unsigned char) (hlen & 0xff), (unsigned char) (hlen >> 8)};
    if (fwrite(magic, 1, 8, f) != 8 || fwrite(hl, 1, 2, f) != 2 || fwrite(header, 1, hlen, f) != hlen ||
        fwrite(data, sizeof(float), (size_t) rows * cols, f) != (size_t) rows * cols || fclose(f) != 0)
        die("%s: write failed", path);
}

int main(int argc, char ** argv) {
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s MODEL.gguf TOKENS|ids:1,2,3 OUT.npy [THREADS]\n", argv[0]);
        return 2;
    }
    const char * model_path = argv[1], * tokens_arg = argv[2], * out_path = argv[3];
    int threads = argc == 5 ? atoi(argv[4]) : 1;
    if (threads < 1) die("%s: expected a positive thread count", argv[4]);
    verbose = getenv("LLAMA_LOGITS_VERBOSE") != NULL;
    const char * kv = getenv("LLAMA_LOGITS_KV");
    int kv_f16 = kv && strcmp(kv, "f16") == 0;
    if (kv && !kv_f16 && strcmp(kv, "f32") != 0) die("LLAMA_LOGITS_KV=%s: expected f32 or f16", kv);
    int fa = getenv("LLAMA_LOGITS_FA") && strcmp(getenv("LLAMA_LOGITS_FA"), "1") == 0;
    {
        uint32_t one = 1;
        if (*(unsigned char *) &one != 1) die("%s", "this harness writes host floats as '<f4': little-endian hosts only");
    }

    int n = 0;
    llama_token * ids;
    if (strncmp(tokens_arg, "ids:", 4) == 0) {
        ids = parse_ids(tokens_arg + 4, &n, "ids:");
    } else {
        char * text = read_all(tokens_arg);
        ids = parse_ids(text, &n, tokens_arg);
        free(text);
    }
    if (n == 0) die("%s: expected at least one token id", tokens_arg);

    llama_log_set(quiet_log, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(model_path, mp);
    if (!model) die("%s: llama.cpp could not load this GGUF (LLAMA_LOGITS_VERBOSE=1 for its log)", model_path);
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);
    for (int i = 0; i < n; i++) {
        if (ids[i] >= n_vocab) {
            char msg[64];
            snprintf(msg, sizeof msg, "%d (position %d)", ids[i], i);
            fprintf(stderr, "llama-cpp-logits: error: %s: token id %s is not below the vocabulary size %d\n",
                    tokens_arg, msg, n_vocab);
            return 1;
        }
    }

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n;
    cp.n_batch = (uint32_t) n;
    cp.n_ubatch = (uint32_t) n;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = kv_f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    cp.type_v = kv_f16 ? GGML_TYPE_F16 : GGML_TYPE_F32;
    cp.no_perf = false;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) die("%s: llama_init_from_model failed (LLAMA_LOGITS_VERBOSE=1 for its log)", model_path);

    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = ids[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = llama_decode(ctx, batch);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc != 0) {
        fprintf(stderr, "llama-cpp-logits: error: %s: llama_decode returned %d\n", model_path, rc);
        return 1;
    }

    float * out = malloc((size_t) n * n_vocab * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float * row = llama_get_logits_ith(ctx, i);
        if (!row) die("%s: llama_get_logits_ith returned no row", model_path);
        memcpy(out + (size_t) i * n_vocab, row, (size_t) n_vocab * sizeof(float));
    }
    write_npy(out_path, out, n, n_vocab);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    fprintf(stderr, "llama-cpp-logits: %s: %d tokens x %d vocab -> %s (decode %.1f ms, %d threads, KV %s, flash attention %s)\n",
            model_path, n, n_vocab, out_path, ms, threads, kv_f16 ? "F16" : "F32", fa ? "on" : "off");

    free(out);
    free(ids);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
