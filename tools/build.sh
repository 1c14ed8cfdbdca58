#!/usr/bin/env bash
# Configures and builds scry (Release by default) into $BUILD_DIR (default: build).
#   SCRY_SANITIZE=1   build with AddressSanitizer + UndefinedBehaviorSanitizer
#   BUILD_TYPE=Debug  another CMake build type
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
SANITIZE=OFF
if [ "${SCRY_SANITIZE:-0}" = "1" ]; then SANITIZE=ON; fi
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" -DSCRY_SANITIZE="$SANITIZE" >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
