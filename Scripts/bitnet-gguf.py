#!/usr/bin/env python3
"""Writes synthetic BitNet b1.58 GGUF files in llama.cpp's `bitnet` architecture, exactly as the
llama.cpp this project pins (llama-cpp-python 0.3.36's vendored sources, src/models/bitnet.cpp and
src/llama-arch.cpp) loads it, with the `gguf` Python package (gguf-py 0.19.0) and its own TQ
quantizers. The weights are random (seeded), so the files are for loading, logits comparison
against llama.cpp, and speed, not for text quality.

    PYTHONPATH=<gguf 0.19.0> python3 Scripts/bitnet-gguf.py --preset tiny --type tq2_0 --out FILE
    (Scripts/llama-cpp-build.sh has gguf_pythonpath, which fetches the pinned wheel)

What the file holds (names and shapes as llama.cpp's load_arch_tensors asks; numpy order here,
rows = outputs, so ggml's ne = reversed):
    token_embd.weight        (n_vocab, n_embd)  F16 (tiny) or Q8_0 (2b4t, see --embd-type);
                             it is also the LM head: llama.cpp's bitnet graph has no `output`
                             tensor and multiplies the final norm by token_embd (tied weights)
    output_norm.weight       (n_embd,)          F32
    blk.N.attn_norm.weight, blk.N.attn_sub_norm.weight   (n_embd,) F32
    blk.N.attn_q|attn_output.weight  (n_embd, n_embd)    TQ2_0 or TQ1_0
    blk.N.attn_k|attn_v.weight       (n_kv*head, n_embd) TQ2_0 or TQ1_0
    blk.N.ffn_norm.weight            (n_embd,) F32
    blk.N.ffn_sub_norm.weight        (n_ff,)   F32
    blk.N.ffn_gate|ffn_up.weight     (n_ff, n_embd)      TQ2_0 or TQ1_0
    blk.N.ffn_down.weight            (n_embd, n_ff)      TQ2_0 or TQ1_0
    blk.N.<each of the 7 above>.scale (1,) F32 — the per-tensor scale; llama.cpp multiplies the
                             matmul result by it (build_lora_mm: ggml_mul(W·x, w_s)). Optional for
                             llama.cpp, always written here: u / sqrt(2K/3), u uniform in [0.5, 2),
                             K = the weight's input width, so every projection of a unit-RMS input
                             has outputs of RMS ~u. Without the 1/sqrt(2K/3) (plain scales ~1),
                             q·k scores reach hundreds, attention is one-hot and chaotic, and the
                             activation rounding below moves logits by whole units between two
                             correct implementations.
Ternary weights are random trits (each of -1, 0, +1 with probability 1/3) times 1.0, so every
256-wide TQ block has max |w| = 1 and gguf-py's quantizer stores d = 1 (checked on every block:
the d field, the last two bytes of both block types, must be 1.0) and codes equal to the trits
(checked by dequantizing the first rows of every tensor). Each effective weight is
trit · 1 · scale: the per-tensor .scale tensor carries the magnitude. (llama.cpp's own converter,
conversion/bitnet.py, instead folds BitNet's per-tensor absmean scale into the weights, so its
files have d = that scale in every block and no .scale tensors; the arithmetic is the same.) Norm weights are uniform in [0.8, 1.2); embeddings N(0, 0.05²).
Each tensor draws from its own generator, seeded by (--seed, tensor index), in fixed chunks of
rows, so a file is a function of (preset, seed) and the same trits go into TQ1_0 and TQ2_0.

Tokenizer: SentencePiece-style ("llama") vocabulary, which llama.cpp accepts with the least
fuss: <unk>=0, <s>=1 (BOS), </s>=2 (EOS), the 256 byte tokens <0x00>..<0xFF> (so any text
tokenizes, through byte fallback), then filler pieces ("a".."z", "▁a".., "aa"..) with decreasing
scores up to the requested vocabulary size. Not a real model's vocabulary.

The part of BitNet that llama.cpp's `bitnet` architecture hard-codes (its graph, for whoever
writes a matching forward): per block,
    h = x + wo_s · (Wo · rmsnorm_sub(attn(rope_neox(wq_s·Wq·n), rope_neox(wk_s·Wk·n), wv_s·Wv·n)))
        with n = rmsnorm_attn(x), attention scale 1/sqrt(head_dim), causal, GQA;
    y = h + down_s · (Wdown · rmsnorm_ffn_sub(SiLU(gate_s·Wgate·m) ⊙ (up_s·Wup·m))), m = rmsnorm_ffn(h);
    logits = token_embd · rmsnorm_out(y_last_layer).
  RoPE is the NEOX kind (pairs offset by head_dim/2: llama_model_rope_type lists LLM_ARCH_BITNET
  with the NEOX ones), over the whole head, freq_base from the file. No biases. Activations are
  not quantized in the graph itself, but ggml's TQ1_0/TQ2_0 CPU matmul quantizes the activation
  row to Q8_K (per 256-block int8 with a float scale) before the dot product, which a float
  reference will not match bit for bit.
  The FFN activation is SiLU (build_ffn(..., LLM_FFN_SILU, LLM_FFN_PAR)). BitNet-b1.58-2B-4T
  itself uses squared ReLU (hidden_act "relu2"); Microsoft's bitnet.cpp fork therefore adds
  separate architectures ("bitnet-b1.58", "bitnet-25", graph build_bitnet_158 with
  LLM_FFN_RELU_SQR) that this llama.cpp does not have, although its converter maps
  BitNetForCausalLM to plain `bitnet`. The --preset 2b4t file has 2B-4T's shapes, not its
  activation: it matches llama.cpp's graph, which is what is measured against.

Presets:
    tiny  hidden 256, FFN 512, 2 layers, 4 heads (head 64), 2 KV heads, vocab 1000, ctx 512,
          rope base 10000, eps 1e-5; token_embd F16
    2b4t  BitNet-b1.58-2B-4T's shapes: hidden 2560, FFN 6912, 30 layers, 20 heads (head 128),
          5 KV heads, vocab 128256, ctx 4096, rope base 500000, eps 1e-5; token_embd Q8_0
          (it is read whole for every token as the LM head: F16 would be 657 MB, more than the
          ~537 MB of TQ2_0 weights, so decode would mostly time the head; Q8_0 is 349 MB, the
          format llama.cpp commonly keeps embeddings/heads in, and TritBench reads Q8_0).
          File 891 MB (TQ2_0) or ~790 MB (TQ1_0); about 50 s to write; peak RSS 0.92 GB
          measured (the 349 MB Q8_0 head is assembled whole before it is written).

The writer streams: tensor infos are declared first, then each tensor is generated, quantized
and written in turn (gguf-py's write_tensor_data), so only one tensor is in memory at a time.
Progress goes to stderr.
"""
import argparse
import sys
import time

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as T, GGUFWriter, quants
except ImportError as e:  # pragma: no cover
    sys.exit(f"bitnet-gguf: error: cannot import the gguf package ({e}); "
             "put gguf 0.19.0 on PYTHONPATH (Scripts/llama-cpp-build.sh: gguf_pythonpath)")

