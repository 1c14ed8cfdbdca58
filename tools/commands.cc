// File: tools/commands.cc
//
// What each subcommand of the `scry` program does once its flags are read
// (tools/scry_main.cc reads them); see tools/commands.h.
#include "tools/commands.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "analysis/analyzer.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "indexer/assemble.h"
#include "indexer/builder.h"
#include "query/searcher.h"
#include "scry/v1/search.grpc.pb.h"
#include "server/convert.h"
#include "server/search_service.h"
#include "server/server.h"
#include "storage/block_codec.h"
#include "storage/index_dir.h"
#include "storage/verify.h"

namespace scry::tools {

int Fail(const absl::Status& status) {
  std::cerr << "scry: " << absl::StatusCodeToString(status.code()) << ": " << status.message()
            << "\n";
  return 1;
}

// ---- scry index ------------------------------------------------------------

int RunIndex(scry::indexer::BuildOptions options, bool quiet) {
  const bool tty = isatty(STDERR_FILENO) != 0 && !quiet;
  bool progress_shown = false;
  if (tty) {
    options.progress = [&](const std::string& line) {
      std::fprintf(stderr, "\r%s\033[K", line.c_str());
      progress_shown = true;
    };
  }
  options.warn = [&](const std::string& line) {
    if (progress_shown) std::fputs("\r\033[K", stderr);
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  absl::StatusOr<scry::indexer::BuildSummary> summary = scry::indexer::BuildIndex(options);
  if (progress_shown) std::fputs("\r\033[K", stderr);
  if (!summary.ok()) {
    // Bad input lines are reported as FILE:LINE: reason, nothing else.
    if (absl::IsInvalidArgument(summary.status())) {
      std::cerr << summary.status().message() << "\n";
      std::cerr << "scry: build failed; the index at " << options.index_dir
                << " (if any) is unchanged\n";
      return 1;
    }
    Fail(summary.status());
    std::cerr << "scry: build failed; the index at " << options.index_dir
              << " (if any) is unchanged\n";
    return 1;
  }
  if (!quiet) {
    std::fprintf(stderr,
                 "indexed %llu documents (%llu invalid lines skipped) from %.1f MB in %.2f s "
                 "(%.0f docs/s, %.1f MB/s; %.2f s reading and inverting, %.2f s merging and "
                 "writing)\n"
                 "%llu terms, %llu postings, %llu sorted runs, index %.1f MB in %s\n",
                 static_cast<unsigned long long>(summary->docs),
                 static_cast<unsigned long long>(summary->skipped), summary->input_bytes / 1e6,
                 summary->seconds, summary->docs / std::max(summary->seconds, 1e-9),
                 summary->input_bytes / 1e6 / std::max(summary->seconds, 1e-9),
                 summary->invert_seconds, summary->seconds - summary->invert_seconds,
                 static_cast<unsigned long long>(summary->terms),
                 static_cast<unsigned long long>(summary->postings),
                 static_cast<unsigned long long>(summary->runs), summary->index_bytes / 1e6,
                 summary->generation_path.c_str());
    if (options.reorder != "none") {
      std::fprintf(stderr,
                   "reordered %u shard(s) by graph bisection in %.2f s (summed over shards, "
                   "included above; %.2f s bisecting, the rest reading and rewriting): log-gap "
                   "cost %.1f -> %.1f Mbit\n",
                   summary->shards_reordered, summary->reorder_seconds, summary->bisection_seconds,
                   summary->reorder_cost_before / 1e6, summary->reorder_cost_after / 1e6);
    }
    if (options.only_shard >= 0) {
      std::fprintf(stderr,
                   "part: shard %d of %u (%llu documents of other shards left out); put the "
                   "parts together with `scry assemble`\n",
                   options.only_shard, options.num_shards,
                   static_cast<unsigned long long>(summary->other_shards));
    }
  }
  return 0;
}

// ---- scry serve ------------------------------------------------------------

namespace {

// Writes `port` and a newline to `path` atomically (through a rename).
bool WritePortFile(const std::string& path, int port) {
  std::ofstream out(path + ".tmp");
  out << port << "\n";
  out.close();
  if (!out || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) {
    std::cerr << "scry: cannot write " << path << "\n";
    return false;
  }
  return true;
}

}  // namespace

namespace {

// Blocks the stop signals (and SIGHUP, with `hup`) in every thread (those
// started later inherit the mask), so that one thread waits for them.
sigset_t BlockStopSignals(bool hup) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (hup) sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

}  // namespace

int RunServe(const scry::server::ServerOptions& options, const std::string& port_file,
             const std::string& metrics_port_file, const std::string& http_port_file) {
  // SIGHUP: reload.
  sigset_t signals = BlockStopSignals(/*hup=*/true);

  absl::StatusOr<std::unique_ptr<scry::server::Server>> server =
      scry::server::Server::Start(options);
  if (!server.ok()) return Fail(server.status());
  // The metrics and HTTP ports first: once the --port-file exists, all are
  // there.
  if (!metrics_port_file.empty() && !WritePortFile(metrics_port_file, (*server)->metrics_port())) {
    return 1;
  }
  if (!http_port_file.empty() && !WritePortFile(http_port_file, (*server)->http_port())) {
    return 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, (*server)->port())) return 1;
  std::thread waiter([&] {
    int sig = 0;
    while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
      std::cerr << "scry: SIGHUP, looking for a new generation\n";
      (*server)->ReloadSoon();
    }
    std::cerr << "scry: signal " << sig << ", shutting down\n";
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  return 0;
}

// ---- scry broker -----------------------------------------------------------

int RunBroker(const scry::server::BrokerOptions& options, const std::string& port_file,
              const std::string& http_port_file) {
  sigset_t signals = BlockStopSignals(/*hup=*/false);
  absl::StatusOr<std::unique_ptr<scry::server::Broker>> broker =
      scry::server::Broker::Start(options);
  if (!broker.ok()) return Fail(broker.status());
  if (!http_port_file.empty() && !WritePortFile(http_port_file, (*broker)->http_port())) {
    return 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, (*broker)->port())) return 1;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::cerr << "scry: signal " << sig << ", shutting down\n";
    (*broker)->Shutdown();
  });
  (*broker)->Wait();
  waiter.join();
  return 0;
}

