// File: tests/fuzz/posting_decoder_fuzz.cc
//
// libFuzzer target for the posting decoders (issue: corrupt or truncated
// data gives a DataLoss status, never an out-of-bounds read). The first input
// byte selects the structure (posting chunk, positions chunk, TermInfo, the
// pair) or the codec, block size n and delta base of one block; the rest is
// fed to the decoders. The format and the checks are in decoder_checks.h,
// shared with tests/storage/decoder_fuzz_test.cc. Built with clang and
// -fsanitize=fuzzer,address,undefined by tools/fuzz.sh (CMake SCRY_FUZZ=ON).
// A violation of the checks aborts; ASan and UBSan report memory errors and
// undefined behaviour.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "tests/fuzz/decoder_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  scry::fuzz::Checker checker;
  checker.set_context("posting_decoder_fuzz (selector " + std::to_string(size > 0 ? data[0] : -1) +
                      ")");
  scry::fuzz::RunFuzzInput(data, size, &checker);
  if (!checker.ok()) {
    std::fprintf(stderr, "decoder check failed:\n%s", checker.Report().c_str());
    std::abort();
  }
  return 0;
}
