#!/usr/bin/env bash
# BitNet b1.58 2B-4T-shaped speed on this CPU: llama.cpp's llama-bench (prefill 128 tokens, decode
# 32, 1 and 2 threads, 3 repetitions) on synthetic TQ2_0 and TQ1_0 files written by
# Scripts/bitnet-gguf.py --preset 2b4t (random trits, the model's shapes, Q8_0 token_embd which is
# also the LM head; SiLU FFN as llama.cpp's `bitnet` graph has it). Prints llama-bench's markdown
# rows. Idempotent: llama.cpp, gguf-py and the files are built/fetched/generated once under
# ${TRITBENCH_CACHE:-~/.cache/tritbench} (files: $CACHE/bitnet/bitnet-2b4t-{tq2_0,tq1_0}.gguf,
# ~0.9 and ~0.8 GB, about a minute each to write). Several minutes per file on 2 cores.
#
# Usage: Scripts/llama-cpp-bitnet-speed.sh [TYPE...]     (default: tq2_0 tq1_0)
#   environment: THREADS (default 1,2), REPS (default 3), PROMPT (128), GEN (32)
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_LOG_NAME=llama-cpp-bitnet-speed
source Scripts/llama-cpp-build.sh

TYPES=("$@")
[ ${#TYPES[@]} -gt 0 ] || TYPES=(tq2_0 tq1_0)
for t in "${TYPES[@]}"; do
    case "$t" in tq2_0|tq1_0) ;; *) llama_fail "type '$t': expected tq2_0 or tq1_0" ;; esac
done
THREADS="${THREADS:-1,2}"; REPS="${REPS:-3}"; PROMPT="${PROMPT:-128}"; GEN="${GEN:-32}"

llama_cpp_build llama-bench
MODELS=()
for t in "${TYPES[@]}"; do
    MODELS+=("$(bitnet_gguf 2b4t "$t")")
done

for m in "${MODELS[@]}"; do
    llama_log "llama-bench $m: prefill $PROMPT, decode $GEN, threads $THREADS, $REPS repetitions"
    out=$("$LLAMA_BIN/llama-bench" -m "$m" -p "$PROMPT" -n "$GEN" -t "$THREADS" -r "$REPS" 2>&1) \
        || { echo "$out" >&2; llama_fail "llama-bench failed on $m"; }
    echo "# llama.cpp $(basename "$m")"
    echo "$out" | grep -E '^\|'
done

# ---------------------------------------------------------------- TritBench side (to be added)
# TODO(TritBench BitNet forward): run TritBench's prefill/decode measurement on the same files,
# "${MODELS[@]}", with the same PROMPT/GEN/THREADS/REPS, and print comparable rows here.