// ---- scry search -----------------------------------------------------------

namespace {

// Prints a response of either mode.
void PrintResponse(const scry::v1::SearchResponse& response, size_t offset, bool remote) {
  size_t rank = offset;
  for (const auto& hit : response.hits()) {
    std::printf("%4zu  %10.4f  %s  %s\n", ++rank, hit.score(), hit.id().c_str(),
                hit.title().c_str());
    if (hit.sort_values_size() > 0) {
      std::vector<std::string> values;
      for (const auto& v : hit.sort_values()) values.push_back(v.empty() ? "-" : v);
      std::printf("      sort: %s\n", absl::StrJoin(values, " ").c_str());
    }
    // Sorted, so that the output is stable (a proto map has no order).
    std::map<std::string, std::string> fields(hit.fields().begin(), hit.fields().end());
    for (const auto& [name, value] : fields) {
      std::printf("      %s: %s\n", name.c_str(), value.c_str());
    }
    for (const auto& snippet : hit.snippets()) {
      for (const auto& fragment : snippet.fragments()) {
        std::printf("      [%s] %s\n", snippet.field().c_str(), fragment.c_str());
      }
    }
    if (hit.has_explanation()) {
      for (const auto& t : hit.explanation().terms()) {
        std::printf(
            "      %10.4f  %s%s%s  weight %g  tf %g  df %llu  docs %llu  idf %.4f  dl %u  "
            "avgdl %.2f\n",
            t.score(), t.field().c_str(), t.field().empty() ? "" : ":", t.term().c_str(),
            t.weight(), t.tf(), static_cast<unsigned long long>(t.df()),
            static_cast<unsigned long long>(t.docs()), t.idf(), t.doc_length(), t.avg_doc_length());
      }
    }
  }
  std::printf("total hits: %s%llu%s", response.total_hits_is_lower_bound() ? ">= " : "",
              static_cast<unsigned long long>(response.total_hits()),
              response.expansions_truncated() ? " (prefix/fuzzy expansions truncated)" : "");
  if (remote) std::printf(" (server took %.2f ms)", response.took_micros() / 1e3);
  std::printf("\n");
  for (const auto& facet : response.facets()) {
    std::printf("facet %s", facet.field().c_str());
    if (facet.values() > 0) {
      std::printf(" (%llu values)", static_cast<unsigned long long>(facet.values()));
    }
    std::printf(":");
    for (const auto& c : facet.counts()) {
      std::printf("  %s %llu", c.value().c_str(), static_cast<unsigned long long>(c.count()));
    }
    std::printf("\n");
  }
}

}  // namespace

