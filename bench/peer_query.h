// File: bench/peer_query.h
//
// The query file of the peer engines' harness (../shared/peers/README.md):
// lines TYPE<TAB>WORDS, TYPE one of and, or, phrase; and its mapping to scry's
// query language, shared by scry-peer and scry-load. `and` is the words with
// AND as the default operator, `or` with OR, `phrase` the words inside double
// quotes; a word holding query syntax characters or spelling an operator is
// quoted (a one-word phrase analyses like the bare word).
#ifndef SCRY_BENCH_PEER_QUERY_H_
#define SCRY_BENCH_PEER_QUERY_H_

#include <string>
#include <vector>

namespace scry::bench {

struct PeerQuery {
  std::string type;  // and, or, phrase
  std::string text;
};

// Appends the queries of `path` to *out; false (after perror) if unreadable.
bool ReadQueries(const std::string& path, std::vector<PeerQuery>* out);

// The scry query text for one harness query (its default operator is AND
// unless q.type is "or").
std::string ToScryQuery(const PeerQuery& q);

}  // namespace scry::bench

#endif  // SCRY_BENCH_PEER_QUERY_H_
