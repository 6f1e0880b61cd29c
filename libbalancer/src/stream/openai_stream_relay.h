// openai_stream_relay.h — the BodySource for OpenAI-compatible providers: pulls the
// upstream chat.completion.chunk stream and hands out its Anthropic translation
// (StreamTranslator), ending any unfinished stream with an Anthropic error event.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <balancer/http.h>
#include <balancer/stream_translator.h>

#include "stream/primed_stream.h"

namespace balancer::detail {

// Not thread-safe: one per response, driven by the thread that writes to the client.
class OpenAiStreamRelay final : public PrimedStream {
 public:
  OpenAiStreamRelay(std::unique_ptr<UpstreamCall> call, std::string client_model, FailureCallback on_failure);

  // Primed when message_start is ready. An upstream error chunk before it is reported as a
  // first event of type "error" with the upstream's data (the caller fails over).
  std::optional<StreamFailure> prime(const Clock& clock, Duration first_event_timeout) override;
  bool next(std::string& out) override;
  bool completed() const override { return translator_.completed(); }
  // "upstream_error: <type>: <message>" for an error the upstream sent, else the translator's.
  const std::string& failure() const override { return failure_; }

 private:
  // One read: waiting at most `longest` when given, else the call's idle timeout.
  void pump(std::optional<std::chrono::milliseconds> longest);
  StreamFailure describe_failure() const;

  std::unique_ptr<UpstreamCall> call_;
  StreamTranslator translator_;
  FailureCallback on_failure_;
  std::string chunk_;
  std::string ready_;  // translated bytes not yet handed out
  std::size_t bytes_received_ = 0;
  std::optional<ErrorCode> read_error_;  // the last failed read's code
  bool committed_ = false;
  std::string failure_;  // set once, when the translator ended the stream unfinished
};

}  // namespace balancer::detail