// Searches `index` in this process, with the server's mapping of requests and
// responses (server/convert.h) and its default deadline.
int RunSearchLocal(const std::string& index, const scry::v1::SearchRequest& request) {
  auto searcher = scry::query::Searcher::Open(index, scry::query::SearcherOptions());
  if (!searcher.ok()) return Fail(searcher.status());
  absl::StatusOr<scry::query::SearchRequest> q = scry::server::FromProto(request);
  if (!q.ok()) return Fail(q.status());
  q->deadline =
      absl::Now() + absl::Milliseconds(scry::server::SearchServiceOptions().default_deadline_ms);
  absl::StatusOr<scry::query::SearchResult> result = (*searcher)->Search(*q);
  if (!result.ok()) return Fail(result.status());
  scry::v1::SearchResponse response;
  scry::server::ToProto(std::move(*result), q->explain, &response);
  PrintResponse(response, request.offset(), false);
  return 0;
}

namespace {

bool ReadFileOrComplain(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "scry: cannot read " << path << "\n";
    return false;
  }
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

}  // namespace

bool Connect(const std::string& address, const ClientSecurity& security,
             std::shared_ptr<grpc::Channel>* channel, std::string* token) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!security.tls_ca_file.empty()) {
    grpc::SslCredentialsOptions ssl;
    if (!ReadFileOrComplain(security.tls_ca_file, &ssl.pem_root_certs)) return false;
    if (!security.tls_cert_file.empty() &&
        (!ReadFileOrComplain(security.tls_cert_file, &ssl.pem_cert_chain) ||
         !ReadFileOrComplain(security.tls_key_file, &ssl.pem_private_key))) {
      return false;
    }
    credentials = grpc::SslCredentials(ssl);
  }
  token->clear();
  if (!security.auth_token_file.empty()) {
    std::string text;
    if (!ReadFileOrComplain(security.auth_token_file, &text)) return false;
    const std::vector<std::string> tokens = scry::server::ParseTokenFile(text);
    if (!tokens.empty()) *token = tokens[0];
  }
  grpc::ChannelArguments args;
  if (!security.tls_server_name.empty()) args.SetSslTargetNameOverride(security.tls_server_name);
  *channel = grpc::CreateCustomChannel(address, credentials, args);
  return true;
}

int RunSearchRemote(const std::string& address, const scry::v1::SearchRequest& request,
                    int timeout_ms, const ClientSecurity& security) {
  std::shared_ptr<grpc::Channel> channel;
  std::string token;
  if (!Connect(address, security, &channel, &token)) return 1;
  auto stub = scry::v1::SearchService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  scry::v1::SearchResponse response;
  grpc::Status status = stub->Search(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "scry: "
              << absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()))
              << ": " << status.error_message() << "\n";
    return 1;
  }
  PrintResponse(response, request.offset(), true);
  return 0;
}

// "title^2,body" -> search_fields; false on a bad weight.
bool ParseSearchFields(const std::string& text, scry::v1::SearchRequest* request) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    scry::v1::FieldWeight* f = request->add_search_fields();
    const size_t caret = item.find('^');
    f->set_field(std::string(item.substr(0, caret)));
    if (caret != absl::string_view::npos) {
      double weight = 0;
      if (!absl::SimpleAtod(item.substr(caret + 1), &weight) || !(weight > 0)) return false;
      f->set_weight(weight);
    }
  }
  return true;
}

bool ParseFacets(const std::vector<std::string>& keyword_specs,
                 const std::vector<std::string>& range_specs, scry::v1::SearchRequest* request) {
  std::map<std::string, scry::v1::FacetRequest*> by_field;
  auto facet = [&](const std::string& field) {
    auto [it, added] = by_field.emplace(field, nullptr);
    if (added) {
      it->second = request->add_facets();
      it->second->set_field(field);
    }
    return it->second;
  };
  for (const std::string& spec : keyword_specs) {
    const size_t eq = spec.find('=');
    uint32_t size = 0;
    if (eq == 0 || (eq != std::string::npos && !absl::SimpleAtoi(spec.substr(eq + 1), &size))) {
      std::cerr << "scry search: --facet takes FIELD or FIELD=SIZE, got '" << spec << "'\n";
      return false;
    }
    facet(spec.substr(0, eq))->set_size(size);
  }
  for (const std::string& spec : range_specs) {
    const size_t eq = spec.find('=');
    if (eq == 0 || eq == std::string::npos || eq + 1 == spec.size()) {
      std::cerr << "scry search: --facet-range takes FIELD=RANGE, got '" << spec << "'\n";
      return false;
    }
    facet(spec.substr(0, eq))->add_ranges(spec.substr(eq + 1));
  }
  return true;
}

