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
#        Scripts/llama-cpp-reference.sh --build-only  (step 1 only; it also builds llama-tokenize,
#        which Scripts/llama-cpp-tokenize-check.sh uses)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_ONLY=false
if [ "${1:-}" = "--build-only" ]; then BUILD_ONLY=true; shift; fi
CHUNKS="${1:-16}"
CACHE="${TRITBENCH_CACHE:-$HOME/.cache/tritbench}"
DIR="$CACHE/llama.cpp"
LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CPP_PYTHON_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
CMAKE_VERSION=4.4.4
mkdir -p "$DIR/downloads"

log() { echo "llama-cpp-reference: $*" >&2; }
fail() { echo "llama-cpp-reference: error: $*" >&2; exit 1; }

# CMake: the PyPI wheel carries a static binary (this machine has no cmake package).
CMAKE="$DIR/cmake/cmake/data/bin/cmake"
if [ ! -x "$CMAKE" ]; then
    log "fetching cmake $CMAKE_VERSION (pip download)"
    pip download --quiet --no-deps --only-binary :all: -d "$DIR/downloads" "cmake==$CMAKE_VERSION" \
        || fail "pip download cmake==$CMAKE_VERSION failed"
    rm -rf "$DIR/cmake"
    python3 -m zipfile -e "$DIR"/downloads/cmake-"$CMAKE_VERSION"-*.whl "$DIR/cmake"
    chmod +x "$DIR/cmake/cmake/data/bin/"*
fi

# llama.cpp sources: `pip download` of this sdist builds its metadata (scikit-build-core and a
# CMake install in an isolated environment), so the file is fetched directly and
# checked against the pinned sha256 instead (found through PyPI's simple index).
SDIST="$DIR/downloads/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
if [ ! -f "$SDIST" ] || ! echo "$LLAMA_CPP_PYTHON_SHA256  $SDIST" | sha256sum -c --quiet - 2>/dev/null; then
    log "fetching llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist from PyPI"
    URL=$(curl -fsSL "https://pypi.org/simple/llama-cpp-python/" \
          | grep -o "href=\"[^\"]*llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION\.tar\.gz[^\"]*\"" | head -1 \
          | sed 's/^href="//; s/[#"].*$//')
    [ -n "$URL" ] || fail "could not find the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist in PyPI's simple index"
    curl -fsSL -o "$SDIST.part" "$URL" || fail "download of $URL failed"
    echo "$LLAMA_CPP_PYTHON_SHA256  $SDIST.part" | sha256sum -c --quiet - \
        || fail "$SDIST: sha256 mismatch (expected $LLAMA_CPP_PYTHON_SHA256)"
    mv "$SDIST.part" "$SDIST"
fi
SRC="$DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
[ -d "$SRC" ] || tar -xzf "$SDIST" -C "$DIR"

BIN="$DIR/build/bin"
if [ ! -x "$BIN/llama-perplexity" ] || [ ! -x "$BIN/llama-bench" ] || [ ! -x "$BIN/llama-tokenize" ]; then
    log "building llama-perplexity, llama-bench and llama-tokenize (several minutes on 2 cores)"
    "$CMAKE" -S "$SRC" -B "$DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DBUILD_SHARED_LIBS=OFF > "$DIR/cmake.log" 2>&1 || fail "cmake configure failed (see $DIR/cmake.log)"
    "$CMAKE" --build "$DIR/build" -j "$(nproc)" --target llama-perplexity llama-bench llama-tokenize > "$DIR/build.log" 2>&1 \
        || fail "build failed (see $DIR/build.log)"
fi

$BUILD_ONLY && exit 0

Scripts/setup.sh >&2
swift build -c release --product tritbench >&2
TB=.build/release/tritbench
MODEL="$CACHE/model/SmolLM2-135M-Instruct.Q4_1.gguf"
[ -f "$MODEL" ] || fail "model not found at $MODEL (run Scripts/setup.sh)"
TEXT="$DIR/boolq-passages.txt"
TOKENS=$((CHUNKS * 512))

log "TritBench Float32 forward, second half of each 512-token window, $CHUNKS windows"
"$TB" eval --model "$MODEL" --ppl boolq-passages --write-ppl-text "$TEXT" --ctx 512 --second-half \
    --max-tokens "$TOKENS" --threads 2 --quiet | grep '^perplexity'
log "llama-perplexity on the same text and windows"
"$BIN/llama-perplexity" -m "$MODEL" -f "$TEXT" -c 512 -b 512 --chunks "$CHUNKS" -t 2 2>&1 \
    | grep -E 'Final estimate' | sed 's/^.*Final/llama.cpp: Final/'
log "llama-bench: prefill 128 tokens and decode 32, 1 and 2 threads"
"$BIN/llama-bench" -m "$MODEL" -p 128 -n 32 -t 1,2 -r 3 2>&1 | grep -E '^\|'
