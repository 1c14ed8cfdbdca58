// File: storage/internal_codecs.h
//
// Accessors of the codec singletons, one per codec file, for the registry in
// block_codec.cc. Internal to storage/ (and its tests and benchmarks).
#ifndef SCRY_STORAGE_INTERNAL_CODECS_H_
#define SCRY_STORAGE_INTERNAL_CODECS_H_

#include "storage/block_codec.h"

namespace scry::storage::internal {

const BlockCodec& VarintCodecInstance();
const BlockCodec& BitPackCodecInstance();
const BlockCodec& StreamVByteCodecInstance();
const BlockCodec& PForCodecInstance();
const BlockCodec& SimdBp128CodecInstance();

}  // namespace scry::storage::internal

#endif  // SCRY_STORAGE_INTERNAL_CODECS_H_
