// File: tests/server/raw_call.h
//
// A unary gRPC call by full method name with raw request bytes, for the
// server tests that send malformed requests or call services without a
// generated stub (health). Header-only: tests/server builds one binary.
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

namespace scry::testing {

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
