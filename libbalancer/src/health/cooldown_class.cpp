// cooldown_class.cpp — which per-class cooldown (`settings.cooldowns`) a failure gets.
#include <balancer/health.h>

namespace balancer {

std::string_view to_string(CooldownClass cooldown_class) {
  switch (cooldown_class) {
    case CooldownClass::RateLimit: return "rate_limit";
    case CooldownClass::Overloaded: return "overloaded";
    case CooldownClass::ServerError: return "server_error";
    case CooldownClass::Auth: return "auth";
    case CooldownClass::Connection: return "connection";
    case CooldownClass::Timeout: return "timeout";
  }
  return "server_error";
}

CooldownClass cooldown_class_of(std::string_view error_class, int status, std::string_view upstream_error_type) {
  if (upstream_error_type == "rate_limit_error") {
    return CooldownClass::RateLimit;
  }
  if (upstream_error_type == "overloaded_error") {
    return CooldownClass::Overloaded;
  }
  if (upstream_error_type == "authentication_error" || upstream_error_type == "permission_error") {
    return CooldownClass::Auth;
  }
  if (error_class == "timeout_error") {
    return CooldownClass::Timeout;
  }
  if (error_class == "connection_error" || error_class == "ssl_error" || error_class == "protocol_error") {
    return CooldownClass::Connection;
  }
  if (error_class == "oauth_refresh") {
    return CooldownClass::Auth;
  }
  switch (status) {
    case 429: return CooldownClass::RateLimit;
    case 503:
    case 529: return CooldownClass::Overloaded;
    case 401:
    case 402:
    case 403: return CooldownClass::Auth;
    case 408:
    case 504:
    case 524: return CooldownClass::Timeout;
    default: return CooldownClass::ServerError;
  }
}

}  // namespace balancer
