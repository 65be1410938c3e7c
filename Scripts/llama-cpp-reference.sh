#!/usr/bin/env bash
# The llama.cpp reference figures for issue #7, on this machine and the same GGUF file:
#   1. builds llama-perplexity and llama-bench from the llama.cpp sources vendored in the
#      llama-cpp-python sdist on PyPI (pinned version and sha256), with CMake from its PyPI wheel;
#   2. writes the perplexity text TritBench scores (`tritbench eval --write-ppl-text`), runs
#      llama-perplexity on it (second half of each 512-token window), and TritBench's Float32
#      forward on the same windows (`--second-half`), and prints both;
#   3. runs llama-bench (prefill 128 tokens, decode) at 1 and 2 threads.
# Optional: not part of the main run or the tests. Idempotent; everything is cached under
# ${TRITBENCH_CACHE:-~/.cache/tritbench}/llama.cpp, outside the repository.
#
# Usage: Scripts/llama-cpp-reference.sh [CHUNKS]    (default 16 windows = 8192 tokens of text)
#        MODEL=FILE Scripts/llama-cpp-reference.sh [CHUNKS]   (another GGUF: default SmolLM2-135M;
#        e.g. MODEL=$CACHE/model/gemma-3-270m-q4_k_m.gguf)
#        Scripts/llama-cpp-reference.sh --build-only  (step 1 only; it also builds llama-tokenize,
#        which Scripts/llama-cpp-tokenize-check.sh uses)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_ONLY=false
if [ "${1:-}" = "--build-only" ]; then BUILD_ONLY=true; shift; fi
CHUNKS="${1:-16}"
LLAMA_LOG_NAME=llama-cpp-reference
source Scripts/llama-cpp-build.sh
log() { llama_log "$*"; }
fail() { llama_fail "$*"; }
DIR="$LLAMA_DIR"
BIN="$LLAMA_BIN"
llama_cpp_build llama-perplexity llama-bench llama-tokenize

$BUILD_ONLY && exit 0

Scripts/setup.sh >&2
swift build -c release --product tritbench >&2
TB=.build/release/tritbench
MODEL="${MODEL:-$CACHE/model/SmolLM2-135M-Instruct.Q4_1.gguf}"
[ -f "$MODEL" ] || fail "model not found at $MODEL (run Scripts/setup.sh)"
TEXT="$DIR/boolq-passages-$(basename "$MODEL" .gguf).txt"
TOKENS=$((CHUNKS * 512))

log "TritBench Float32 forward, second half of each 512-token window, $CHUNKS windows"
"$TB" eval --model "$MODEL" --ppl boolq-passages --write-ppl-text "$TEXT" --ctx 512 --second-half \
    --max-tokens "$TOKENS" --threads 2 --quiet | grep '^perplexity'
log "llama-perplexity on the same text and windows"
"$BIN/llama-perplexity" -m "$MODEL" -f "$TEXT" -c 512 -b 512 --chunks "$CHUNKS" -t 2 2>&1 \
    | grep -E 'Final estimate' | sed 's/^.*Final/llama.cpp: Final/'
log "llama-bench: prefill 128 tokens and decode 32, 1 and 2 threads"
"$BIN/llama-bench" -m "$MODEL" -p 128 -n 32 -t 1,2 -r 3 2>&1 | grep -E '^\|'