PRESETS = {
    "tiny": dict(n_embd=256, n_ff=512, n_layer=2, n_head=4, n_head_kv=2, n_vocab=1000,
                 n_ctx=512, rope_base=10000.0, eps=1e-5, embd_type="f16"),
    "2b4t": dict(n_embd=2560, n_ff=6912, n_layer=30, n_head=20, n_head_kv=5, n_vocab=128256,
                 n_ctx=4096, rope_base=500000.0, eps=1e-5, embd_type="q8_0"),
}
TERNARY = {"tq2_0": T.TQ2_0, "tq1_0": T.TQ1_0}
EMBD = {"f16": T.F16, "q8_0": T.Q8_0, "f32": T.F32}
CHUNK_ROWS = 256           # rows generated and quantized at a time (part of the seeding scheme)


def log(msg):
    print(f"bitnet-gguf: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    sys.exit(f"bitnet-gguf: error: {msg}")


def vocabulary(n_vocab):
    """SPM vocabulary: <unk>, <s>, </s>, 256 byte tokens, then unique filler pieces."""
    if n_vocab < 3 + 256 + 1:
        fail(f"vocabulary size {n_vocab} is too small: need at least 260 (3 special + 256 bytes + 1)")
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] \
        + [gguf.TokenType.BYTE] * 256
    scores = [0.0] * len(tokens)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = list(letters)
    rank = 0
    while len(tokens) < n_vocab:
        nxt = []
        for w in words:
            for piece in (w, "\u2581" + w):
                if len(tokens) == n_vocab:
                    break
                tokens.append(piece)
                types.append(gguf.TokenType.NORMAL)
                rank += 1
                scores.append(-float(rank))
            nxt.extend(w + c for c in letters)
        words = nxt
    return tokens, scores, [int(t) for t in types]


