#!/usr/bin/env bash
# Kernel-level anchors from llama.cpp on this CPU, beside TritBench's best kernel, in one run:
#   - llama.cpp: Scripts/llama-cpp-gemv-bench.c, compiled against the pinned llama.cpp's static
#     ggml libraries (the llama-cpp-python 0.3.36 sources, Scripts/llama-cpp-build.sh), times
#     ggml_mul_mat on the CPU backend for TQ1_0 and TQ2_0 (llama.cpp's ternary types) and Q4_0;
#   - TritBench: `tritbench kernels bench --cold` over the tuned variants (simd, lut243 and their
#     one-plane formats), the best median of them.
# Both sides: weights cycled over copies ≥ 1 GiB (cold), median with a 95% interval, 1 and 2
# threads, the anchor shapes of issue #26 (2048², 4096², 11008×4096, 576×1536 GEMV; 2048² at 64
# tokens). bitnet.cpp's I2_S/TL2 are not measured: bitnet.cpp ships on no registry this project
# can reach; figures for it are measured outside the project.
# Optional: not part of the main run or the tests. Idempotent; the harness is compiled once into
# ${TRITBENCH_CACHE:-~/.cache/tritbench}/llama.cpp/harness.
#
# Usage: Scripts/llama-cpp-kernel-bench.sh [SHAPE:TOKENS ...]   (default: the anchors above)
#   environment: THREADS (default "1 2"), SAMPLES (default 101 for llama.cpp, 31 for TritBench),
#                TYPES (default "tq1_0 tq2_0 q4_0")
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
LLAMA_LOG_NAME=llama-cpp-kernel-bench
source Scripts/llama-cpp-build.sh

CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(2048x2048:1 4096x4096:1 11008x4096:1 576x1536:1 2048x2048:64)
for c in "${CASES[@]}"; do
    [[ "$c" =~ ^[0-9]+x[0-9]+:[0-9]+$ ]] || llama_fail "case '$c': expected ROWSxK:TOKENS, e.g. 4096x4096:1"
done
THREADS="${THREADS:-1 2}"; SAMPLES="${SAMPLES:-101}"; TYPES="${TYPES:-tq1_0 tq2_0 q4_0}"

HARNESS_SRC="$REPO/Scripts/llama-cpp-gemv-bench.c"
SUM=$(sha256sum "$HARNESS_SRC" | cut -c1-12)
HARNESS="$LLAMA_DIR/harness/llama-cpp-gemv-bench-$SUM"
if [ ! -x "$HARNESS" ]; then
    llama_cpp_build llama
    LIBS=("$LLAMA_BUILD/ggml/src/libggml.a" "$LLAMA_BUILD/ggml/src/libggml-cpu.a" "$LLAMA_BUILD/ggml/src/libggml-base.a")
    for l in "${LIBS[@]}"; do [ -f "$l" ] || llama_fail "$l: expected this static library from the llama.cpp build"; done
    mkdir -p "$LLAMA_DIR/harness"
    llama_log "compiling $HARNESS_SRC -> $HARNESS"
    cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -I"$LLAMA_SRC/ggml/include" \
        "$HARNESS_SRC" "${LIBS[@]}" -fopenmp -lstdc++ -lm -lpthread -o "$HARNESS.part" \
        || llama_fail "compiling $HARNESS_SRC against $LLAMA_BUILD failed"
    mv "$HARNESS.part" "$HARNESS"
fi
swift build -c release --product tritbench >&2
TB="$REPO/.build/release/tritbench"
OUT="$LLAMA_DIR/kernel-bench"
mkdir -p "$OUT"
: > "$OUT/llama.jsonl"; : > "$OUT/tritbench.jsonl"
for c in "${CASES[@]}"; do
    shape="${c%%:*}"; tokens="${c##*:}"; rows="${shape%%x*}"; k="${shape##*x}"
    for th in $THREADS; do
        for t in $TYPES; do
            llama_log "llama.cpp $t $shape tokens $tokens threads $th"
            "$HARNESS" "$t" "$rows" "$k" "$tokens" "$th" "$SAMPLES" >> "$OUT/llama.jsonl" \
                || llama_fail "the harness failed on $t $shape tokens $tokens threads $th"
        done
        llama_log "tritbench kernels bench $shape tokens $tokens threads $th"
        "$TB" kernels bench --shape "$shape" --tokens "$tokens" --threads "$th" --cold --variants simd,lut243 \
            --formats 2bit,base3,base3-lut --samples 31 --json 2>/dev/null \
            | python3 -c "import json, sys; print(json.dumps(json.load(sys.stdin)))" >> "$OUT/tritbench.jsonl" \
            || llama_fail "tritbench kernels bench failed on $shape tokens $tokens threads $th"
    done
done
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
llama = [json.loads(l) for l in open(f"{out}/llama.jsonl")]
ours = [json.loads(l) for l in open(f"{out}/tritbench.jsonl")]
print("Cold, µs: median [95% interval]. llama.cpp: ggml_mul_mat on the CPU backend; TritBench: its best of")
print("simd/2bit, simd/base3, lut243/base3-lut. Ratio: llama.cpp's best / TritBench's best (> 1: TritBench faster).")
print()
print("| shape | tokens | threads | llama.cpp TQ1_0 | llama.cpp TQ2_0 | llama.cpp Q4_0 | TritBench best | ratio |")
print("|---|---|---|---|---|---|---|---|")
for cases in ours:
    first = cases[0]
    rows, k = map(int, first["shape"].split("x"))
    key = (rows, k, first["tokens"], first["threads"])
    ls = {r["type"]: r for r in llama if (r["rows"], r["k"], r["tokens"], r["threads"]) == key}
    best = min(cases, key=lambda r: r["median_us"])
    cell = lambda r: f"{r['median_us']:.1f} [{r['ci_low_us']:.1f}, {r['ci_high_us']:.1f}]" if r else "—"
    lb = min((r["median_us"] for r in ls.values()), default=None)
    ratio = f"{lb / best['median_us']:.2f}×" if lb else "—"
    print(f"| {rows}×{k} | {first['tokens']} | {first['threads']} | {cell(ls.get('tq1_0'))} | {cell(ls.get('tq2_0'))} | "
          f"{cell(ls.get('q4_0'))} | {cell(best)} {best['variant']}/{best['format']} | {ratio} |")
PY
