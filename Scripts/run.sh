#!/usr/bin/env bash
# The main job on the embedded default model: set-up, release build, `tritbench run`.
# Extra arguments go to `tritbench run` (e.g. --full).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh >/dev/null
swift build -c release --product tritbench
.build/release/tritbench run "$@"
