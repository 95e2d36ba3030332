#include "admin_api.hpp"

#include <charconv>
#include <regex>
#include <thread>

#include <httplib.h>

#include "call_broker.hpp"
#include "dashboard_html.hpp"
#include "status_json.hpp"

namespace plugvisor::detail {

namespace {

using httplib::Request;
using httplib::Response;

// Log streams open at once (each holds a worker; a listener has 16).
constexpr int max_follow_streams = 8;

// Untrusted text (plugin output) may hold invalid UTF-8: replace, never throw.
std::string dump(const Json& doc) { return doc.dump(-1, ' ', false, Json::error_handler_t::replace); }

void reply_json(Response& res, const Json& doc, int status = 200) {
  res.status = status;
  res.set_content(dump(doc) + "\n", "application/json");
}

void reply_error(Response& res, ErrorCode code, const std::string& message, int status = 0) {
  reply_json(res, Json{{"error", {{"code", std::string(to_string(code))}, {"message", message}}}},
             status ? status : http_status(code));
}

// Runs `fn`, turning a plugvisor::Error into its error answer.
template <class Fn>
void guarded(Response& res, Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    reply_error(res, e.code(), e.what());
  }
}

// A whole number from a query parameter, or nullopt (then the answer is 400).
std::optional<std::uint64_t> number_param(const Request& req, const char* name, std::uint64_t fallback) {
  if (!req.has_param(name)) return fallback;
  std::string text = req.get_param_value(name);
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// An action's body: empty or a JSON object.
bool body_is_empty_or_object(const Request& req) {
  if (req.body.empty()) return true;
  Json doc = protocol::parse_json_or_discarded(req.body);
  return doc.is_object();
}

// The one route table: each route is installed on the server and recorded
// with its method, so that the error handler tells 405 from 404 by the same
// routes the server serves.
class Routes {
 public:
  using Known = std::vector<std::pair<std::regex, std::string>>;

  explicit Routes(httplib::Server& server) : server_(server), known_(std::make_shared<Known>()) {}

  template <class Handler>
  void get(const std::string& pattern, Handler handler) {
    server_.Get(pattern, std::move(handler));
    known_->emplace_back(std::regex(pattern), "GET");
  }
  template <class Handler>
  void post(const std::string& pattern, Handler handler) {
    server_.Post(pattern, std::move(handler));
    known_->emplace_back(std::regex(pattern), "POST");
  }
  /// A route the head gate answers before any handler (admission.cpp).
  void answered_by_gate(const std::string& pattern) { known_->emplace_back(std::regex(pattern), "GET"); }

  /// The method of the first route whose pattern matches `path`, or "" if none does.
  /// Safe to call from any worker once installing is over.
  static std::string method_of(const Known& known, const std::string& path) {
    for (const auto& [pattern, method] : known) {
      if (std::regex_match(path, pattern)) return method;
    }
    return "";
  }
  std::shared_ptr<const Known> known() const { return known_; }

 private:
  httplib::Server& server_;
  std::shared_ptr<Known> known_;
};

Json plugin_list_json(Manager& manager) {
  Json plugins = Json::array();
  for (const auto& status : manager.plugins()) plugins.push_back(plugin_json(status, false));
  Json rejected = Json::array();
  for (const auto& r : manager.rejections()) rejected.push_back({{"path", r.path.string()}, {"reason", r.reason}});
  return {{"plugins", std::move(plugins)}, {"rejected", std::move(rejected)}};
}

void show_plugin(Manager& manager, const Request& req, Response& res) {
  auto status = manager.plugin(req.matches[1]);
  if (!status) {
    return reply_error(res, ErrorCode::not_found,
                       "no plugin named " + std::string(req.matches[1]) + " is registered (see `plugvisor status`)");
  }
  reply_json(res, plugin_json(*status, true));
}

void show_logs(Manager& manager, const Request& req, Response& res) {
  auto after = number_param(req, "after", 0);
  auto limit = number_param(req, "limit", 1000);
  if (!after || !limit || *limit == 0 || *limit > 1000) {
    return reply_error(res, ErrorCode::invalid_input,
                       "after must be a whole number and limit a whole number from 1 to 1000");
  }
  guarded(res, [&] {
    Json lines = Json::array();
    std::uint64_t next = *after;
    for (const auto& line : manager.logs(req.matches[1], *after, *limit)) {
      next = line.seq;
      lines.push_back(log_line_json(line));
    }
    reply_json(res, {{"lines", std::move(lines)}, {"next", next}});
  });
}

/// The next piece of a follow stream: new lines, else a heartbeat after 15 s of quiet.
bool write_follow_chunk(AdminBackend& backend, const std::string& id, std::uint64_t& cursor,
                        std::chrono::steady_clock::time_point& quiet, httplib::DataSink& sink) {
  if (backend.stopping) {
    sink.done();
    return true;
  }
  std::vector<LogLine> lines;
  try {
    lines = backend.manager.wait_logs(id, cursor, std::chrono::milliseconds(250));
  } catch (const Error&) {
    sink.done();  // the plugin is gone (a reload removed it)
    return true;
  }
  std::string chunk;
  for (const auto& line : lines) {
    cursor = std::max(cursor, line.seq);
    chunk += dump(log_line_json(line)) + "\n";
  }
  auto now = std::chrono::steady_clock::now();
  if (chunk.empty() && now - quiet >= std::chrono::seconds(15)) chunk = "{\"stream\":\"heartbeat\"}\n";
  if (!chunk.empty()) {
    quiet = now;
    if (!sink.write(chunk.data(), chunk.size())) return false;  // the client left
  } else if (lines.empty()) {
    // Nothing new: wait_logs returned at its timeout, or at once if the ring closed.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return sink.is_writable();
}

void follow_logs(AdminBackend& backend, const Request& req, Response& res) {
  const std::string id = req.matches[1];
  auto after_param = number_param(req, "after", 0);
  if (!after_param) return reply_error(res, ErrorCode::invalid_input, "after must be a whole number");
  guarded(res, [&] {
    // Without ?after: only lines from now on.
    std::uint64_t after = *after_param;
    if (!req.has_param("after")) {
      for (const auto& line : backend.manager.logs(id, 0, 1000)) after = std::max(after, line.seq);
    }
    // Each stream holds a worker while it lasts: a bounded number, so that
    // streams can never take every worker from other requests.
    if (backend.open_streams.fetch_add(1) >= max_follow_streams) {
      --backend.open_streams;
      return reply_error(res, ErrorCode::unavailable,
                         std::to_string(max_follow_streams) +
                             " log streams are open already, the most the daemon serves at once: close one (a "
                             "`plugvisor logs -f` or a dashboard tab), or poll GET /v1/plugins/" + id +
                             "/logs?after=N");
    }
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "application/x-ndjson",
        [&backend, id, cursor = std::make_shared<std::uint64_t>(after), quiet = std::chrono::steady_clock::now()](
            std::size_t, httplib::DataSink& sink) mutable {
          return write_follow_chunk(backend, id, *cursor, quiet, sink);
        },
        [&backend](bool) { --backend.open_streams; });
  });
}

void plugin_action(Manager& manager, const Request& req, Response& res) {
  const std::string id = req.matches[1];
  const std::string action = req.matches[2];
  using Action = void (Manager::*)(const std::string&);
  static const std::map<std::string, Action> actions{{"start", &Manager::start},
                                                     {"stop", &Manager::stop},
                                                     {"restart", &Manager::restart},
                                                     {"enable", &Manager::enable},
                                                     {"disable", &Manager::disable}};
  auto it = actions.find(action);
  if (it == actions.end()) {
    return reply_error(res, ErrorCode::not_found,
                       "unknown action " + action + ": use start, stop, restart, enable or disable");
  }
  if (!body_is_empty_or_object(req)) {
    return reply_error(res, ErrorCode::invalid_input, "the body of an action must be empty or a JSON object ({})");
  }
  guarded(res, [&] {
    (manager.*(it->second))(id);
    reply_json(res, plugin_json(*manager.plugin(id), false));
  });
}

void install_plugin_routes(Routes& routes, AdminBackend& backend) {
  Manager& manager = backend.manager;
  routes.get("/v1/plugins", [&manager](const Request&, Response& res) { reply_json(res, plugin_list_json(manager)); });
  routes.get(R"(/v1/plugins/([^/]+))", [&manager](const Request& req, Response& res) { show_plugin(manager, req, res); });
  routes.get(R"(/v1/plugins/([^/]+)/logs)",
             [&manager](const Request& req, Response& res) { show_logs(manager, req, res); });
  routes.get(R"(/v1/plugins/([^/]+)/logs/follow)",
             [&backend](const Request& req, Response& res) { follow_logs(backend, req, res); });
  routes.post(R"(/v1/plugins/([^/]+)/([^/]+))",
              [&manager](const Request& req, Response& res) { plugin_action(manager, req, res); });
}

/// POST /v1/call/CONTRACT/TYPE/METHOD, when the lean path (lean_call.cpp)
/// does not take it: the body read by cpp-httplib, then the one rule of
/// broker_call (call_broker.cpp).
void broker_route(Manager& manager, const Request& req, Response& res,
                  const httplib::ContentReader& content_reader) {
  const std::string contract = req.matches[1], type = req.matches[2], method = req.matches[3];
  if (req.is_multipart_form_data()) {
    // Not read: the gated server drops an unread body (any route, any type).
    return reply_error(res, ErrorCode::invalid_input,
                       "a call's body is the method's input as it is, not a form: send it with "
                       "`curl --data-binary @FILE` (or -d), not -F",
                       415);
  }
  const std::string content_type = req.get_header_value("Content-Type");
  const std::string deadline = req.get_header_value(std::string(protocol::deadline_header).c_str());
  BrokerRequest request{contract, type, method, content_type,
                        req.has_header(std::string(protocol::deadline_header).c_str()), deadline, {}};
  if (auto length = req.get_header_value<std::uint64_t>("Content-Length"); length > 0) {
    request.body.reserve(static_cast<std::size_t>(length));  // the gate checked it against the limit
  }
  if (!content_reader([&request](const char* data, std::size_t size) {
        request.body.append(data, size);
        return true;
      })) {
    return;  // too large or cut off: the status is set, the error handler writes the body
  }
  BrokerAnswer answer = broker_call(manager, std::move(request));
  res.status = answer.status;
  if (!answer.provider.empty()) res.set_header("X-Plugvisor-Provider", answer.provider);
  res.set_content(std::move(answer.body), answer.content_type);
}

void install_call_routes(Routes& routes, AdminBackend& backend) {
  Manager& manager = backend.manager;
  // Most calls take the lean path (lean_call.cpp): this handler serves the
  // rest (chunked bodies, percent-encoded names, forms), with the same rule.
  // The body is read here, as it is, whatever its Content-Type: cpp-httplib
  // would parse a form (curl's default type) into fields, refusing it past 8 KiB.
  routes.post(R"(/v1/call/([^/]+)/([^/]+)/([^/]+))",
              [&manager](const Request& req, Response& res, const httplib::ContentReader& content_reader) {
                broker_route(manager, req, res, content_reader);
              });
  routes.get("/v1/registry", [&manager](const Request&, Response& res) {
    Json providers = Json::array();
    for (const auto& info : manager.registry().list()) {
      providers.push_back({{"contract", info.contract},
                           {"type", info.type},
                           {"provider", info.provider},
                           {"kind", info.kind == ProviderKind::external ? "external" : "internal"},
                           {"priority", info.priority},
                           {"active", info.active}});
    }
    reply_json(res, {{"providers", std::move(providers)}});
  });
}

}  // namespace

std::string_view dashboard_html() noexcept { return dashboard::html; }

void install_admin_api(httplib::Server& server, AdminBackend& backend) {
  Routes routes(server);
  // GET / and GET /healthz never reach a worker: the head gate answers them
  // (admission.cpp), so that a probe costs no worker and needs no token.
  routes.answered_by_gate("/");
  routes.answered_by_gate("/healthz");
  routes.get("/metrics", [&backend](const Request&, Response& res) {
    res.set_content(prometheus_text(backend.manager.plugins(), backend.figures()), "text/plain; version=0.0.4");
  });
  routes.get("/v1/daemon", [&backend](const Request&, Response& res) { reply_json(res, backend.daemon_info()); });
  routes.post("/v1/reload", [&backend](const Request& req, Response& res) {
    if (!body_is_empty_or_object(req)) {
      return reply_error(res, ErrorCode::invalid_input, "the body of a reload must be empty or a JSON object ({})");
    }
    guarded(res, [&] { reply_json(res, backend.reload()); });
  });
  install_plugin_routes(routes, backend);
  install_call_routes(routes, backend);

  server.set_error_handler([known = routes.known()](const Request& req, Response& res) {
    if (!res.body.empty()) return;  // a handler already answered with its error body
    if (res.status == 404) {
      if (std::string method = Routes::method_of(*known, req.path); !method.empty() && method != req.method) {
        res.set_header("Allow", method);
        return reply_error(res, ErrorCode::invalid_input, req.method + " is not allowed on " + req.path + ": use " + method,
                           405);
      }
      return reply_error(res, ErrorCode::not_found, "no endpoint " + req.method + " " + req.path +
                                                        " (see docs/admin-api.md)", 404);
    }
    if (res.status == 413) {
      return reply_error(res, ErrorCode::too_large,
                         "the request body is over the daemon's limit (64 MiB for a call, 64 KiB for other requests)",
                         413);
    }
    reply_error(res, ErrorCode::invalid_input, "the request was not understood (HTTP " + std::to_string(res.status) + ")",
                res.status);
  });
  server.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    reply_error(res, ErrorCode::internal, "the daemon failed on this request: " + what, 500);
  });
}

}  // namespace plugvisor::detail
