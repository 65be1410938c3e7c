# Sourced, not run: the pinned llama.cpp (vendored in the llama-cpp-python sdist on PyPI) and
# gguf-py, fetched and built once under ${TRITBENCH_CACHE:-~/.cache/tritbench}, outside the
# repository. Used by llama-cpp-reference.sh, llama-cpp-logits.sh, llama-cpp-bitnet-speed.sh.
#
#   source Scripts/llama-cpp-build.sh
#   llama_cpp_build llama-bench llama-perplexity   # fetch + configure + build these targets
#   "$LLAMA_BIN/llama-bench" ...
#   PYTHONPATH=$(gguf_pythonpath) python3 Scripts/bitnet-gguf.py ...
#
# Sets: CACHE, LLAMA_DIR, CMAKE, LLAMA_SRC, LLAMA_BUILD, LLAMA_BIN. The caller's `set -euo pipefail`
# applies; errors name the file and what was expected.

CACHE="${TRITBENCH_CACHE:-$HOME/.cache/tritbench}"
LLAMA_DIR="$CACHE/llama.cpp"
LLAMA_CPP_PYTHON_VERSION=0.3.36
LLAMA_CPP_PYTHON_SHA256=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
CMAKE_VERSION=4.4.4
GGUF_VERSION=0.19.0
GGUF_WHEEL_SHA256=70bcd10edfe697fb2dad6e40af2234b9d8ece9a41a99761405121ebda1c3c1cd
CMAKE="$LLAMA_DIR/cmake/cmake/data/bin/cmake"
LLAMA_SRC="$LLAMA_DIR/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
LLAMA_BUILD="$LLAMA_DIR/build"
LLAMA_BIN="$LLAMA_BUILD/bin"

llama_log() { echo "${LLAMA_LOG_NAME:-llama-cpp}: $*" >&2; }
llama_fail() { echo "${LLAMA_LOG_NAME:-llama-cpp}: error: $*" >&2; exit 1; }

# llama_cpp_fetch: CMake (static binary from its PyPI wheel: this machine has no cmake package)
# and the llama.cpp sources, both pinned.
llama_cpp_fetch() {
    mkdir -p "$LLAMA_DIR/downloads"
    if [ ! -x "$CMAKE" ]; then
        llama_log "fetching cmake $CMAKE_VERSION (pip download)"
        pip download --quiet --no-deps --only-binary :all: -d "$LLAMA_DIR/downloads" "cmake==$CMAKE_VERSION" \
            || llama_fail "pip download cmake==$CMAKE_VERSION failed"
        rm -rf "$LLAMA_DIR/cmake"
        python3 -m zipfile -e "$LLAMA_DIR"/downloads/cmake-"$CMAKE_VERSION"-*.whl "$LLAMA_DIR/cmake"
        chmod +x "$LLAMA_DIR/cmake/cmake/data/bin/"*
        [ -x "$CMAKE" ] || llama_fail "$CMAKE: expected the cmake binary from the cmake $CMAKE_VERSION wheel"
    fi
    # `pip download` of this sdist builds its metadata (scikit-build-core and a CMake install in an
    # isolated environment), so the file is fetched directly and checked against the pinned sha256
    # instead (found through PyPI's simple index).
    local sdist="$LLAMA_DIR/downloads/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION.tar.gz"
    if [ ! -f "$sdist" ] || ! echo "$LLAMA_CPP_PYTHON_SHA256  $sdist" | sha256sum -c --quiet - 2>/dev/null; then
        llama_log "fetching llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist from PyPI"
        local url
        url=$(curl -fsSL "https://pypi.org/simple/llama-cpp-python/" \
              | grep -o "href=\"[^\"]*llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION\.tar\.gz[^\"]*\"" | head -1 \
              | sed 's/^href="//; s/[#"].*$//')
        [ -n "$url" ] || llama_fail "could not find the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION sdist in PyPI's simple index"
        curl -fsSL -o "$sdist.part" "$url" || llama_fail "download of $url failed"
        echo "$LLAMA_CPP_PYTHON_SHA256  $sdist.part" | sha256sum -c --quiet - \
            || llama_fail "$sdist: sha256 mismatch (expected $LLAMA_CPP_PYTHON_SHA256)"
        mv "$sdist.part" "$sdist"
    fi
    [ -d "$LLAMA_SRC" ] || tar -xzf "$sdist" -C "$LLAMA_DIR"
    [ -f "$LLAMA_SRC/include/llama.h" ] || llama_fail "$LLAMA_SRC/include/llama.h: expected llama.cpp sources in the sdist"
}

