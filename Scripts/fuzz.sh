#!/usr/bin/env bash
# Fuzzes the parsers of untrusted files with libFuzzer + AddressSanitizer:
#   bash Scripts/fuzz.sh SECONDS [TARGET ...]      (targets: npy gguf packed tuning; default all)
# Each target is one executable built by swiftc straight from the parser's source files (no
# SwiftPM build of the whole package with sanitizers): the files of several modules compile into
# one module, and empty stand-ins satisfy their `import TritCore` / `import TritKernels` lines.
# Each runs for SECONDS from the seed corpus in Fuzz/corpus/TARGET (made by the tests, see
# Tests/TritModelTests/FuzzSeedTests.swift) plus what earlier runs found. A crash, an ASan report
# or a timeout fails the script; the input that did it is left in .build/fuzz/artifacts/TARGET
# and belongs in a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: Scripts/fuzz.sh SECONDS [npy gguf packed tuning]}
shift
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(npy gguf packed tuning)

core="Sources/TritCore/NPY.swift Sources/TritCore/Matrix.swift Sources/TritCore/AtomicFile.swift Sources/TritCore/CheckedSize.swift Sources/TritCore/TextEscaping.swift Sources/TritCore/Progress.swift Sources/TritCore/CachePaths.swift"
model="Sources/TritModel/GGUFFile.swift Sources/TritModel/GGMLDequantizer.swift Sources/TritModel/GGMLTernaryBlock.swift Sources/TritModel/VocabularyConsistency.swift Sources/TritModel/LlamaConfiguration.swift Sources/TritModel/Architectures/DecoderArchitecture.swift Sources/TritModel/Architectures/Gemma3.swift Sources/TritModel/Architectures/BitNet.swift Kernels/TritKernels/TernaryWeights.swift"
packed="Sources/TritModel/PackedModelFile.swift Fuzz/Support/SHA256Standin.swift Kernels/TritKernels/TernaryWeights.swift"
tune="Kernels/TritKernels/KernelConfiguration.swift Kernels/TritKernels/KernelProblem.swift Kernels/TritKernels/PackedFormatKind.swift Sources/TritDispatch/TuningCache.swift Sources/TritDispatch/TuningKey.swift Sources/TritDispatch/TuningRecordValidator.swift Sources/TritDispatch/Dispatch.swift Fuzz/Support/KernelsStub.swift"
declare -A sources=(
  [npy]="$core"
  [gguf]="$core $model"
  [packed]="$core $packed"
  [tuning]="$core $tune"
)

out=.build/fuzz
mkdir -p "$out/stubs"
for m in TritCore TritKernels TritModel TritTune; do
  if [ ! -f "$out/stubs/$m.swiftmodule" ]; then
    echo "" > "$out/stubs/$m.swift"
    swiftc -emit-module -module-name "$m" -parse-as-library "$out/stubs/$m.swift" -o "$out/stubs/$m.swiftmodule"
  fi
done

status=0
for t in "${targets[@]}"; do
  [ -n "${sources[$t]:-}" ] || { echo "unknown fuzz target '$t' (known: npy gguf packed tuning)"; exit 64; }
  exe="$out/fuzz-$t"
  # shellcheck disable=SC2086
  swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name TritFuzz -I "$out/stubs" \
    -suppress-warnings ${sources[$t]} "Fuzz/Targets/$t.swift" -o "$exe" 2>&1 | grep -v "Cannot export local symbol" || true
  [ -x "$exe" ] || { echo "fuzz target $t did not build"; exit 1; }
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  log="$out/fuzz-$t.log"
  set +e
  "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t/" "$out/corpus/$t" "Fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$rc" -ne 0 ]; then
    echo "[fuzz] $t: FAILED (exit $rc) after ${execs:-?} executions; input in $out/artifacts/$t/, log $log:"
    grep -E "ERROR|Fatal error|SUMMARY|panic|Test unit written" "$log" | head -20
    status=1
  else
    echo "[fuzz] $t: no crash in ${seconds}s, ${execs:-?} executions, corpus $(ls "$out/corpus/$t" | wc -l) inputs"
  fi
done
exit $status
