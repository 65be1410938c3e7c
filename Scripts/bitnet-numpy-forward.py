#!/usr/bin/env python3
"""An independent float64 numpy forward of llama.cpp's `bitnet` graph (src/models/bitnet.cpp of the
pinned llama.cpp), for small files such as `Scripts/bitnet-gguf.py --preset tiny`: it spells out,
in a dozen lines, the semantics documented in bitnet-gguf.py's header (NEOX RoPE, sub-norms before
the output and down projections, SiLU-gated FFN, per-tensor scale after each matmul, token_embd
as the LM head), and checks them against llama.cpp's own logits.

    PYTHONPATH=<gguf 0.19.0> python3 Scripts/bitnet-numpy-forward.py MODEL.gguf TOKENS OUT.npy \
        [--compare LLAMA_LOGITS.npy]

TOKENS: a file of token ids (whitespace or commas). OUT.npy: float32 (n_tokens, n_vocab).
--compare prints the largest absolute difference and the argmax agreement with llama.cpp's logits
(Scripts/llama-cpp-logits.sh). They differ by llama.cpp's quantization of activations to Q8_K
in the TQ matmuls (and F16 embedding rows), not by the graph.
"""
import argparse
import re
import sys

import numpy as np

try:
    from gguf import GGUFReader, quants, GGMLQuantizationType as T
except ImportError as e:  # pragma: no cover
    sys.exit(f"bitnet-numpy-forward: error: cannot import gguf ({e}); put gguf 0.19.0 on PYTHONPATH")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("tokens")
    ap.add_argument("out")
    ap.add_argument("--compare")
    ap.add_argument("--activations", choices=("float", "q8k"), default="float",
                    help="q8k: round each matmul input as ggml's CPU backend does (Q8_K rows before TQ "
                         "weights, F16 before an F16 head), to match llama.cpp to float rounding")
    a = ap.parse_args()

    r = GGUFReader(a.model)
    if r.fields["general.architecture"].contents() != "bitnet":
        sys.exit(f"bitnet-numpy-forward: error: {a.model}: expected general.architecture = bitnet")
    kv = lambda k: r.fields["bitnet." + k].contents()
    n_layer, n_head, n_kv = kv("block_count"), kv("attention.head_count"), kv("attention.head_count_kv")
    eps, base = kv("attention.layer_norm_rms_epsilon"), kv("rope.freq_base")

    def tensor(name):
        for t in r.tensors:
            if t.name == name:
                if t.tensor_type in (T.F32, T.F16):
                    return np.asarray(t.data, np.float64).reshape([int(d) for d in reversed(t.shape)])
                return quants.dequantize(t.data, t.tensor_type).astype(np.float64)
        sys.exit(f"bitnet-numpy-forward: error: {a.model}: tensor {name} missing")

    ids = [int(s) for s in re.split(r"[\s,]+", open(a.tokens).read().strip())]
    emb = tensor("token_embd.weight")
    n, (n_vocab, n_embd) = len(ids), emb.shape
    hd = n_embd // n_head

    def rms(x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w

    q8k = a.activations == "q8k"

    def quantize_q8k(x):  # ggml's quantize_row_q8_K_ref: per 256 values, iscale = -127 / (value of max |x|)
        x32 = x.astype(np.float32).reshape(-1, 256)
        j = np.abs(x32).argmax(axis=1)
        mx = x32[np.arange(len(x32)), j][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            iscale = np.where(mx == 0, np.float32(0), np.float32(-127.0) / mx).astype(np.float32)
            q = np.minimum(np.rint(iscale * x32), 127)
            d = np.where(mx == 0, np.float32(0), np.float32(1) / iscale).astype(np.float32)
        return (q * d).astype(np.float64).reshape(x.shape)

    names = {t.name for t in r.tensors}

    def lin(x, name):  # W·x times the per-tensor scale (absent scale = 1)
        s = tensor(name + ".scale")[0] if name + ".scale" in names else 1.0
        return ((quantize_q8k(x) if q8k else x) @ tensor(name + ".weight").T) * s

    pos = np.arange(n)[:, None]
    theta = pos * base ** (-np.arange(0, hd, 2) / hd)          # (n, hd/2)
    cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]

    def rope_neox(x):  # x (n, heads, hd): pairs (i, i + hd/2)
        x0, x1 = x[..., :hd // 2], x[..., hd // 2:]
        return np.concatenate([x0 * cos - x1 * sin, x0 * sin + x1 * cos], axis=-1)

    mask = np.triu(np.full((n, n), -np.inf), 1)
    x = emb[ids]
    for i in range(n_layer):
        b = f"blk.{i}."
        h = rms(x, tensor(b + "attn_norm.weight"))
        q = rope_neox(lin(h, b + "attn_q").reshape(n, n_head, hd))
        k = rope_neox(lin(h, b + "attn_k").reshape(n, n_kv, hd))
        v = lin(h, b + "attn_v").reshape(n, n_kv, hd)
        att = np.empty((n, n_head, hd))
        for hh in range(n_head):
            g = hh // (n_head // n_kv)
            s = q[:, hh] @ k[:, g].T / np.sqrt(hd) + mask
            p = np.exp(s - s.max(axis=1, keepdims=True))
            att[:, hh] = (p / p.sum(axis=1, keepdims=True)) @ v[:, g]
        att = rms(att.reshape(n, n_embd), tensor(b + "attn_sub_norm.weight"))
        x = x + lin(att, b + "attn_output")
        m = rms(x, tensor(b + "ffn_norm.weight"))
        gate = lin(m, b + "ffn_gate")
        f = gate / (1 + np.exp(-gate)) * lin(m, b + "ffn_up")
        f = rms(f, tensor(b + "ffn_sub_norm.weight"))
        x = x + lin(f, b + "ffn_down")
    y = rms(x, tensor("output_norm.weight"))
    if q8k and next(t for t in r.tensors if t.name == "token_embd.weight").tensor_type == T.F16:
        y = y.astype(np.float16).astype(np.float64)
    elif q8k and next(t for t in r.tensors if t.name == "token_embd.weight").tensor_type != T.F32:
        sys.exit("bitnet-numpy-forward: error: --activations q8k models only an F16 or F32 token_embd head")
    logits = y @ emb.T
    np.save(a.out, logits.astype("<f4"))
    print(f"bitnet-numpy-forward: {a.model}: {n} tokens x {n_vocab} vocab -> {a.out}", file=sys.stderr)
    if a.compare:
        ref = np.load(a.compare).astype(np.float64)
        if ref.shape != logits.shape:
            sys.exit(f"bitnet-numpy-forward: error: {a.compare}: shape {ref.shape}, expected {logits.shape}")
        d = np.abs(ref - logits)
        print(f"vs {a.compare}: max |diff| {d.max():.4g} (logit std {logits.std():.4g}), "
              f"mean |diff| {d.mean():.4g}, argmax agrees at {np.mean(ref.argmax(1) == logits.argmax(1)) * 100:.1f}% "
              f"of {n} positions")


if __name__ == "__main__":
    main()
