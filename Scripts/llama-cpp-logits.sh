#!/usr/bin/env bash
# llama.cpp's logits for a token id sequence, every position, written as little-endian float32 NPY
# (rows = tokens, cols = vocabulary): the reference to compare a TritBench forward with.
# Builds the pinned llama.cpp's `llama` static library if missing (Scripts/llama-cpp-build.sh),
# compiles Scripts/llama-cpp-logits.c against it once into the cache (rebuilt when the source
# changes), and runs it. See the .c file for the evaluation details (one batch, F32 KV cache, no
# flash attention; LLAMA_LOGITS_KV=f16, LLAMA_LOGITS_FA=1, LLAMA_LOGITS_VERBOSE=1 change that).
#
# Usage: Scripts/llama-cpp-logits.sh MODEL.gguf TOKENS_FILE|ids:1,2,3 OUT.npy [THREADS]
#   TOKENS_FILE: token ids separated by whitespace or commas ("-" = stdin). THREADS: default 1.
set -euo pipefail
[ $# -ge 3 ] && [ $# -le 4 ] || { echo "usage: $0 MODEL.gguf TOKENS_FILE|ids:1,2,3 OUT.npy [THREADS]" >&2; exit 2; }
MODEL="$(realpath "$1")"; TOKENS="$2"; OUT="$3"; THREADS="${4:-1}"
[ -f "$MODEL" ] || { echo "llama-cpp-logits: error: $1: model file not found" >&2; exit 1; }
case "$TOKENS" in ids:*|-) ;; *) [ -f "$TOKENS" ] || { echo "llama-cpp-logits: error: $TOKENS: token file not found" >&2; exit 1; } ;; esac
cd "$(dirname "$0")/.."
REPO="$PWD"
LLAMA_LOG_NAME=llama-cpp-logits
source Scripts/llama-cpp-build.sh
cd - > /dev/null

HARNESS_SRC="$REPO/Scripts/llama-cpp-logits.c"
SUM=$(cat "$HARNESS_SRC" | sha256sum | cut -c1-12)
HARNESS="$LLAMA_DIR/harness/llama-cpp-logits-$SUM"
if [ ! -x "$HARNESS" ]; then
    llama_cpp_build llama
    LIBS=("$LLAMA_BUILD/src/libllama.a" "$LLAMA_BUILD/ggml/src/libggml.a"
          "$LLAMA_BUILD/ggml/src/libggml-cpu.a" "$LLAMA_BUILD/ggml/src/libggml-base.a")
    for l in "${LIBS[@]}"; do [ -f "$l" ] || llama_fail "$l: expected this static library from the llama.cpp build"; done
    mkdir -p "$LLAMA_DIR/harness"
    llama_log "compiling $HARNESS_SRC -> $HARNESS"
    cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" \
        "$HARNESS_SRC" "${LIBS[@]}" -fopenmp -lstdc++ -lm -lpthread -o "$HARNESS.part" \
        || llama_fail "compiling $HARNESS_SRC against $LLAMA_BUILD failed"
    mv "$HARNESS.part" "$HARNESS"
fi
exec "$HARNESS" "$MODEL" "$TOKENS" "$OUT" "$THREADS"
