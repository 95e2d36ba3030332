#include "admin_api.hpp"

#include <charconv>
#include <regex>
#include <thread>

#include <httplib.h>

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

Encoding encoding_of(const Request& req, const std::string& body) {
  if (body.empty()) return Encoding::none;
  return req.get_header_value("Content-Type").starts_with("application/json") ? Encoding::json : Encoding::bytes;
}

// The paths of the API with the methods they take, for 405 versus 404.
const std::vector<std::pair<std::regex, std::string>>& known_paths() {
  static const std::vector<std::pair<std::regex, std::string>> paths{
      {std::regex("/"), "GET"},
      {std::regex("/healthz"), "GET"},
      {std::regex("/metrics"), "GET"},
      {std::regex("/v1/daemon"), "GET"},
      {std::regex("/v1/registry"), "GET"},
      {std::regex("/v1/plugins"), "GET"},
      {std::regex("/v1/plugins/[^/]+"), "GET"},
      {std::regex("/v1/plugins/[^/]+/logs"), "GET"},
      {std::regex("/v1/plugins/[^/]+/logs/follow"), "GET"},
      {std::regex("/v1/plugins/[^/]+/[^/]+"), "POST"},
      {std::regex("/v1/call/[^/]+/[^/]+/[^/]+"), "POST"},
      {std::regex("/v1/reload"), "POST"},
  };
  return paths;
}

void install_plugin_routes(httplib::Server& server, AdminBackend& backend) {
  Manager& manager = backend.manager;
  server.Get("/v1/plugins", [&manager](const Request&, Response& res) {
    Json plugins = Json::array();
    for (const auto& status : manager.plugins()) plugins.push_back(plugin_json(status, false));
    Json rejected = Json::array();
    for (const auto& r : manager.rejections()) rejected.push_back({{"path", r.path.string()}, {"reason", r.reason}});
    reply_json(res, {{"plugins", std::move(plugins)}, {"rejected", std::move(rejected)}});
  });
  server.Get(R"(/v1/plugins/([^/]+))", [&manager](const Request& req, Response& res) {
    auto status = manager.plugin(req.matches[1]);
    if (!status) {
      return reply_error(res, ErrorCode::not_found,
                         "no plugin named " + std::string(req.matches[1]) + " is registered (see `plugvisor status`)");
    }
    reply_json(res, plugin_json(*status, true));
  });
  server.Get(R"(/v1/plugins/([^/]+)/logs)", [&manager](const Request& req, Response& res) {
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
  });
  server.Get(R"(/v1/plugins/([^/]+)/logs/follow)", [&backend, &manager](const Request& req, Response& res) {
    const std::string id = req.matches[1];
    auto after_param = number_param(req, "after", 0);
    if (!after_param) return reply_error(res, ErrorCode::invalid_input, "after must be a whole number");
    guarded(res, [&] {
      // Without ?after: only lines from now on.
      std::uint64_t after = *after_param;
      if (!req.has_param("after")) {
        for (const auto& line : manager.logs(id, 0, 1000)) after = std::max(after, line.seq);
      }
      auto cursor = std::make_shared<std::uint64_t>(after);
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
          "application/x-ndjson", [&backend, id, cursor, quiet = std::chrono::steady_clock::now()](
                                      std::size_t, httplib::DataSink& sink) mutable {
            if (backend.stopping) {
              sink.done();
              return true;
            }
            std::vector<LogLine> lines;
            try {
              lines = backend.manager.wait_logs(id, *cursor, std::chrono::milliseconds(250));
            } catch (const Error&) {
              sink.done();  // the plugin is gone (a reload removed it)
              return true;
            }
            std::string chunk;
            for (const auto& line : lines) {
              *cursor = std::max(*cursor, line.seq);
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
          },
          [&backend](bool) { --backend.open_streams; });
    });
  });
  server.Post(R"(/v1/plugins/([^/]+)/([^/]+))", [&manager](const Request& req, Response& res) {
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
  });
}