def tensor_plan(p, wtype):
    """(name, numpy shape, kind, ggml type) in file order."""
    e, f, hd = p["n_embd"], p["n_ff"], p["n_embd"] // p["n_head"]
    kv = hd * p["n_head_kv"]
    plan = [("token_embd.weight", (p["n_vocab"], e), "embd", EMBD[p["embd_type"]]),
            ("output_norm.weight", (e,), "norm", T.F32)]
    for i in range(p["n_layer"]):
        b = f"blk.{i}."
        plan.append((b + "attn_norm.weight", (e,), "norm", T.F32))
        for name, shape in (("attn_q", (e, e)), ("attn_k", (kv, e)), ("attn_v", (kv, e)),
                            ("attn_output", (e, e))):
            plan.append((b + name + ".weight", shape, "trit", wtype))
            plan.append((b + name + ".scale", shape, "scale", T.F32))
        plan.append((b + "attn_sub_norm.weight", (e,), "norm", T.F32))
        plan.append((b + "ffn_norm.weight", (e,), "norm", T.F32))
        for name, shape in (("ffn_gate", (f, e)), ("ffn_up", (f, e)), ("ffn_down", (e, f))):
            plan.append((b + name + ".weight", shape, "trit", wtype))
            plan.append((b + name + ".scale", shape, "scale", T.F32))
        plan.append((b + "ffn_sub_norm.weight", (f,), "norm", T.F32))
    return plan


def nbytes(shape, qtype):
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = int(np.prod(shape))
    if shape[-1] % block:
        fail(f"row length {shape[-1]} is not a multiple of {qtype.name}'s block of {block}")
    return n // block * size


