#!/usr/bin/env bash
# Fuzzes the posting decoders (block codecs, posting and positions chunks,
# TermInfo) with libFuzzer under AddressSanitizer and UndefinedBehaviorSanitizer:
# configures $FUZZ_BUILD_DIR with clang++ and SCRY_FUZZ=ON, builds
# tests/fuzz/posting_decoder_fuzz, writes a seed corpus of valid encodings and
# runs the fuzzer for FUZZ_SECONDS.
#   FUZZ_SECONDS=60          how long to fuzz (default 60)
#   FUZZ_BUILD_DIR=DIR       build directory (default build-fuzz)
#   FUZZ_CXX=clang++-14      the clang to use (default clang++)
#   tools/fuzz.sh -jobs=2 -workers=2   extra arguments go to libFuzzer
#   tools/fuzz.sh FILE...    runs only the given inputs (reproduces a crash)
# New interesting inputs accumulate in $FUZZ_BUILD_DIR/fuzz/corpus; a crash
# or violated check leaves its input in $FUZZ_BUILD_DIR/fuzz/artifacts and
# makes the script exit non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CXX_BIN=${FUZZ_CXX:-clang++}
if ! command -v "$CXX_BIN" >/dev/null; then
  echo "fuzz.sh: $CXX_BIN not found; libFuzzer needs clang (apt-get install clang)" >&2
  exit 1
fi
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER="$CXX_BIN" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSCRY_FUZZ=ON -DSCRY_BUILD_TESTS=OFF -DSCRY_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target posting_decoder_fuzz posting_decoder_seeds
FUZZER="$BUILD_DIR/tests/fuzz/posting_decoder_fuzz"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ $# -gt 0 ] && [ -f "$1" ]; then
  exec "$FUZZER" "$@"  # reproduce: run just these inputs
fi

WORK="$BUILD_DIR/fuzz"
rm -rf "$WORK/seeds"
mkdir -p "$WORK/seeds" "$WORK/corpus" "$WORK/artifacts"
"$BUILD_DIR/tests/fuzz/posting_decoder_seeds" "$WORK/seeds"
echo "fuzz.sh: fuzzing for ${FUZZ_SECONDS}s (corpus $WORK/corpus, crashes in $WORK/artifacts)"
"$FUZZER" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$WORK/artifacts/" "$@" "$WORK/corpus" "$WORK/seeds"
