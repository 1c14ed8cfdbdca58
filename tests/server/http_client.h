// File: tests/server/http_client.h
//
// A plain HTTP/1.1 client over POSIX sockets for the tests of the HTTP
// listener (server/http_server.h): it sends bytes exactly as given, so that
// tests can send malformed, partial and oversized requests, and parses the
// answer itself. Loopback only (127.0.0.1).
#ifndef SCRY_TESTS_SERVER_HTTP_CLIENT_H_
#define SCRY_TESTS_SERVER_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace scry::testing {

struct Reply {
  int status = 0;                              // 0: no answer
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// A connected socket to 127.0.0.1:port (reads and writes time out after
// 10 s), or -1.
inline int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

inline Reply ParseResponse(const std::string& raw);

// Reads until the server closes the connection (or 10 s pass), then parses.
inline Reply ReadResponse(int fd) {
  std::string raw;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof buffer, 0)) > 0) raw.append(buffer, static_cast<size_t>(n));
  return ParseResponse(raw);
}

// An answer's status line, head and body; status 0 if it does not parse.
inline Reply ParseResponse(const std::string& raw) {
  Reply response;
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return response;
  std::vector<std::string> lines = absl::StrSplit(raw.substr(0, head_end), "\r\n");
  std::vector<std::string> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 || (status_line[0] != "HTTP/1.1" && status_line[0] != "HTTP/1.0") ||
      !absl::SimpleAtoi(status_line[1], &response.status)) {
    return response;
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  response.body = raw.substr(head_end + 4);
  return response;
}

// Reads one answer (head, then Content-Length bytes of body) and leaves the
// connection open.
inline Reply ReadOneResponse(int fd) {
  std::string raw;
  char c;
  while (raw.find("\r\n\r\n") == std::string::npos && recv(fd, &c, 1, 0) == 1) raw += c;
  size_t length = 0;
  const size_t at = absl::AsciiStrToLower(raw).find("content-length:");
  if (at != std::string::npos) {
    absl::SimpleAtoi(absl::StripAsciiWhitespace(raw.substr(at + 15, raw.find('\r', at) - at - 15)),
                     &length);
  }
  std::string body(length, '\0');
  size_t got = 0;
  while (got < length) {
    const ssize_t n = recv(fd, body.data() + got, length - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  return ParseResponse(raw + body);
}

// Sends `request` as it is on a new connection and reads the answer.
inline Reply Exchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) return Reply();
  Reply response;
  if (SendAll(fd, request)) response = ReadResponse(fd);
  close(fd);
  return response;
}

inline Reply Get(int port, const std::string& path, const std::string& method = "GET") {
  return Exchange(port, absl::StrCat(method, " ", path,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: scry-test\r\n"
                                     "Accept: text/plain\r\nConnection: close\r\n\r\n"));
}

// A POST of `body` as application/json, with `extra` header lines
// ("Name: value\r\n" each).
inline Reply PostJson(int port, const std::string& path, const std::string& body,
                      const std::string& extra = "") {
  return Exchange(port, absl::StrCat("POST ", path,
                                     " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                     "Content-Type: application/json\r\nContent-Length: ",
                                     body.size(), "\r\n", extra, "\r\n", body));
}

}  // namespace scry::testing

#endif  // SCRY_TESTS_SERVER_HTTP_CLIENT_H_