def make_tensor(index, name, shape, kind, qtype, seed):
    """Generates and encodes one tensor; returns the array gguf-py writes (uint8 for quantized)."""
    rng = np.random.default_rng([seed, index])
    if kind == "norm":
        return rng.uniform(0.8, 1.2, shape).astype(np.float32)
    if kind == "scale":   # shape here is the weight's (rows, K): see "per-tensor scale" above
        return (rng.uniform(0.5, 2.0, (1,)) / np.sqrt(2.0 / 3.0 * shape[1])).astype(np.float32)
    rows, cols = shape
    if qtype in (T.F32, T.F16):
        dt = np.float32 if qtype == T.F32 else np.float16
        out = np.empty(shape, dt)
    else:
        out = np.empty((rows, nbytes((1, cols), qtype)), np.uint8)
    for r0 in range(0, rows, CHUNK_ROWS):
        r1 = min(rows, r0 + CHUNK_ROWS)
        if kind == "embd":
            x = (rng.standard_normal((r1 - r0, cols), dtype=np.float32) * np.float32(0.05))
            out[r0:r1] = x.astype(out.dtype) if out.dtype != np.uint8 else quants.quantize(x, qtype)
            continue
        trits = rng.integers(-1, 2, (r1 - r0, cols), dtype=np.int8)
        q = quants.quantize(trits.astype(np.float32), qtype)
        # d is the last two bytes (f16) of both TQ1_0 (54 B) and TQ2_0 (66 B) blocks
        size = gguf.GGML_QUANT_SIZES[qtype][1]
        d = q.reshape(-1, size)[:, -2:].copy().view(np.float16)
        if not np.all(d == 1.0):
            fail(f"{name}: gguf-py's {qtype.name} quantizer gave block scales d != 1 "
                 f"({np.unique(d)[:5]}); expected d = 1 for blocks of trits with a nonzero")
        if r0 == 0:
            deq = quants.dequantize(q[:4], qtype)
            if not np.array_equal(deq, trits[:4].astype(np.float32)):
                fail(f"{name}: {qtype.name} blocks do not dequantize to the trits that were written")
        out[r0:r1] = q
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", choices=sorted(PRESETS), required=True)
    ap.add_argument("--type", choices=sorted(TERNARY), default="tq2_0", help="ternary weight type")
    ap.add_argument("--embd-type", choices=sorted(EMBD), help="token_embd (= LM head) type; "
                    "default F16 for tiny, Q8_0 for 2b4t")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    p = dict(PRESETS[a.preset])
    if a.embd_type:
        p["embd_type"] = a.embd_type
    if p["n_embd"] % p["n_head"] or p["n_head"] % p["n_head_kv"]:
        fail(f"preset {a.preset}: heads do not divide the hidden size / KV heads")
    wtype = TERNARY[a.type]
    plan = tensor_plan(p, wtype)

    w = GGUFWriter(a.out + ".part", "bitnet", use_temp_file=False)
    w.add_name(f"TritBench synthetic BitNet ({a.preset}, {a.type}, seed {a.seed})")
    w.add_block_count(p["n_layer"])
    w.add_context_length(p["n_ctx"])
    w.add_embedding_length(p["n_embd"])
    w.add_feed_forward_length(p["n_ff"])
    w.add_head_count(p["n_head"])
    w.add_head_count_kv(p["n_head_kv"])
    w.add_layer_norm_rms_eps(p["eps"])
    w.add_rope_freq_base(p["rope_base"])
    w.add_vocab_size(p["n_vocab"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_TQ2_0 if wtype == T.TQ2_0 else gguf.LlamaFileType.MOSTLY_TQ1_0)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    tokens, scores, types = vocabulary(p["n_vocab"])
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)

    plan = [(n, (1,) if k == "scale" else s, k, q, s) for n, s, k, q in plan]
    for name, shape, kind, qtype, _ in plan:
        dt = np.uint8 if qtype not in (T.F32, T.F16) else (np.float32 if qtype == T.F32 else np.float16)
        size = nbytes(shape, qtype) if dt == np.uint8 else int(np.prod(shape)) * np.dtype(dt).itemsize
        w.add_tensor_info(name, shape, np.dtype(np.float32), size, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()

    total = sum(nbytes(s, q) if q not in (T.F32, T.F16) else int(np.prod(s)) * (4 if q == T.F32 else 2)
                for _, s, _, q, _ in plan)
    log(f"{a.preset} {a.type} seed {a.seed}: {len(plan)} tensors, {total / 1e6:.1f} MB of tensor data "
        f"-> {a.out}")
    t0, done = time.time(), 0
    for index, (name, shape, kind, qtype, gen_shape) in enumerate(plan):
        arr = make_tensor(index, name, gen_shape, kind, qtype, a.seed)
        w.write_tensor_data(arr)
        done += arr.nbytes
        if kind in ("embd", "trit") and (name.endswith("ffn_down.weight") or kind == "embd"
                                         or a.preset == "tiny"):
            log(f"  {name} {qtype.name} {tuple(shape)}  {done / 1e6:.0f}/{total / 1e6:.0f} MB "
                f"({time.time() - t0:.0f} s)")
    w.close()
    import os
    os.replace(a.out + ".part", a.out)
    log(f"wrote {a.out} ({os.path.getsize(a.out) / 1e6:.1f} MB) in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
