#!/usr/bin/env bash
# Benchmarks every kernel variant × format, cold (weights streamed from DRAM), at the
# SmolLM2-135M layer shapes and the anchor shapes of issue 4, on 1 and 2 threads, plus a
# 64-token GEMM at 2048x2048 paired with GEMV on 1 and 2 threads, then same-run (interleaved, paired) ratios of the simd formats to
# simd/2bit at the anchor shapes, then the anchors' own protocol (the simd formats at the anchor
# shapes, each cell in --runs separate processes, median of the process medians), then the same
# for simd 2bit and base3 with one scale per row (--group-size row; paired base3/2bit ratio per
# process), and writes one Markdown file.
#
#   Scripts/bench-kernels.sh OUT.md [--samples N] [--variants a,b,...] [--runs N] [--binary PATH]
#
# The raw JSON rows stay beside OUT.md in OUT.md.json. Quiet the machine first: the figures
# move with anything else running (the table records the load average at start and end).
set -euo pipefail

usage() { echo "usage: $0 OUT.md [--samples N] [--variants LIST] [--runs N] [--binary PATH]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
out=$1; shift
samples=15; variants=""; bin=""; runs=3
while [[ $# -gt 0 ]]; do
  case $1 in
    --samples) samples=${2:?}; shift 2 ;;
    --variants) variants=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --binary) bin=${2:?}; shift 2 ;;
    *) usage ;;
  esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z $bin ]]; then
  (cd "$root" && swift build -c release --product tritbench >&2)
  bin="$root/.build/release/tritbench"
fi
[[ -x $bin ]] || { echo "bench-kernels: no executable at $bin" >&2; exit 1; }

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
load_start=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)
shapes="576x576 192x576 1536x576 576x1536 49152x576 2048x2048 4096x4096 11008x4096"
extra=(); [[ -n $variants ]] && extra=(--variants "$variants")
n=0
for threads in 1 2; do
  for shape in $shapes; do
    n=$((n + 1))
    echo "bench-kernels: [$n/16] $shape threads=$threads" >&2
    "$bin" kernels bench --shape "$shape" --threads "$threads" --cold --json --samples "$samples" "${extra[@]}" > "$work/$n.json"
  done
done
# GEMM at 64 tokens, each case interleaved with its own GEMV so the per-token throughput ratio
# is a paired same-run figure (target: >= 5x). Interleaving holds every case's cold copies at
# once, so by default only the optimised variants (not the scalar reference or the portable one).
mkdir -p "$work/gemm"
for threads in 1 2; do
  echo "bench-kernels: GEMM [$threads/2] 2048x2048 tokens=64 threads=$threads" >&2
  "$bin" kernels bench --shape 2048x2048 --tokens 64 --threads "$threads" --cold --json --samples "$samples" \
    --gemv-ratio --variants "${variants:-simd,bitsliced,lut}" > "$work/gemm/$threads.json"
done
# Same-run ratios for the targets stated as ratios (1.6-bpw and two-plane vs one-plane 2-bit):
# the simd formats and lut243's base3-lut and 2plane-base3-lut timed in interleaved rounds, each
# as its median per-round ratio to simd/2bit.
mkdir -p "$work/ratios"
m=0
for threads in 1 2; do
  for shape in 2048x2048 4096x4096 11008x4096; do
    m=$((m + 1))
    echo "bench-kernels: ratios [$m/6] $shape threads=$threads" >&2
    "$bin" kernels bench --shape "$shape" --threads "$threads" --cold --json --samples "$samples" \
      --variants simd,lut243 --formats 2bit,base3,2plane-2bit,2plane-base3,base3-lut,2plane-base3-lut \
      --ratio-to simd/2bit > "$work/ratios/$m.json"
  done
done
# Runs `kernels bench --cold --json` at each anchor cell (2 thread counts × 3 shapes) in --runs
# separate processes, one JSON file per process under $work/DIR.
#   anchor_cells_in_processes DIR LABEL [extra kernels-bench arguments...]
anchor_cells_in_processes() {
  local dir=$1 label=$2; shift 2
  mkdir -p "$work/$dir"
  local k=0 threads shape run
  for threads in 1 2; do
    for shape in 2048x2048 4096x4096 11008x4096; do
      for ((run = 1; run <= runs; run++)); do
        k=$((k + 1))
        echo "bench-kernels: $label [$k/$((6 * runs))] $shape threads=$threads run $run" >&2
        "$bin" kernels bench --shape "$shape" --threads "$threads" --cold --json --samples "$samples" \
          "$@" > "$work/$dir/$k.json"
      done
    done
  done
}
# The anchors are medians of 3 process runs (issue 4); time ours the same way, so a cell is not
# judged on one process that met a busy neighbour. --runs 0 skips this section.
anchor_cells_in_processes runs "process runs" --variants simd,lut243 \
  --formats 2bit,base3,2plane-2bit,2plane-base3,base3-lut,2plane-base3-lut
