// File: bench/peer_query.cc
#include "bench/peer_query.h"

#include <cstdio>
#include <fstream>
#include <string_view>

namespace scry::bench {
namespace {

std::vector<std::string> SplitWords(std::string_view text) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\t') ++j;
    if (j > i) words.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

void AppendEscaped(std::string_view word, std::string* out) {
  for (char c : word) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
}

bool NeedsQuoting(std::string_view word) {
  if (word == "AND" || word == "OR" || word == "NOT") return true;
  return word.find_first_of("()+-!\"\\&|") != std::string_view::npos;
}

}  // namespace

std::string ToScryQuery(const PeerQuery& q) {
  const std::vector<std::string> words = SplitWords(q.text);
  std::string out;
  if (q.type == "phrase") {
    out.push_back('"');
    for (size_t i = 0; i < words.size(); ++i) {
      if (i > 0) out.push_back(' ');
      AppendEscaped(words[i], &out);
    }
    out.push_back('"');
    return out;
  }
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out.push_back(' ');
    if (NeedsQuoting(words[i])) {
      out.push_back('"');
      AppendEscaped(words[i], &out);
      out.push_back('"');
    } else {
      out += words[i];
    }
  }
  return out;
}

bool ReadQueries(const std::string& path, std::vector<PeerQuery>* out) {
  std::ifstream in(path);
  if (!in) {
    std::perror(path.c_str());
    return false;
  }
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out->push_back({line.substr(0, tab), line.substr(tab + 1)});
  }
  return true;
}

}  // namespace scry::bench
