#!/usr/bin/env bash
# Instruction-count regression check: runs a fixed kernel set under cachegrind (deterministic on
# a VM, unlike timings) and compares it with the committed baseline in Reports/baseline/.
#
#   bash Scripts/regress.sh                      # compare; exit 0 ok, 2 regression, 3 inconclusive
#   bash Scripts/regress.sh --update-baseline --force   # accept the current counts as the baseline
#
# In a CI job, the Markdown verdict table is appended to $GITHUB_STEP_SUMMARY when it is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh >/dev/null
# Same flags as Scripts/test.sh so CI reuses its build; the baseline is recorded with them too.
swift build -c release -Xswiftc -enable-testing --product tritbench >&2
bin=.build/release/tritbench
out="Reports/regress-$(git rev-parse --short HEAD 2>/dev/null || echo norev)"
"$bin" regress --out "$out" >/dev/null
if [ ! -f Reports/baseline/result.json ]; then
  case " $* " in
    *" --update-baseline "*) "$bin" compare "$out" "$out" --update-baseline >/dev/null; echo "baseline created from $out" >&2; exit 0 ;;
    *) echo "no baseline in Reports/baseline/: run 'bash Scripts/regress.sh --update-baseline' to create one" >&2; exit 3 ;;
  esac
fi
set +e
"$bin" compare Reports/baseline "$out" --markdown "$@" > "$out/compare.md"
rc=$?
set -e
cat "$out/compare.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$out/compare.md" >> "$GITHUB_STEP_SUMMARY"; fi
exit $rc