# One scale per row (the formats allow per-row or per-(row, 128-group) scales; I2_S keeps one per
# tensor): 2bit and base3 in interleaved rounds, so each process gives a paired base3/2bit ratio.
anchor_cells_in_processes rowscale "per-row scales" --variants simd --formats 2bit,base3 --group-size row --ratio-to simd/2bit
load_end=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || uptime)

python3 - "$work" "$out" "$load_start" "$load_end" <<'PY'
import glob, json, os, sys, tempfile
work, out, load_start, load_end = sys.argv[1:5]
rows = []
def load(pattern):
    out = []
    for f in sorted(glob.glob(pattern), key=lambda p: int(os.path.basename(p).split(".")[0])):
        with open(f) as h:
            out += json.load(h)
    return out
rows = load(os.path.join(work, "*.json"))
def label(r):
    # bitmask holds one or two planes: a two-plane row is FORMAT:2.
    two = r.get("planes", 1) == 2 and not r["format"].startswith("2plane")
    return r["format"] + (":2" if two else "")
def is_two_plane(r):
    return r.get("planes", 2 if r["format"].startswith("2plane") else 1) == 2
ratios = load(os.path.join(work, "ratios", "*.json"))
gemm = load(os.path.join(work, "gemm", "*.json"))
process_runs = load(os.path.join(work, "runs", "*.json"))
row_scale = load(os.path.join(work, "rowscale", "*.json"))
# Best anchor per (shape, threads): the public runtimes' medians from issue 4 (µs per GEMV, cold).
anchors = {("2048x2048", 1): 113, ("2048x2048", 2): 75, ("4096x4096", 1): 424, ("4096x4096", 2): 257,
           ("11008x4096", 1): 1063, ("11008x4096", 2): 679}
# llama.cpp F16 in the same rows (target: two-plane PTQTP GEMV >= 4x faster).
f16 = {("2048x2048", 1): 658, ("2048x2048", 2): 367, ("4096x4096", 1): 2620, ("4096x4096", 2): 1319,
       ("11008x4096", 1): 6811, ("11008x4096", 2): 4029}
lines = [
    "| shape | thr | variant | format | median µs | 95% CI µs | G w/s | GB/s | % roofline | vs best anchor |",
    "|---|---|---|---|---|---|---|---|---|---|",
]
def pct(r):
    frac = r.get("roofline_fraction")
    return "" if frac is None else f"{100 * frac:.0f}%"
for r in rows:
    # Two-plane layers are judged against llama.cpp F16 (target ≥ 4×), one-plane against the best ternary anchor.
    two_plane = is_two_plane(r)
    anchor = (f16 if two_plane else anchors).get((r["shape"], r["threads"]))
    vs = f"{anchor / r['median_us']:.2f}×{' F16' if two_plane else ''}" if anchor else ""
    lines.append(f"| {r['shape']} | {r['threads']} | {r['variant']} | {label(r)} | {r['median_us']:.1f} | "
                 f"[{r['ci_low_us']:.1f}, {r['ci_high_us']:.1f}] | {r['gweights_per_s']:.1f} | {r['gbytes_per_s']:.2f} | "
                 f"{pct(r)} | {vs} |")
gemm_lines = [
    "| thr | variant | format | GEMM µs (64 tok) | GEMV µs | % roofline (GEMM) | per-token throughput ÷ GEMV (paired) | 95% CI |",
    "|---|---|---|---|---|---|---|---|",
]
for i, r in enumerate(gemm):
    if r["tokens"] == 1 or r.get("gemv_throughput_ratio") is None:
        continue
    g = next((x for x in gemm[i + 1:] if x["tokens"] == 1 and x["variant"] == r["variant"] and x["format"] == r["format"]
              and x["threads"] == r["threads"]), None)
    gemv_us = "" if g is None else f"{g['median_us']:.1f}"
    gemm_lines.append(f"| {r['threads']} | {r['variant']} | {r['format']} | {r['median_us']:.1f} | {gemv_us} | {pct(r)} | "
                      f"{r['gemv_throughput_ratio']:.2f}× | [{r['gemv_throughput_ratio_ci_low']:.2f}, {r['gemv_throughput_ratio_ci_high']:.2f}] |")
ratio_lines = [
    "| shape | thr | variant/format | median µs | × simd/2bit (paired) | 95% CI |",
    "|---|---|---|---|---|---|",
]
for r in ratios:
    if r.get("ratio_median") is None:
        continue
    ratio_lines.append(f"| {r['shape']} | {r['threads']} | {r['variant']}/{label(r)} | {r['median_us']:.1f} | "
                       f"{r['ratio_median']:.3f} | [{r['ratio_ci_low']:.3f}, {r['ratio_ci_high']:.3f}] |")
cells = {}
for r in process_runs:
    cells.setdefault((r["shape"], r["threads"], r["variant"] + "/" + label(r)), []).append(r["median_us"])
