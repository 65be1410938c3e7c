#!/usr/bin/env bash
# Passes the tests: set-up (system packages, model, data), then the whole test suite.
# Tests run in the release configuration (kernels and quantizers are numeric loops that are
# 10-100x slower unoptimised) with testing enabled.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh >/dev/null
swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build --parallel "$@"
