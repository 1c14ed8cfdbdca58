#!/usr/bin/env bash
# Fuzzes with libFuzzer under AddressSanitizer and UndefinedBehaviorSanitizer:
#   posting_decoder_fuzz  block codecs, posting and positions chunks, TermInfo
#   query_parser_fuzz     query text -> tree or InvalidArgument (with limits)
#   jsonl_fuzz            JSON Lines ingestion and document analysis
# Configures $FUZZ_BUILD_DIR with clang++ and SCRY_FUZZ=ON, builds the
# targets, writes seed corpora and runs each target for FUZZ_SECONDS.
#   FUZZ_SECONDS=60          how long to fuzz each target (default 60)
#   FUZZ_TARGETS="a b"       which targets (default: all three)
#   FUZZ_BUILD_DIR=DIR       build directory (default build-fuzz)
#   FUZZ_CXX=clang++-14      the clang to use (default clang++)
#   tools/fuzz.sh -jobs=2 -workers=2   extra arguments go to libFuzzer
#   FUZZ_TARGETS=T tools/fuzz.sh FILE...   runs target T on the given inputs
#                            only (reproduces a crash)
# New interesting inputs accumulate in $FUZZ_BUILD_DIR/fuzz/TARGET/corpus; a
# crash or violated check leaves its input in $FUZZ_BUILD_DIR/fuzz/TARGET/artifacts
# and makes the script exit non-zero. A crash found becomes a regression test
# (tests/storage/decoder_fuzz_test.cc, tests/query/query_parser_test.cc,
# tests/indexer/).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh  # clang and libFuzzer among them
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
TARGETS=${FUZZ_TARGETS:-posting_decoder_fuzz query_parser_fuzz jsonl_fuzz}
CXX_BIN=${FUZZ_CXX:-clang++}
if ! command -v "$CXX_BIN" >/dev/null; then
  echo "fuzz.sh: $CXX_BIN not found; libFuzzer needs clang (apt-get install clang)" >&2
  exit 1
fi
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_CXX_COMPILER="$CXX_BIN" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSCRY_FUZZ=ON -DSCRY_BUILD_TESTS=OFF -DSCRY_BUILD_BENCH=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD_DIR" -j "$JOBS" --target $TARGETS posting_decoder_seeds
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ $# -gt 0 ] && [ -f "$1" ]; then
  for t in $TARGETS; do "$BUILD_DIR/tests/fuzz/$t" "$@"; done  # reproduce: just these inputs
  exit 0
fi

for t in $TARGETS; do
  WORK="$BUILD_DIR/fuzz/$t"
  rm -rf "$WORK/seeds"
  mkdir -p "$WORK/seeds" "$WORK/corpus" "$WORK/artifacts"
  case $t in
    posting_decoder_fuzz)
      "$BUILD_DIR/tests/fuzz/posting_decoder_seeds" "$WORK/seeds" ;;
    query_parser_fuzz)
      # First byte: bit 0 AND as default operator, bit 1 tight limits, bit 2
      # known fields (body, title).
      i=0
      for q in 'apple' 'apple pie' '"apple pie" -kiwi' '+a (b OR c) NOT d' '(a AND (b OR "c d"))' \
               'title:x "a b"~2 x*' 'a\\ b \"c' 'Ärger über Öl' 'ёлка Ёжик' \
               'title:(a body:"b c"~3^2)^0.5 secur* medvedv~1' 'nosuch:x 12:30 a\:b'; do
        printf '\000%s' "$q" > "$WORK/seeds/q$i"; printf '\003%s' "$q" > "$WORK/seeds/r$i"
        printf '\004%s' "$q" > "$WORK/seeds/f$i"
        i=$((i + 1))
      done ;;
    jsonl_fuzz)
      head -n 4 tests/data/sample.jsonl > "$WORK/seeds/sample"
      printf '{"id":"a","title":null,"body":"x"}\n\n{"id":1}\n{"id":"b","x":"\\u00e9\\ud83d\\ude00"}\n' \
        > "$WORK/seeds/mixed" ;;
  esac
  echo "fuzz.sh: fuzzing $t for ${FUZZ_SECONDS}s (corpus $WORK/corpus, crashes in $WORK/artifacts)"
  "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$WORK/artifacts/" "$@" "$WORK/corpus" "$WORK/seeds"
done