void install_call_routes(httplib::Server& server, AdminBackend& backend) {
  Manager& manager = backend.manager;
  // The body is read here, as it is, whatever its Content-Type: cpp-httplib
  // would parse a form (curl's default type) into fields, refusing it past 8 KiB.
  server.Post(R"(/v1/call/([^/]+)/([^/]+)/([^/]+))", [&manager](const Request& req, Response& res,
                                                                 const httplib::ContentReader& content_reader) {
    const std::string contract = req.matches[1], type = req.matches[2], method = req.matches[3];
    if (req.is_multipart_form_data()) {
      // Not read: the gated server drops an unread body (any route, any type).
      return reply_error(res, ErrorCode::invalid_input,
                         "a call's body is the method's input as it is, not a form: send it with "
                         "`curl --data-binary @FILE` (or -d), not -F",
                         415);
    }
    std::string body;
    if (auto length = req.get_header_value<std::uint64_t>("Content-Length"); length > 0) {
      body.reserve(static_cast<std::size_t>(length));  // the gate checked it against the limit
    }
    if (!content_reader([&body](const char* data, std::size_t size) {
          body.append(data, size);
          return true;
        })) {
      return;  // too large or cut off: the status is set, the error handler writes the body
    }
    std::optional<DeadlineScope> deadline;
    if (req.has_header(std::string(protocol::deadline_header).c_str())) {
      std::string text = req.get_header_value(std::string(protocol::deadline_header).c_str());
      auto ms = protocol::parse_deadline_ms(text);
      if (!ms || ms->count() == 0 || ms->count() > 86'400'000) {
        return reply_error(res, ErrorCode::invalid_input,
                           std::string(protocol::deadline_header) + " must be a whole number of milliseconds from 1 "
                                                                    "to 86400000, not \"" + text + "\"");
      }
      deadline.emplace(*ms);
    }
    guarded(res, [&] {
      auto channel = manager.registry().channel(contract, type);
      auto active = manager.registry().active(contract, type);
      std::string provider = active ? active->provider : "";
      // A described method's input travels as its description says, whatever the Content-Type.
      Encoding encoding = encoding_of(req, body);
      if (auto described = manager.describe(contract, type)) {
        encoding = described->require_method(method, provider.empty() ? contract + " type " + type : provider).input;
        if (encoding == Encoding::json && !Json::accept(body)) {
          throw Error(ErrorCode::invalid_input, contract + " " + method + " takes JSON, and the body is not JSON");
        }
      }
      Payload result = channel->call(method, Payload{encoding, encoding == Encoding::none ? "{}" : std::move(body)});
      res.set_header("X-Plugvisor-Provider", provider);
      res.set_content(std::move(result.body),
                      result.encoding == Encoding::bytes ? "application/octet-stream" : "application/json");
    });
  });
  server.Get("/v1/registry", [&manager](const Request&, Response& res) {
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
  // GET / and GET /healthz never reach a worker: the head gate answers them
  // (admission.cpp), so that a probe costs no worker and needs no token.
  server.Get("/metrics", [&backend](const Request&, Response& res) {
    res.set_content(prometheus_text(backend.manager.plugins(), backend.figures()), "text/plain; version=0.0.4");
  });
  server.Get("/v1/daemon", [&backend](const Request&, Response& res) { reply_json(res, backend.daemon_info()); });
  server.Post("/v1/reload", [&backend](const Request& req, Response& res) {
    if (!body_is_empty_or_object(req)) {
      return reply_error(res, ErrorCode::invalid_input, "the body of a reload must be empty or a JSON object ({})");
    }
    guarded(res, [&] { reply_json(res, backend.reload()); });
  });
  install_plugin_routes(server, backend);
  install_call_routes(server, backend);

  server.set_error_handler([](const Request& req, Response& res) {
    if (!res.body.empty()) return;  // a handler already answered with its error body
    if (res.status == 404) {
      for (const auto& [pattern, method] : known_paths()) {
        if (std::regex_match(req.path, pattern) && method != req.method) {
          res.set_header("Allow", method);
          return reply_error(res, ErrorCode::invalid_input, req.method + " is not allowed on " + req.path + ": use " + method,
                             405);
        }
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
