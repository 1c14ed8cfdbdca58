#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: installs the Debian
# packages, builds everything (Release) and runs every test with ctest.
#   SCRY_SANITIZE=1 tools/test.sh   the same under ASan + UBSan (build dir build-asan)
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
if [ "${SCRY_SANITIZE:-0}" = "1" ]; then
  export BUILD_DIR=${BUILD_DIR:-build-asan}
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi
BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR
tools/build.sh
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900