# llama_cpp_build TARGET...: configures the build once (Release, static libraries, native CPU) and
# builds the targets whose outputs are missing. Targets: executables (llama-bench, llama-perplexity,
# llama-tokenize, ...) checked in $LLAMA_BIN, and `llama` (the static libraries the logits harness
# links). Several minutes on 2 cores the first time.
llama_cpp_build() {
    llama_cpp_fetch
    local missing=() t
    for t in "$@"; do
        if [ "$t" = llama ]; then
            [ -f "$LLAMA_BUILD/src/libllama.a" ] || missing+=("$t")
        else
            [ -x "$LLAMA_BIN/$t" ] || missing+=("$t")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ ! -f "$LLAMA_BUILD/CMakeCache.txt" ]; then
        "$CMAKE" -S "$LLAMA_SRC" -B "$LLAMA_BUILD" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
            -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
            -DBUILD_SHARED_LIBS=OFF > "$LLAMA_DIR/cmake.log" 2>&1 \
            || llama_fail "cmake configure failed (see $LLAMA_DIR/cmake.log)"
    fi
    llama_log "building ${missing[*]} (several minutes on 2 cores; log $LLAMA_DIR/build.log)"
    "$CMAKE" --build "$LLAMA_BUILD" -j "$(nproc)" --target "${missing[@]}" > "$LLAMA_DIR/build.log" 2>&1 \
        || llama_fail "build of ${missing[*]} failed (see $LLAMA_DIR/build.log)"
}

# gguf_pythonpath: prints a directory to put on PYTHONPATH for `import gguf` (gguf-py $GGUF_VERSION,
# the pinned wheel from PyPI, sha256-checked, unpacked once).
gguf_pythonpath() {
    local dl="$CACHE/downloads" whl="gguf-$GGUF_VERSION-py3-none-any.whl" dest="$CACHE/gguf-$GGUF_VERSION"
    if [ ! -f "$dest/gguf/__init__.py" ]; then
        mkdir -p "$dl"
        if [ ! -f "$dl/$whl" ] || ! echo "$GGUF_WHEEL_SHA256  $dl/$whl" | sha256sum -c --quiet - 2>/dev/null; then
            llama_log "fetching gguf $GGUF_VERSION (pip download)"
            local tmp; tmp=$(mktemp -d "$dl/.pip.XXXXXX")
            python3 -m pip download --quiet --no-deps --disable-pip-version-check -d "$tmp" "gguf==$GGUF_VERSION" \
                || { rm -rf "$tmp"; llama_fail "pip download gguf==$GGUF_VERSION failed"; }
            [ -f "$tmp/$whl" ] || { rm -rf "$tmp"; llama_fail "pip download gguf==$GGUF_VERSION did not produce $whl"; }
            echo "$GGUF_WHEEL_SHA256  $tmp/$whl" | sha256sum -c --quiet - \
                || { rm -rf "$tmp"; llama_fail "$whl: sha256 mismatch (expected $GGUF_WHEEL_SHA256)"; }
            mv "$tmp/$whl" "$dl/$whl"; rm -rf "$tmp"
        fi
        rm -rf "$dest.part"
        python3 -m zipfile -e "$dl/$whl" "$dest.part"
        [ -f "$dest.part/gguf/__init__.py" ] || llama_fail "$dl/$whl: expected a gguf/ package in the wheel"
        rm -rf "$dest"; mv "$dest.part" "$dest"
    fi
    echo "$dest"
}

# bitnet_gguf PRESET TYPE: prints the path of the synthetic BitNet file (seed 1) under
# $CACHE/bitnet, generating it with Scripts/bitnet-gguf.py if missing or written by another version
# of that script (FILE.stamp holds the generator's sha256). Run from the repository root.
bitnet_gguf() {
    local preset="$1" type="$2" out="$CACHE/bitnet/bitnet-$1-$2.gguf"
    local gen; gen=$(sha256sum Scripts/bitnet-gguf.py | cut -c1-64)
    if [ ! -f "$out" ] || [ "$(cat "$out.stamp" 2>/dev/null)" != "$gen" ]; then
        mkdir -p "$CACHE/bitnet"
        local pp; pp=$(gguf_pythonpath)
        PYTHONPATH="$pp" python3 Scripts/bitnet-gguf.py --preset "$preset" --type "$type" --seed 1 --out "$out" >&2 \
            || llama_fail "Scripts/bitnet-gguf.py --preset $preset --type $type failed (expected $out)"
        echo "$gen" > "$out.stamp"
    fi
    echo "$out"
}
