// Placeholder until the gRPC service lands in this session.
namespace scry::server {}
