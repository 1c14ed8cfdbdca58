// File: tests/server/raw_call.h
//
// A unary gRPC call by full method name with raw request bytes, for the
// server tests that send malformed requests or call services without a
// generated stub (health); and a SearchService stub on a loopback port.
// Header-only: tests/server builds one binary.
#ifndef SCRY_TESTS_SERVER_RAW_CALL_H_
#define SCRY_TESTS_SERVER_RAW_CALL_H_

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "scry/v1/search.grpc.pb.h"

namespace scry::testing {

// A stub of the SearchService at 127.0.0.1:`port`, plaintext.
inline std::unique_ptr<v1::SearchService::Stub> LoopbackStub(int port) {
  return v1::SearchService::NewStub(
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
}

// Calls `method` with the bytes `request` (deadline 30 s); *response gets
// the raw response bytes (empty unless OK).
inline grpc::Status RawCall(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& method, const std::string& request,
                            std::string* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1), out;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &in, &out,
                 [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status status = done.get_future().get();
  response->clear();
  if (status.ok()) {
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(out.Dump(&slices).ok());
    for (const grpc::Slice& s : slices) {
      response->append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  return status;
}

}  // namespace scry::testing

#endif  // SCRY_TESTS_SERVER_RAW_CALL_H_
