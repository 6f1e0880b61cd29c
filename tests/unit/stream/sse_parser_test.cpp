#include <catch2/catch.hpp>

#include <vector>

#include "stream/sse_parser.h"

using balancer::detail::SseEvent;
using balancer::detail::SseParser;

namespace {

std::vector<SseEvent> parse_in_pieces(const std::string& stream, std::size_t split_a, std::size_t split_b) {
  SseParser parser;
  std::vector<SseEvent> events;
  auto collect = [&](const SseEvent& e) { events.push_back(e); };
  parser.feed(std::string_view(stream).substr(0, split_a), collect);
  parser.feed(std::string_view(stream).substr(split_a, split_b - split_a), collect);
  parser.feed(std::string_view(stream).substr(split_b), collect);
  return events;
}

const std::string kStream =
    "\xEF\xBB\xBF"
    "event: message_start\r\n"
    "data: {\"type\":\"message_start\"}\r\n\r\n"
    ": ping comment\n\n"
    "event: content_block_delta\n"
    "data: {\"a\":1}\n"
    "data: {\"b\":2}\n\n"
    "data:no-space\r\r"
    "event: message_stop\n"
    "data: {\"type\":\"message_stop\"}\n\n";

}  // namespace

TEST_CASE("SseParser: events are identical however the stream is split", "[unit][sse]") {
  const auto whole = parse_in_pieces(kStream, kStream.size(), kStream.size());
  REQUIRE(whole.size() == 4);
  CHECK(whole[0].event == "message_start");
  CHECK(whole[0].data == "{\"type\":\"message_start\"}");
  CHECK(whole[1].event == "content_block_delta");
  CHECK(whole[1].data == "{\"a\":1}\n{\"b\":2}");
  CHECK(whole[2].event.empty());
  CHECK(whole[2].data == "no-space");
  CHECK(whole[3].event == "message_stop");
  for (std::size_t a = 0; a <= kStream.size(); ++a) {
    for (std::size_t b = a; b <= kStream.size(); b += 7) {
      const auto pieces = parse_in_pieces(kStream, a, b);
      REQUIRE(pieces.size() == whole.size());
      for (std::size_t i = 0; i < whole.size(); ++i) {
        CHECK(pieces[i].event == whole[i].event);
        CHECK(pieces[i].data == whole[i].data);
      }
    }
  }
}

TEST_CASE("SseParser: pending_bytes counts only the unfinished event", "[unit][sse]") {
  SseParser parser;
  int events = 0;
  auto count = [&](const SseEvent&) { ++events; };
  parser.feed("event: a\ndata: 1\n\nevent: b\nda", count);
  CHECK(events == 1);
  CHECK(parser.pending_bytes() == std::string("event: b\nda").size());
  parser.feed("ta: 2\n", count);
  CHECK(parser.pending_bytes() == std::string("event: b\ndata: 2\n").size());
  parser.feed("\n", count);
  CHECK(events == 2);
  CHECK(parser.pending_bytes() == 0);
}

TEST_CASE("SseParser: CRLF event ends leave nothing pending, even split inside CRLF", "[unit][sse]") {
  SseParser parser;
  int events = 0;
  auto count = [&](const SseEvent&) { ++events; };
  parser.feed("data: x\r\n\r", count);
  CHECK(events == 1);
  parser.feed("\n", count);
  CHECK(parser.pending_bytes() == 0);
}