def middle(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
run_lines = [
    "| shape | thr | variant/format | process medians µs | median µs | vs best anchor (≥ 1.5×) | two-plane vs llama.cpp F16 (≥ 4×) | ÷ simd/2bit |",
    "|---|---|---|---|---|---|---|---|",
]
for (shape, threads, fmt), values in cells.items():
    m = middle(values)
    one = middle(cells.get((shape, threads, "simd/2bit"), [m]))
    two_plane = fmt.split("/")[1].startswith("2plane") or fmt.endswith(":2")
    vs_anchor = "" if two_plane else f"{anchors[(shape, threads)] / m:.2f}×"
    vs_f16 = f"{f16[(shape, threads)] / m:.2f}×" if two_plane else ""
    run_lines.append(f"| {shape} | {threads} | {fmt} | {', '.join(f'{v:.1f}' for v in values)} | {m:.1f} | {vs_anchor} | "
                     f"{vs_f16} | {m / one:.2f} |")
row_cells = {}
for r in row_scale:
    row_cells.setdefault((r["shape"], r["threads"]), {}).setdefault(r["format"], []).append(r)
row_lines = [
    "| shape | thr | 2bit process medians µs | 2bit median | 2bit vs best anchor | base3 process medians µs | base3 median | base3 vs best anchor | base3 ÷ 2bit per process (paired) | median |",
    "|---|---|---|---|---|---|---|---|---|---|",
]
for (shape, threads), by_format in row_cells.items():
    two, three = by_format.get("2bit", []), by_format.get("base3", [])
    if not two or not three:
        continue
    m2, m3 = middle([r["median_us"] for r in two]), middle([r["median_us"] for r in three])
    q = [r["ratio_median"] for r in three if r.get("ratio_median") is not None]
    times2 = ", ".join(f"{r['median_us']:.1f}" for r in two)
    times3 = ", ".join(f"{r['median_us']:.1f}" for r in three)
    paired = ", ".join(f"{v:.3f}" for v in q)
    paired_median = f"{middle(q):.3f}" if q else ""
    anchor = anchors[(shape, threads)]
    row_lines.append(f"| {shape} | {threads} | {times2} | {m2:.1f} | {anchor / m2:.2f}× | {times3} | {m3:.1f} | "
                     f"{anchor / m3:.2f}× | {paired} | {paired_median} |")
text = ("# Kernel benchmark (cold: weights cycle through copies larger than the LLC)\n\n"
        f"Load average (1/5/15 min) at start: {load_start}; at end: {load_end}.\n"
        "'vs best anchor': best public-runtime median of issue 4 ÷ this median (≥ 1.5× is the target); for two-plane formats "
        "llama.cpp F16's median ÷ this median, marked F16 (≥ 4× is the target). "
        "'% roofline': achieved ÷ attainable, attainable = min(int8 peak × threads, read bandwidth × MAC per byte).\n\n"
        + "\n".join(lines) + "\n\n"
        + "## GEMM, 2048x2048, 64 tokens, paired with GEMV\n\n"
        "`kernels bench --tokens 64 --gemv-ratio --cold`: each case timed in the same interleaved rounds as "
        "its own GEMV; the ratio is 64 · t(GEMV) / t(GEMM) per round, median with a 95% CI (target ≥ 5×).\n\n"
        + "\n".join(gemm_lines) + "\n\n"
        + "## Same-run ratios to simd/2bit\n\n"
        "`kernels bench --variants simd,lut243 --formats 2bit,base3,2plane-2bit,2plane-base3,base3-lut,2plane-base3-lut "
        "--ratio-to simd/2bit --cold`: the four simd formats and lut243 on base3-lut and 2plane-base3-lut timed in "
        "interleaved rounds; each ratio is the median of per-round time ratios, so drift shared "
        "within a round cancels (targets: two-plane ≤ 1.8×, 1.6-bpw base3 < 1× on 2 threads).\n\n"
        + "\n".join(ratio_lines) + "\n"
        + ("" if not cells else "\n## The anchors' protocol: median of separate process runs\n\n"
           "`kernels bench --variants simd,lut243 --cold` (the simd formats, base3-lut and 2plane-base3-lut), each cell in separate processes (the anchors of issue 4 are "
           "medians of 3 process runs); the median of the process medians against the anchors' row. "
           "'÷ simd/2bit' divides medians of separate processes, not paired rounds (the section above pairs them).\n\n"
           + "\n".join(run_lines) + "\n")
        + ("" if len(row_lines) < 3 else "\n## One scale per row\n\n"
           "`kernels bench --variants simd --formats 2bit,base3 --group-size row --ratio-to simd/2bit --cold`, each cell in "
           "separate processes: every table above uses one scale per (row, 128-group); here each row has one scale, as "
           "bitnet.cpp's I2_S has one per tensor. 'base3 ÷ 2bit' is each process's median of paired per-round ratios "
           "(target: < 1 on 2 threads).\n\n"
           + "\n".join(row_lines) + "\n"))
def write_atomically(path, content):
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)))
    with os.fdopen(fd, "w") as h:
        h.write(content)
    os.replace(tmp, path)
write_atomically(out, text)
write_atomically(out + ".json", json.dumps(rows + gemm + ratios + process_runs + row_scale, indent=1))
print(f"bench-kernels: wrote {out} ({len(rows)} rows)", file=sys.stderr)
PY
