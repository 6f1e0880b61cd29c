#include <catch2/catch.hpp>

#include "core/url.h"

using balancer::detail::url_without_credentials;

TEST_CASE("url_without_credentials drops userinfo, query and fragment", "[unit][core]") {
  CHECK(url_without_credentials("https://api.anthropic.com") == "https://api.anthropic.com");
  CHECK(url_without_credentials("https://user:pw@host:8443/v1?key=k#frag") == "https://host:8443/v1");
  CHECK(url_without_credentials("http://token@127.0.0.1:1") == "http://127.0.0.1:1");
  CHECK(url_without_credentials("https://host/path@not-userinfo") == "https://host/path@not-userinfo");
  CHECK(url_without_credentials("https://a:b@c@host/p") == "https://host/p");  // the last '@' ends it
  CHECK(url_without_credentials("https://host/p?api_key=secret") == "https://host/p");
  CHECK(url_without_credentials("not a url?x=1") == "not a url");
  CHECK(url_without_credentials("") == "");
}
