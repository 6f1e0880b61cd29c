// sax_request_oracle.h — inspect_request_body as it was before the byte-level validator: one
// nlohmann SAX pass over the whole body. The differential tests use it as the oracle and
// bench/inspect_body.cpp as the baseline. Header-only, test and benchmark code only.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "json/client_request.h"

namespace balancer::test {

using balancer::ErrorCode;
using balancer::MessageRequestInfo;
using balancer::Result;

class OldRequestFieldsSax final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit OldRequestFieldsSax(MessageRequestInfo& info) : info_(info) {}

  bool null() override { return scalar(Kind::Null); }
  bool boolean(bool value) override {
    if (at_top("stream")) {
      info_.stream = value;
    }
    return scalar(Kind::Other);
  }
  bool number_integer(number_integer_t /*value*/) override { return scalar(Kind::Other); }
  bool number_unsigned(number_unsigned_t /*value*/) override { return scalar(Kind::Other); }
  bool number_float(number_float_t /*value*/, const string_t& /*raw*/) override { return scalar(Kind::Other); }
  bool string(string_t& value) override {
    if (at_top("model")) {
      info_.model = value;
      model_is_string_ = true;
    } else if (at_top("provider")) {
      info_.pinned_provider = value;
    } else if (depth_ == 2 && in_metadata_ && key_ == "user_id") {
      info_.user_id = value;
    }
    return scalar(Kind::String);
  }
  bool binary(binary_t& /*value*/) override { return scalar(Kind::Other); }
  bool start_object(std::size_t /*size*/) override {
    if (depth_ == 0) {
      top_is_object_ = true;
    }
    if (at_top("model")) {
      model_seen_ = true;
    } else if (at_top("provider")) {
      provider_bad_ = true;
    }
    if (depth_ == 1) {
      in_metadata_ = key_ == "metadata";
    }
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    if (depth_ == 1) {
      in_metadata_ = false;
    }
    return true;
  }
  bool start_array(std::size_t /*size*/) override {
    if (at_top("model")) {
      model_seen_ = true;
    } else if (at_top("provider")) {
      provider_bad_ = true;
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& value) override {
    if (depth_ <= 2) {
      key_ = value;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    error_ = "request body is not valid JSON (byte " + std::to_string(position) +
             "): " + std::string(ex.what()).substr(0, 160);
    return false;
  }

  Result<MessageRequestInfo> result() const {
    if (!error_.empty()) {
      return balancer::make_error(ErrorCode::InvalidRequest, error_);
    }
    if (!top_is_object_) {
      return balancer::make_error(ErrorCode::InvalidRequest, "request body must be a JSON object");
    }
    if (!model_is_string_) {
      return balancer::make_error(ErrorCode::InvalidRequest,
                                  model_seen_ ? "model: must be a string" : "model: field required");
    }
    if (provider_bad_) {
      return balancer::make_error(ErrorCode::InvalidRequest, "provider: must be a string");
    }
    return info_;
  }

 private:
  enum class Kind { Null, String, Other };

  bool at_top(std::string_view key) const { return depth_ == 1 && key_ == key; }

  bool scalar(Kind kind) {
    if (depth_ == 0) {
      return true;
    }
    if (at_top("model") && kind != Kind::String) {
      model_seen_ = true;
    } else if (at_top("provider") && kind != Kind::String && kind != Kind::Null) {
      provider_bad_ = true;
    }
    return true;
  }

  MessageRequestInfo& info_;
  int depth_ = 0;
  std::string key_;
  bool top_is_object_ = false;
  bool model_seen_ = false;
  bool model_is_string_ = false;
  bool provider_bad_ = false;
  bool in_metadata_ = false;
  std::string error_;
};

inline Result<MessageRequestInfo> old_inspect_request_body(std::string_view body) {
  MessageRequestInfo info;
  OldRequestFieldsSax sax(info);
  nlohmann::json::sax_parse(body, &sax, nlohmann::json::input_format_t::json, true);
  return sax.result();
}

}  // namespace balancer::test