bool ParseSort(const std::string& text, scry::v1::SearchRequest* request) {
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    const size_t colon = item.find(':');
    const absl::string_view field = item.substr(0, colon);
    const absl::string_view order =
        colon == absl::string_view::npos ? absl::string_view("asc") : item.substr(colon + 1);
    if (field.empty() || (order != "asc" && order != "desc")) {
      std::cerr << "scry search: --sort takes FIELD[:asc|:desc],..., got '" << item << "'\n";
      return false;
    }
    scry::v1::SortField* f = request->add_sort();
    f->set_field(std::string(field));
    f->set_descending(order == "desc");
  }
  return true;
}

// ---- scry stats ------------------------------------------------------------

int RunStats(const std::string& index) {
  // A part (scry index --shard I) opens as its one shard.
  scry::query::SearcherOptions options;
  int64_t part = -1;
  if (absl::StatusOr<std::string> generation = scry::storage::LiveGeneration(index);
      generation.ok()) {
    absl::StatusOr<scry::storage::IndexManifest> manifest =
        scry::storage::ReadManifest(*generation);
    if (manifest.ok() && manifest->only_shard >= 0) {
      part = manifest->only_shard;
      options.shards = {static_cast<uint32_t>(part)};
    }
  }
  auto searcher = scry::query::Searcher::Open(index, options);
  if (!searcher.ok()) return Fail(searcher.status());
  auto stats = (*searcher)->Stats();
  if (!stats.ok()) return Fail(stats.status());
  const scry::query::IndexInfo& info = (*searcher)->info();
  std::printf("index       %s\n", info.generation_path.c_str());
  std::printf("build id    %s\n",
              info.build_id.empty() ? "(none: built before build ids)" : info.build_id.c_str());
  std::printf("language    %s (stopwords %s)\nshards      %zu", info.language.c_str(),
              info.stopwords ? "on" : "off", static_cast<size_t>(info.num_shards));
  if (part >= 0) {
    std::printf(" (a part: shard %lld alone; the figures are its)", static_cast<long long>(part));
  }
  std::printf("\ndocs        %llu\n", static_cast<unsigned long long>(info.docs));
  std::printf("fields      %s\n", (*searcher)->fields().empty()
                                      ? "(catch-all only)"
                                      : absl::StrJoin((*searcher)->fields(), ", ").c_str());
  uint64_t terms = 0, postings = 0, bytes = 0;
  for (const auto& s : *stats) {
    terms += s.terms;
    postings += s.postings;
    for (const auto& [cf, b] : s.bytes_per_column_family) bytes += b;
  }
  std::printf("terms       %llu (summed over shards)\npostings    %llu\nbytes       %llu\n\n",
              static_cast<unsigned long long>(terms), static_cast<unsigned long long>(postings),
              static_cast<unsigned long long>(bytes));
  std::printf("%-6s %10s %10s %12s", "shard", "docs", "terms", "postings");
  const char* cfs[] = {"meta", "terms", "postings", "positions", "docs", "ids", "titles"};
  for (const char* cf : cfs) std::printf(" %11s", cf);
  std::printf("\n");
  for (const auto& s : *stats) {
    std::printf("%-6u %10llu %10llu %12llu", s.shard, static_cast<unsigned long long>(s.docs),
                static_cast<unsigned long long>(s.terms),
                static_cast<unsigned long long>(s.postings));
    for (const char* cf : cfs) {
      auto it = s.bytes_per_column_family.find(cf);
      std::printf(" %11llu", static_cast<unsigned long long>(
                                 it == s.bytes_per_column_family.end() ? 0 : it->second));
    }
    std::printf("\n");
  }
  std::printf("(column family sizes are bytes of SST files on disk)\n");
  return 0;
}

// ---- scry verify -----------------------------------------------------------

int RunVerify(const std::string& index) {
  const absl::Time start = absl::Now();
  absl::StatusOr<scry::storage::VerifyReport> report = scry::storage::VerifyIndex(index);
  if (!report.ok()) return Fail(report.status());
  for (const std::string& problem : report->problems) std::printf("%s\n", problem.c_str());
  if (report->unlisted > 0) {
    std::printf("... and %llu more problems\n", static_cast<unsigned long long>(report->unlisted));
  }
  std::printf("%s: %s (%.2f s)\n", report->generation_path.c_str(), report->Summary().c_str(),
              absl::ToDoubleSeconds(absl::Now() - start));
  return report->ok() ? 0 : 1;
}

}  // namespace scry::tools
