#!/usr/bin/env bash
# BitNet b1.58 2B-4T-shaped speed on this CPU: llama.cpp's llama-bench (prefill 128 tokens, decode
# 32, 1 and 2 threads, 3 repetitions) on synthetic TQ2_0 and TQ1_0 files written by
# Scripts/bitnet-gguf.py --preset 2b4t (random trits, the model's shapes, Q8_0 token_embd which is
# also the LM head; SiLU FFN as llama.cpp's `bitnet` graph has it), and TritBench on the same
# files (`tritbench eval --speed`: the file's trits repacked at load, kernels from this CPU's
# tuning cache — tune the model's shapes first, see below), in one run on one machine. Prints
# one table: tokens/s (llama-bench: mean ± sd of REPS; TritBench: median of 7 rounds after a warm-up, 1 and 2 threads taking turns),
# and TritBench over llama.cpp's faster type at the same thread count.
#
# Tune first (the same shapes, prefill 64 and decode, 1 and 2 threads), e.g.:
#   .build/release/tritbench tune --shapes 2560x2560,640x2560,6912x2560,2560x6912 --tokens 1,64 --threads 1,2 --cold
# The same protocol on both sides: TritBench decodes after its 128-token prompt, so llama-bench's
# decode is measured at depth 128 too (-d 128: 128 tokens in the KV cache before tg), and that is
# the column the ratio uses; llama-bench's default (tg from an empty cache, -d 0, faster: less
# attention) is printed beside it. Prefill runs from an empty cache on both sides. Both compute
# the last token's logits per step. Idempotent: llama.cpp, gguf-py and the files are built/fetched/generated once under
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
[ "$PROMPT" = 128 ] && [ "$GEN" = 32 ] && [ "$REPS" = 3 ] && [ "$THREADS" = 1,2 ] \
    || llama_log "note: TritBench's side always measures prefill 128, decode 32, 3 repetitions, 1 and 2 threads"

llama_cpp_build llama-bench
swift build -c release --product tritbench >&2
OUT="$LLAMA_DIR/bitnet-speed"
mkdir -p "$OUT"
for t in "${TYPES[@]}"; do
    m="$(bitnet_gguf 2b4t "$t")"
    llama_log "llama-bench $m: prefill $PROMPT, decode $GEN, threads $THREADS, $REPS repetitions"
    "$LLAMA_BIN/llama-bench" -m "$m" -p "$PROMPT" -n "$GEN" -d "0,$PROMPT" -t "$THREADS" -r "$REPS" -o json > "$OUT/llama-$t.json" \
        || llama_fail "llama-bench failed on $m"
    llama_log "tritbench eval --speed on $m"
    .build/release/tritbench eval --model "$m" --speed --json --quiet > "$OUT/tritbench-$t.json" \
        || llama_fail "tritbench eval --speed failed on $m"
done
python3 - "$OUT" "${TYPES[@]}" <<'PY'
import json, sys
out, types = sys.argv[1], sys.argv[2:]
llama, ours, empty = {}, {}, {}
for t in types:
    for r in json.load(open(f"{out}/llama-{t}.json")):
        phase = "prefill" if r["n_prompt"] > 0 else "decode"
        depth = r.get("n_depth", 0)
        if phase == "prefill" and depth == 0:
            llama[(t, phase, r["n_threads"])] = (r["avg_ts"], r["stddev_ts"])
        elif phase == "decode" and depth > 0:     # the protocol TritBench's decode follows
            llama[(t, phase, r["n_threads"])] = (r["avg_ts"], r["stddev_ts"])
        elif phase == "decode":
            empty[(t, r["n_threads"])] = (r["avg_ts"], r["stddev_ts"])
    for s in json.load(open(f"{out}/tritbench-{t}.json"))["speed"]:
        ours[(t, "prefill", s["threads"])] = s["prefillTokensPerSecond"]
        ours[(t, "decode", s["threads"])] = s["decodeTokensPerSecond"]
print("Prefill from an empty cache; decode after the 128-token prompt on both sides (llama-bench -d 128).")
print()
print("| phase | threads | " + " | ".join(f"llama.cpp {t.upper()}" for t in types) + " | " +
      " | ".join(f"TritBench {t.upper()}" for t in types) + " | TritBench best / llama.cpp best |")
print("|---|---|" + "---|" * (2 * len(types) + 1))
for phase in ("prefill", "decode"):
    for th in sorted({k[2] for k in llama if k[1] == phase}):
        l = [llama.get((t, phase, th)) for t in types]
        o = [ours.get((t, phase, th)) for t in types]
        lb = max(x[0] for x in l if x); ob = max(x for x in o if x)
        print(f"| {phase} | {th} | " + " | ".join(f"{x[0]:.2f} ± {x[1]:.2f}" if x else "—" for x in l) + " | " +
              " | ".join(f"{x:.2f}" if x else "—" for x in o) + f" | {ob / lb:.2f}× |")
print()
print("llama-bench's default decode (tg from an empty cache, -d 0), tokens/s: " + "; ".join(
    f"{t.upper()} {th} thread(s) {v[0]:.2f} ± {v[1]:.2f}" for (t, th), v in sorted(empty.items())))
PY
