// File: query/index_info.h
//
// What a query::Searcher tells its callers about the index it serves, as
// plain values that name no storage type: IndexInfo (fixed while the index is
// open), ShardInfo (one shard's sizes, read when asked) and Document (a stored
// document). The server and the tools see the index through these alone.
#ifndef SCRY_QUERY_INDEX_INFO_H_
#define SCRY_QUERY_INDEX_INFO_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scry::query {

struct IndexInfo {
  std::string generation_path;  // the live generation's directory
  std::string generation;       // its name, "gen-000007"
  std::string build_id;         // storage::IndexManifest::build_id ("": built before ids)
  std::string language;         // the analyser's (analysis::AnalyzerOptions)
  bool stopwords = false;
  uint32_t num_shards = 0;
  uint64_t docs = 0;                // summed over the shards
  std::vector<std::string> fields;  // the named fields (union over shards), sorted
  // The typed fields (union over shards) by name: (name, "keyword",
  // "int64", "double" or "date").
  std::vector<std::pair<std::string, std::string>> typed_fields;
};

struct ShardInfo {
  uint32_t shard = 0;  // its index in the index
  uint64_t docs = 0;
  uint64_t terms = 0;
  uint64_t postings = 0;
  std::map<std::string, uint64_t> bytes_per_column_family;  // live SST bytes
};

// A stored document: its id and its stored fields, in the order stored.
struct Document {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;

  // The value of stored field `name`, or "" if it has none. The view is
  // valid while the document lives.
  [[nodiscard]] std::string_view Field(std::string_view name) const {
    for (const auto& [field, value] : fields) {
      if (field == name) return value;
    }
    return {};
  }
};

}  // namespace scry::query

#endif  // SCRY_QUERY_INDEX_INFO_H_
