// llama.cpp's own CPU matrix multiply for one weight type and shape, timed the way TritBench's
// `kernels bench --cold` times its kernels: ggml_mul_mat on the CPU backend (the op a llama.cpp
// linear layer runs, activations converted to the type's vec_dot type inside it, as in a
// model), one graph per weight copy, copies cycled so that the weights stream from DRAM when
// COLD_BYTES exceeds the last-level cache. Threads come from ggml's CPU backend as llama.cpp
// uses them (OpenMP in this build, its threads kept alive between calls).
//
// Prints one JSON object: the case, the median over SAMPLES calls in microseconds and a 95%
// interval of that median (order statistics n/2 ± 0.98·√n, distribution-free).
//
// Usage: llama-cpp-gemv-bench TYPE ROWS K TOKENS THREADS [SAMPLES] [COLD_BYTES]
//   TYPE a ggml type name (tq1_0, tq2_0, q4_0, …); K a multiple of the type's block size;
//   SAMPLES default 101; COLD_BYTES default 1 GiB (0: one copy, warm).
#include <ggml.h>
#include <ggml-cpu.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long parse_count(const char *text, const char *what, long lo, long hi) {
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || !end || *end || v < lo || v > hi) {
        fprintf(stderr, "llama-cpp-gemv-bench: error: %s '%s': expected an integer in %ld...%ld\n", what, text, lo, hi);
        exit(2);
    }
    return v;
}

/// A deterministic uniform value in [-1, 1) (xorshift64*), so every run quantizes the same weights.
static float next_uniform(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return (float)((*s * 2685821657736338717ull) >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
}

int main(int argc, char **argv) {
    if (argc < 6 || argc > 8) {
        fprintf(stderr, "usage: %s TYPE ROWS K TOKENS THREADS [SAMPLES] [COLD_BYTES]\n", argv[0]);
        return 2;
    }
    enum ggml_type type = GGML_TYPE_COUNT;
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char *name = ggml_type_name((enum ggml_type)t);
        if (name && strcmp(name, argv[1]) == 0 && ggml_get_type_traits((enum ggml_type)t)->blck_size > 0) { type = (enum ggml_type)t; break; }
    }
    if (type == GGML_TYPE_COUNT) { fprintf(stderr, "llama-cpp-gemv-bench: error: TYPE '%s': not a ggml type name\n", argv[1]); return 2; }
    const long rows = parse_count(argv[2], "ROWS", 1, 1 << 20);
    const long k = parse_count(argv[3], "K", 1, 1 << 20);
    const long tokens = parse_count(argv[4], "TOKENS", 1, 4096);
    const int threads = (int)parse_count(argv[5], "THREADS", 1, 256);
    const long samples = argc > 6 ? parse_count(argv[6], "SAMPLES", 5, 100000) : 101;
    const long cold_bytes = argc > 7 ? parse_count(argv[7], "COLD_BYTES", 0, 1L << 36) : 1L << 30;
    const long block = ggml_blck_size(type);
    if (k % block != 0) {
        fprintf(stderr, "llama-cpp-gemv-bench: error: K %ld: %s needs a multiple of %ld\n", k, argv[1], block);
        return 2;
    }
    const size_t weight_bytes = ggml_row_size(type, k) * (size_t)rows;
    const long copies = cold_bytes > 0 ? (long)((cold_bytes + weight_bytes - 1) / weight_bytes) : 1;
    const size_t activation_bytes = (size_t)k * (size_t)tokens * sizeof(float);
    const size_t output_bytes = (size_t)rows * (size_t)tokens * sizeof(float);
    const size_t overhead = ggml_tensor_overhead() * (size_t)(3 * copies + 4) + ggml_graph_overhead() * (size_t)copies + 4096;
    const size_t context_bytes = (size_t)copies * (weight_bytes + output_bytes + 256) + activation_bytes + overhead;
    struct ggml_init_params params = { .mem_size = context_bytes, .mem_buffer = NULL, .no_alloc = false };
    struct ggml_context *ctx = ggml_init(params);
    if (!ctx) { fprintf(stderr, "llama-cpp-gemv-bench: error: cannot allocate %zu bytes\n", context_bytes); return 1; }

    float *source = malloc((size_t)rows * (size_t)k * sizeof(float));
    if (!source) { fprintf(stderr, "llama-cpp-gemv-bench: error: cannot allocate the source weights\n"); return 1; }
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < (size_t)rows * (size_t)k; i++) source[i] = next_uniform(&seed);

    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, tokens);
    for (size_t i = 0; i < (size_t)k * (size_t)tokens; i++) ((float *)x->data)[i] = next_uniform(&seed);
    struct ggml_cgraph **graphs = calloc((size_t)copies, sizeof *graphs);
    size_t work_size = 0;
    struct ggml_tensor *first = NULL;
    for (long c = 0; c < copies; c++) {
        struct ggml_tensor *w = ggml_new_tensor_2d(ctx, type, k, rows);
        // Quantized once; the other copies are byte copies of it.
        if (first) memcpy(w->data, first->data, weight_bytes);
        else { ggml_quantize_chunk(type, source, w->data, 0, rows, k, NULL); first = w; }
        graphs[c] = ggml_new_graph(ctx);
        ggml_build_forward_expand(graphs[c], ggml_mul_mat(ctx, w, x));
        struct ggml_cplan plan = ggml_graph_plan(graphs[c], threads, NULL);
        if (plan.work_size > work_size) work_size = plan.work_size;
    }
    free(source);
    uint8_t *work = work_size ? malloc(work_size) : NULL;

    double *times = malloc((size_t)samples * sizeof(double));
    for (long s = -copies; s < samples; s++) {   // one warm-up pass over every copy
        struct ggml_cgraph *g = graphs[(s + copies) % copies];
        struct ggml_cplan plan = ggml_graph_plan(g, threads, NULL);
        plan.work_data = work;
        double t0 = now_seconds();
        if (ggml_graph_compute(g, &plan) != GGML_STATUS_SUCCESS) { fprintf(stderr, "llama-cpp-gemv-bench: error: ggml_graph_compute failed\n"); return 1; }
        double t1 = now_seconds();
        if (s >= 0) times[s] = (t1 - t0) * 1e6;
    }
    qsort(times, (size_t)samples, sizeof(double), compare_doubles);
    const double n = (double)samples, half = 0.98 * sqrt(n);
    long lo = (long)floor(n / 2 - half), hi = (long)ceil(n / 2 + 1 + half) - 1;
    if (lo < 0) lo = 0;
    if (hi > samples - 1) hi = samples - 1;
    const double median = samples % 2 ? times[samples / 2] : 0.5 * (times[samples / 2 - 1] + times[samples / 2]);
    printf("{\"type\": \"%s\", \"rows\": %ld, \"k\": %ld, \"tokens\": %ld, \"threads\": %d, \"copies\": %ld, "
           "\"weight_bytes\": %zu, \"samples\": %ld, \"median_us\": %.3f, \"ci_low_us\": %.3f, \"ci_high_us\": %.3f, "
           "\"gb_per_s\": %.2f}\n",
           argv[1], rows, k, tokens, threads, copies, weight_bytes, samples, median, times[lo], times[hi],
           (double)weight_bytes / (median * 1e-6) / 1e9);
    free(times); free(work); free(graphs);
    ggml_free(ctx);
    return 0;
}
