// Checks of health, authentication and calls (A, K: protocol §8–§11).
#include "conformance/checker.hpp"

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_calls(PluginSession& session) {
  const std::string token = session.token();
  std::string error;

  auto health = session.request("GET", "/healthz", "", "", "", error);
  bool health_ok = health && health->status == 200 &&
                   protocol::parse_json_or_discarded(health->body) == Json{{"status", "ok"}};
  record("A1", "§8", "GET /healthz without a token answers 200 {\"status\":\"ok\"}", health_ok,
         describe(health, error));

  auto target = first_type();
  std::string probe_path = target ? "/v1/" + target->first + "/" + target->second + "/ping" : "/v1/pluginBase/x/ping";
  auto none = session.request("POST", probe_path, "{}", "application/json", "", error);
  auto wrong = session.request("POST", probe_path, "{}", "application/json", "not-the-token", error);
  record("A3", "§9", "a call without a token, or with a wrong one, gets 401 with the error body code unauthorized",
         is_error(none, 401, "unauthorized") && is_error(wrong, 401, "unauthorized"),
         "without: " + describe(none, error) + "; wrong: " + describe(wrong, error));

  if (target) {
    auto no_type = session.request("POST", "/v1/" + target->first + "/no-such-type-42/ping", "{}",
                                    "application/json", token, error);
    auto no_method = session.request("POST", "/v1/" + target->first + "/" + target->second + "/noSuchMethod42",
                                      "{}", "application/json", token, error);
    record("K6", "§10.6", "an unknown type or method gets 404 with the error body code not_found",
           is_error(no_type, 404, "not_found") && is_error(no_method, 404, "not_found"),
           "type: " + describe(no_type, error) + "; method: " + describe(no_method, error));
  }
  auto nowhere = session.request("GET", "/no-such-endpoint", "", "", token, error);
  record("K6e", "§10.6", "an unknown endpoint gets 404 with the error body", is_error(nowhere, 404, "not_found"),
         describe(nowhere, error), Weight::should);

  check_types(session);
  check_keep_alive(session);
  check_bodyless_post(session);
  check_deadline_header(session);
  check_concurrency(session);
  check_client_gone(session);
  check_backlog(session);
}

void Checker::check_types(PluginSession& session) {
  if (!have_capabilities_ || capabilities_.types.empty()) {
    skip("K12", "§11", "every declared type answers a call", "no types to call");
    return;
  }
  std::string error;
  for (const auto& t : capabilities_.types) {
    const std::string base = "/v1/" + t.contract + "/" + t.type + "/";
    auto ping = session.request("POST", base + "ping", "{}", "application/json", session.token(), error);
    bool ok = ping && ping->status == 200 && Json::accept(ping->body);
    std::string saw = "ping: " + describe(ping, error);
    if (t.contract == "dataProcessor") {
      auto formats = session.request("POST", base + "supportedFormats", "{}", "application/json", session.token(), error);
      Json list = formats ? protocol::parse_json_or_discarded(formats->body) : Json();
      bool formats_ok = formats && formats->status == 200 && list.is_array();
      for (const auto& f : list) formats_ok = formats_ok && f.is_string();
      auto data = session.request("POST", base + "processData", "plugvisor validate\n", "application/octet-stream",
                                  session.token(), error);
      // The sample input may be refused (400 and the error body); a method must not fail on it.
      bool data_ok = data && ((data->status == 200 &&
                               data->header("content-type").rfind("application/octet-stream", 0) == 0) ||
                              (data->status >= 400 && data->status < 500 && !error_code(*data).empty()));
      ok = ok && formats_ok && data_ok;
      saw += "; supportedFormats: " + describe(formats, error) + "; processData: " + describe(data, error) +
             (data ? " content-type " + detail::quote(data->header("content-type")) : "");
    }
    record("K12", "§11", t.contract + "/" + t.type + " answers ping" +
                             (t.contract == "dataProcessor" ? ", supportedFormats and processData" : ""),
           ok, saw);
  }
}

// curl -X POST sends neither Content-Length nor Transfer-Encoding: RFC 9112
// §6.3 makes that an empty body, not a reason for 411.
void Checker::check_bodyless_post(PluginSession& session) {
  auto target = first_type();
  if (!target) return;
  std::string error;
  auto connection = RawConnection::open(session.endpoint(), error);
  std::optional<RawResponse> response;
  if (connection) {
    connection->send(http_request(session.endpoint(), "POST", "/v1/" + target->first + "/" + target->second + "/ping", "", "",
                                  session.token(), false));
    response = connection->receive(2s, error);
  }
  record("K8", "§10.5",
         "a POST without Content-Length or Transfer-Encoding has an empty body: a ping so sent answers 200 at once",
         response && response->status == 200, describe(response, error));
}

// K11: the deadline header: absent, malformed, and too far away for any clock.
void Checker::check_deadline_header(PluginSession& session) {
  const std::string path = ping_path();
  if (path.empty()) return;
  auto with_deadline = [&](const std::string& value, std::string& error) -> std::optional<RawResponse> {
    auto connection = RawConnection::open(session.endpoint(), error);
    if (!connection) return std::nullopt;
    std::string request = http_request(session.endpoint(), "POST", path, "{}", "application/json", session.token());
    request.insert(request.find("\r\n") + 2, "X-Plugvisor-Deadline-Ms: " + value + "\r\n");
    if (!connection->send(request)) return std::nullopt;
    return connection->receive(5s, error);
  };
  std::string error, saw;
  bool ok = true;
  for (const char* bad : {"soon", "-5", "1.5", "0x10"}) {
    auto answer = with_deadline(bad, error);
    if (!is_error(answer, 400, "invalid_input")) {
      ok = false;
      saw += std::string(saw.empty() ? "" : "; ") + bad + ": " + describe(answer, error);
    }
  }
  for (const char* far : {"9223372036854775807", "9999999999999999999", "30000"}) {
    auto answer = with_deadline(far, error);
    if (!answer || answer->status != 200) {
      ok = false;
      saw += std::string(saw.empty() ? "" : "; ") + far + ": " + describe(answer, error);
    }
  }
  record("K11", "§10.4",
         "X-Plugvisor-Deadline-Ms: a value that is not a decimal integer (soon, -5, 1.5, 0x10) gets 400 "
         "invalid_input; 30000 and values of up to 19 digits are accepted (a ping answers 200)",
         ok, saw);
}

void Checker::check_body_limit() {
  auto target = first_type("dataProcessor");
  if (!target) return;
  ScratchDir dir;
  auto session = launch(dir, {.overrides = Json{{"maxBodyBytes", 1024}}}, "K7", "starts with maxBodyBytes 1024");
  if (!session) return;
  std::string error;
  auto big = session->request("POST", "/v1/dataProcessor/" + target->second + "/processData",
                              std::string(4096, 'x'), "application/octet-stream", session->token(), error);
  auto after = session->request("GET", "/healthz", "", "", "", error);
  record("K7", "§10.5", "a body over maxBodyBytes gets 413 too_large, and the plugin keeps serving",
         is_error(big, 413, "too_large") && after && after->status == 200,
         "4096 bytes with maxBodyBytes 1024: " + describe(big, error));
}

}  // namespace plugvisor::cli::conformance
