#!/usr/bin/env bash
# TritBench's BitNet forward against llama.cpp's on the same file and tokens: the tiny BitNet
# model (Scripts/bitnet-gguf.py --preset tiny) in TQ2_0 and TQ1_0, 64 fixed token ids, logits of
# every position from llama.cpp (Scripts/llama-cpp-logits.sh, one batch, F32 KV cache) and from
# `tritbench logits`, on the packed kernels and dequantized to Float32. Prints max and mean
# |Δ| and how often the top token agrees.
#
# Why they are not bit-equal: llama.cpp rounds activations to Q8_K (8 bits per 256-value block)
# inside its TQ matmuls; TritBench's packed kernels round each token's activations to 8 bits
# (per token, as BitNet trains); its Float32 path does not round them.
# Optional: not part of the main run or the tests. Idempotent; cached under $CACHE/llama.cpp.
#
# Usage: Scripts/llama-cpp-bitnet-logits.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_LOG_NAME=llama-cpp-bitnet-logits
source Scripts/llama-cpp-build.sh

swift build -c release --product tritbench >&2
TB=.build/release/tritbench
WORK="$LLAMA_DIR/bitnet-logits"
mkdir -p "$WORK"
IDS="$WORK/ids.txt"
python3 -c "import random; r = random.Random(1234); print(' '.join(str(r.randrange(1000)) for _ in range(64)))" > "$IDS"

for t in tq2_0 tq1_0; do
    MODEL=$(bitnet_gguf tiny "$t")
    Scripts/llama-cpp-logits.sh "$MODEL" "$IDS" "$WORK/llama-$t.npy" 1 >&2
    "$TB" logits --model "$MODEL" --tokens "$IDS" --out "$WORK/tritbench-packed-$t.npy" >&2
    "$TB" logits --model "$MODEL" --tokens "$IDS" --out "$WORK/tritbench-f32-$t.npy" --dequantized >&2
    python3 - "$WORK" "$t" <<'PY'
import sys, numpy as np
work, t = sys.argv[1], sys.argv[2]
ref = np.load(f"{work}/llama-{t}.npy").astype(np.float64)
for runtime in ("packed", "f32"):
    x = np.load(f"{work}/tritbench-{runtime}-{t}.npy").astype(np.float64)
    assert x.shape == ref.shape, (x.shape, ref.shape)
    d = np.abs(x - ref)
    agree = (x.argmax(1) == ref.argmax(1)).mean()
    print(f"{t} tritbench {runtime:6s} vs llama.cpp: {x.shape[0]}x{x.shape[1]} logits, max |Δ| {d.max():.4f}, "
          f"mean |Δ| {d.mean():.4f}, logit range ±{np.abs(ref).max():.2f}, top-1 agreement {agree:.1%}")
PY
done
