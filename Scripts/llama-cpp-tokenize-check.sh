#!/usr/bin/env bash
# Checks TritBench's tokenizer against llama.cpp's on the same GGUF, passage by passage:
#   1. takes the first N BoolQ passages from the cached evaluation data (as
#      EvaluationData.boolqPassages reads them), and adds variants with runs of spaces, tabs,
#      blank lines, digits, non-Latin text, emoji and special-token texts, so whitespace handling,
#      byte fallback and the special-token partition are all exercised;
#   2. tokenizes each passage with llama-tokenize (one process a passage: --ids --no-escape,
#      special tokens parsed, the file's own BOS setting) and all of them with one
#      `tritbench tokenize --passages` (the same defaults);
#   3. prints "identical: K/N passages" and the first mismatches.
# llama-tokenize comes from Scripts/llama-cpp-reference.sh's build (built there when missing).
#
# Usage: Scripts/llama-cpp-tokenize-check.sh [MODEL.gguf] [N]
#        (default: the cached Gemma-3-270M, N = 1000; exit status 1 when any passage differs)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${TRITBENCH_CACHE:-$HOME/.cache/tritbench}"
MODEL="${1:-$CACHE/model/gemma-3-270m-q4_k_m.gguf}"
N="${2:-1000}"
TOKENIZE="$CACHE/llama.cpp/build/bin/llama-tokenize"
fail() { echo "llama-cpp-tokenize-check: error: $*" >&2; exit 2; }

[ -f "$MODEL" ] || fail "model not found at $MODEL (run Scripts/setup.sh)"
[ -x "$TOKENIZE" ] || Scripts/llama-cpp-reference.sh --build-only >&2
[ -x "$TOKENIZE" ] || fail "$TOKENIZE was not built"
TB=.build/release/tritbench
[ -x "$TB" ] || swift build -c release --product tritbench >&2

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Passages: JSON Lines, one JSON string a line.
python3 - "$CACHE/data/boolq/rc_0shot/requests.jsonl.gz" "$N" > "$WORK/passages.jsonl" <<'PY'
import gzip, json, sys
path, n = sys.argv[1], int(sys.argv[2])
seen_docs, seen_text, passages = set(), set(), []
with gzip.open(path, "rt", encoding="utf-8") as f:
    for line in f:
        r = json.loads(line)
        doc = r["doc_id"]
        if doc >= 1_000_000 or doc in seen_docs:
            continue
        seen_docs.add(doc)
        q = r.get("doc", {}).get("query") or r["request"]["context"]
        k = q.rfind("\nQuestion:")
        p = q[:k] if k >= 0 else q
        if p not in seen_text:
            seen_text.add(p)
            passages.append(p)
extras = [
    "  two leading spaces, three   inside,\ttab, trailing   ",
    "Lines\nwith\n\nblank\n\n\nlines and \r\n CRLF \n",
    "Digits 0123456789, 3.14159, 1,000,000 and ½ ٣ ⅷ",
    "Unicode: naïve café Größe 世界 Ελληνικά עברית русский 한국어 ไทย 🙂👍🏽 e\u0301 \u00a0nbsp",
    "Rare: \u0007 bell \u001b esc \ufeff bom \U0001F9EC \U00010348 \u2581 literal",
    "<bos>special <eos> tokens <start_of_turn>user\nhi<end_of_turn> </s> <unused5> [multimodal] <b>bold</b>",
    "<|im_start|>user\nhi<|im_end|><|endoftext|> <0x41> <unk>",
    "",
    " ",
    "\n",
]
# Every tenth passage again with its spaces doubled and its sentences on lines of their own.
variants = [p.replace(" ", "  ").replace(". ", ".\n\n") for p in passages[:n][::10]]
for p in passages[:n] + extras + variants:
    print(json.dumps(p, ensure_ascii=False))
PY
COUNT=$(wc -l < "$WORK/passages.jsonl")

# llama-tokenize, one passage a process, as many at once as there are cores.
python3 - "$WORK" <<'PY'
import json, os, sys
work = sys.argv[1]
os.makedirs(f"{work}/in", exist_ok=True)
for i, line in enumerate(open(f"{work}/passages.jsonl", encoding="utf-8")):
    with open(f"{work}/in/{i:06d}.txt", "w", encoding="utf-8", newline="") as f:
        f.write(json.loads(line))
PY
mkdir -p "$WORK/llama"
ls "$WORK/in" | xargs -P "$(nproc)" -I{} sh -c \
    '"$1" -m "$2" -f "$3/in/$4" --ids --log-disable --no-escape > "$3/llama/$4" 2>/dev/null || echo FAILED > "$3/llama/$4"' \
    _ "$TOKENIZE" "$MODEL" "$WORK" {}

"$TB" tokenize --model "$MODEL" --passages "$WORK/passages.jsonl" > "$WORK/tritbench.txt"

python3 - "$WORK" "$COUNT" "$MODEL" <<'PY'
import json, os, sys
work, count, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
passages = [json.loads(l) for l in open(f"{work}/passages.jsonl", encoding="utf-8")]
ours = [l.split() for l in open(f"{work}/tritbench.txt").read().split("\n")[:count]]
same, shown = 0, 0
for i, name in enumerate(sorted(os.listdir(f"{work}/llama"))):
    raw = open(f"{work}/llama/{name}").read().strip()
    theirs = raw.strip("[]").replace(",", " ").split() if raw != "FAILED" else ["FAILED"]
    if theirs == ours[i]:
        same += 1
    elif shown < 5:
        shown += 1
        k = next((j for j, (a, b) in enumerate(zip(theirs, ours[i])) if a != b), min(len(theirs), len(ours[i])))
        print(f"mismatch in passage {i} {passages[i][:80]!r}...: first difference at token {k}:"
              f" llama.cpp {theirs[max(0, k - 2):k + 4]} tritbench {ours[i][max(0, k - 2):k + 4]}")
print(f"{os.path.basename(model)}: identical: {same}/{count} passages")
sys.exit(0 if same == count else 1)
PY
