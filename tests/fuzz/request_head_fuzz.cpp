// request_head_fuzz.cpp — fuzz target over the server's judgement of raw request heads
// (server::scan_request_head and its framing rules), and over cpp-httplib's parse of every head
// that judgement lets through. Built as a libFuzzer binary with clang (-DBALANCER_FUZZ=ON:
// request_head_fuzz) and, always, as fuzz_replay_head, which runs tests/fuzz/head_corpus in ctest.
//
// Oracles beyond "no crash, no sanitizer report":
// - deterministic; a Complete head ends in CR LF CR LF within the input, shorter prefixes of it
//   are Incomplete, and bytes after it change nothing (the next request is not its business);
// - a refusal is 400, 414, 431 or 505 with a printable message;
// - differential: a Complete head with a method httplib knows is parsed by httplib too (never its
//   400 or 414) and httplib reads exactly the head plus the declared Content-Length, so no head
//   means one thing to the judge and another to the parser.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <httplib.h>

#include "app.h"
#include "net/request_head.h"

namespace {

using balancer::server::HeadLimits;
using balancer::server::HeadScan;
using balancer::server::scan_request_head;

[[noreturn]] void oracle_failed(const char* what) {
  std::fprintf(stderr, "fuzz oracle failed: %s\n", what);
  std::abort();
}

// The server's own httplib parser and router (app.h), with handlers that accept everything.
void accept_everything(balancer::server::RequestProcessor& parser) {
  const auto ok = [](const httplib::Request&, httplib::Response& res) { res.status = 200; };
  parser.Get(".*", ok);
  parser.Post(".*", ok);
  parser.Put(".*", ok);
  parser.Patch(".*", ok);
  parser.Delete(".*", ok);
  parser.Options(".*", ok);
}

class MemoryStream final : public httplib::Stream {
 public:
  explicit MemoryStream(std::string_view input) : input_(input) {}
  bool is_readable() const override { return true; }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    const std::size_t n = std::min(size, input_.size());
    std::copy_n(input_.data(), n, ptr);
    input_.remove_prefix(n);
    consumed += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    output.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 1;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 2;
  }
  socket_t socket() const override { return 0; }

  std::string output;
  std::size_t consumed = 0;

 private:
  std::string_view input_;
};

bool same(const HeadScan& a, const HeadScan& b) {
  return a.state == b.state && a.head_bytes == b.head_bytes && a.framing == b.framing &&
         a.content_length == b.content_length && a.close == b.close && a.status == b.status && a.message == b.message;
}

// Multipart bodies are refused (415) before httplib reads them, so they are not compared.
bool is_multipart(std::string_view head) {
  std::string lower(head);
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("multipart/form-data") != std::string::npos;
}

bool httplib_knows(std::string_view head) {
  for (const std::string_view method : {"GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "OPTIONS "}) {
    if (head.substr(0, method.size()) == method) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  HeadLimits limits;
  limits.max_header_count = 20;
  limits.max_header_bytes = 2048;
  const HeadScan scan = scan_request_head(input, limits);
  if (!same(scan, scan_request_head(input, limits))) {
    oracle_failed("not deterministic");
  }
  if (scan.state == HeadScan::State::Refused) {
    if (scan.status != 400 && scan.status != 414 && scan.status != 431 && scan.status != 505) {
      oracle_failed("refusal status");
    }
    for (const char c : scan.message) {
      if (static_cast<unsigned char>(c) < 0x20) {
        oracle_failed("control character in a refusal message");
      }
    }
    return 0;
  }
  if (scan.state != HeadScan::State::Complete) {
    return 0;
  }
  if (scan.head_bytes > size || scan.head_bytes < 4 || input.substr(scan.head_bytes - 4, 4) != "\r\n\r\n") {
    oracle_failed("a complete head ends in CR LF CR LF");
  }
  const std::string_view head = input.substr(0, scan.head_bytes);
  for (const std::size_t cut : {head.size() - 1, head.size() - 2, head.size() / 2, head.size() / 3}) {
    if (scan_request_head(head.substr(0, cut), limits).state != HeadScan::State::Incomplete) {
      oracle_failed("a prefix of a complete head is not incomplete");
    }
  }
  if (!same(scan, scan_request_head(std::string(head) + "\x01garbage", limits))) {
    oracle_failed("bytes after the head changed the judgement");
  }
  const std::size_t start = scan.skipped;  // the server drops these before httplib reads
  if (httplib_knows(head.substr(start)) && !is_multipart(head) && scan.content_length <= (1u << 20)) {
    balancer::server::RequestProcessor parser;
    accept_everything(parser);
    // The head with a well-formed body of the length it declares.
    std::string request(head.substr(start));
    if (scan.framing == balancer::server::BodyFraming::Length) {
      request.append(static_cast<std::size_t>(scan.content_length), 'x');
    } else if (scan.framing == balancer::server::BodyFraming::Chunked) {
      request += "1\r\nx\r\n0\r\n\r\n";
    }
    balancer::server::RawHeaders headers;
    for (const auto& [name, value] : scan.headers) {
      headers.emplace_back(name, value);
    }
    MemoryStream stream(request);
    bool closed = false;
    parser.process(stream, true, closed, headers);
    if (stream.output.rfind("HTTP/1.1 400", 0) == 0 || stream.output.rfind("HTTP/1.1 414", 0) == 0) {
      oracle_failed("a head the judge passed is one httplib cannot parse");
    }
    // The server keeps a connection only when httplib read exactly the head and the declared
    // body: it must never read less (or more) than the judge says the request is.
    if (scan.framing != balancer::server::BodyFraming::Chunked && stream.consumed != request.size()) {
      oracle_failed("httplib read a different length than the judge's framing");
    }
  }
  return 0;
}
