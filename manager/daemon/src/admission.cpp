#include "admission.hpp"

#include "admin_api.hpp"
#include "plugvisor/contracts.hpp"

namespace plugvisor::detail {

namespace {

std::string error_json(ErrorCode code, const std::string& message) {
  return protocol::error_body(code, message).dump() + "\n";
}

std::string size_text(std::uint64_t bytes) {
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1 << 10) && bytes % (1 << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

GateAnswer unauthorized(bool had_header) {
  return {401, "application/json",
          error_json(ErrorCode::unauthorized, had_header ? "wrong token: use the daemon's admin.token"
                                                         : "the admin API over TCP needs Authorization: Bearer TOKEN "
                                                           "(admin.token); the Unix socket needs none"),
          {{"WWW-Authenticate", "Bearer"}}};
}

}  // namespace

bool bearer_matches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view scheme = "Bearer ";
  if (token.empty() || authorization.size() <= scheme.size() || authorization.substr(0, scheme.size()) != scheme) {
    return false;
  }
  std::string_view given = authorization.substr(scheme.size());
  // The time does not depend on where the first differing byte is.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ token[i % token.size()]);
  }
  return diff == 0;
}

GatePolicy admin_admission(AdmissionRules rules) {
  return [rules = std::move(rules)](const http1::RequestHead& head) -> GateDecision {
    const std::string_view path = http1::path_of(head.target);
    const bool get = head.method == "GET" || head.method == "HEAD";
    if (get && path == "/healthz") return {GateAnswer{200, "application/json", "{\"status\":\"ok\"}\n", {}}};
    if (get && path == "/") {
      return {GateAnswer{200,
                         "text/html; charset=utf-8",
                         std::string(dashboard_html()),
                         {{"Cache-Control", "no-store"},
                          {"Content-Security-Policy",
                           "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"}}}};
    }
    if (!rules.token.empty() && !bearer_matches(head.get("Authorization"), rules.token)) {
      return {unauthorized(head.has("Authorization"))};
    }
    const bool call = head.method == "POST" && path.starts_with("/v1/call/");
    const std::uint64_t limit = call ? rules.call_body_limit : rules.other_body_limit;
    if (head.framing == http1::Framing::chunked) return {std::nullopt, rules.call_body_limit};
    if (head.content_length > limit) {
      std::string what = call ? "a call through the broker"
                              : "this request (actions and reload take an empty body or a JSON object)";
      return {GateAnswer{413, "application/json",
                         error_json(ErrorCode::too_large, "the body of " + std::to_string(head.content_length) +
                                                              " bytes is over the limit of " + size_text(limit) +
                                                              " for " + what),
                         {}}};
    }
    return {std::nullopt, head.content_length};
  };
}

}  // namespace plugvisor::detail
