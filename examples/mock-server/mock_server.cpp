#include "mock_server.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "plugvisor/wire/http1.hpp"

namespace mockserver {

using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;
namespace http = plugvisor::http;
namespace mock = plugvisor::mock;

namespace {

// What an unauthenticated client may cost: bodies, time, connections.
constexpr std::size_t max_body_bytes = 1024 * 1024;
constexpr int io_timeout_seconds = 5;
// Requests wait on plugins: more workers than cpp-httplib's default, so that
// a few slow plugin calls do not hold every connection up.
constexpr std::size_t worker_threads = 32;

// A plugin's failure as the client sees it: 504 for a timeout, 500 for a
// template the routes file got wrong, 502 for everything else a plugin did.
http::Response failure(const Error& e, std::string_view during) {
  int status = e.code() == ErrorCode::timeout ? 504 : e.code() == ErrorCode::invalid_input ? 500 : 502;
  return http::error_response(status, e.code(), std::string(during) + ": " + e.what());
}

http::Request from_httplib(const httplib::Request& in) {
  http::Request out;
  out.method = in.method;
  out.path = in.path;
  for (const auto& [name, value] : in.params) out.query.emplace_back(name, value);
  for (const auto& [name, value] : in.headers) {
    if (http::connection_pseudo_header(name)) continue;  // httplib's, not the client's
    std::string lower = name;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace_back(std::move(lower), value);
  }
  out.body = in.body;
  return out;
}

bool has_header(const http::Fields& fields, std::string_view name) { return http::field(fields, name).has_value(); }

}  // namespace

MockServer::MockServer(RoutesFile routes, const plugvisor::Registry& registry)
    : routes_(std::move(routes)),
      registry_(registry),
      templates_(registry),
      generators_(registry),
      handlers_(registry),
      server_(std::make_unique<httplib::Server>()) {
  auto handler = [this](const httplib::Request& req, httplib::Response& res) {
    http::Response out;
    try {
      out = respond(from_httplib(req));
    } catch (const std::exception& e) {
      out = http::error_response(500, ErrorCode::internal, std::string("the mock server failed: ") + e.what());
    }
    res.status = out.status;
    std::string content_type = "text/plain; charset=utf-8";
    for (const auto& [name, value] : out.headers) {
      if (name == "content-type") {
        content_type = value;
      } else if (name != "content-length" && name != "transfer-encoding" && name != "connection") {
        res.headers.emplace(name, value);
      }
    }
    res.set_content(std::move(out.body), content_type);
  };
  server_->set_payload_max_length(max_body_bytes);
  server_->set_read_timeout(io_timeout_seconds, 0);
  server_->set_write_timeout(io_timeout_seconds, 0);
  server_->set_keep_alive_max_count(1000);
  server_->set_tcp_nodelay(true);
  server_->new_task_queue = [] { return new httplib::ThreadPool(worker_threads); };
  server_->Get(".*", handler);
  server_->Post(".*", handler);
  server_->Put(".*", handler);
  server_->Patch(".*", handler);
  server_->Delete(".*", handler);
  server_->Options(".*", handler);
}

MockServer::~MockServer() { stop(); }

int MockServer::bind(const std::string& host, int port) {
  int bound = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    throw Error(ErrorCode::config, "cannot listen on " + host + ":" + std::to_string(port) +
                                       " (in use, or not an address of this host); pick another with --port");
  }
  return bound;
}

void MockServer::serve() { server_->listen_after_bind(); }

void MockServer::stop() {
  if (server_) server_->stop();
}

http::Response MockServer::respond(const http::Request& request) const {
  for (const auto& route : routes_.routes) {
    if (route.method != request.method) continue;
    if (auto captures = match(route, request.path)) return serve_route(route, *captures, request);
  }
  try {
    auto generated = generators_.generate(request);
    for (const auto& failed : generated.failures) spdlog::warn("responseGenerator skipped: {}", failed);
    if (generated.response) {
      generated.response->headers.emplace_back("x-mock-served-by", "responseGenerator/" + generated.type);
      return *generated.response;
    }
  } catch (const Error& e) {
    return failure(e, "responseGenerator");
  }
  auto outcome = handlers_.handle(request);
  for (const auto& failed : outcome.failures) {
    spdlog::warn("httpHandler type '{}' of {} skipped: {}", failed.type, failed.provider, failed.message);
  }
  if (outcome.response) {
    outcome.response->headers.emplace_back("x-mock-served-by", "httpHandler/" + outcome.handled_by_type);
    return *outcome.response;
  }
  if (auto failed = http::failure_response(outcome)) return *failed;
  std::string message = "no route, responseGenerator or httpHandler serves " + request.method + " " + request.path;
  if (!outcome.declined.empty()) {
    message += " (httpHandlers that declined: ";
    for (std::size_t i = 0; i < outcome.declined.size(); ++i) message += (i ? ", " : "") + outcome.declined[i];
    message += ")";
  }
  return http::error_response(404, ErrorCode::not_found, message + "; the routes are in " + routes_.source.string());
}

http::Response MockServer::serve_route(const Route& route, const std::map<std::string, std::string>& captures,
                                       const http::Request& request) const {
  http::Response response{route.status, route.headers, ""};
  if (route.auth) {
    mock::AuthVerdict verdict;
    try {
      verdict = mock::AuthChain(registry_, route.auth->authenticators, route.auth->mode)
                    .authenticate(mock::AuthRequest{request, route.auth->settings});
    } catch (const Error& e) {
      return failure(e, route.where + " (" + route.path + ") auth");
    }
    if (!verdict.allowed) {
      auto denied = http::error_response(401, ErrorCode::unauthorized, verdict.reason);
      denied.headers.emplace_back("www-authenticate", "Bearer");
      return denied;
    }
    // The principal is the plugin's text: sent only when it cannot split the response.
    if (plugvisor::detail::http1::valid_field_value(verdict.principal)) {
      response.headers.emplace_back("x-mock-principal", verdict.principal);
    }
  }
  if (route.data) return serve_data(route, captures, request, std::move(response));
  if (!route.body) return response;
  try {
    if (route.body->is_string()) {
      response.body = templates_.render(route.body->get_ref<const std::string&>());
      if (!has_header(response.headers, "content-type")) response.headers.emplace_back("content-type", "text/plain; charset=utf-8");
    } else {
      response.body = templates_.render_json(*route.body).dump(2) + "\n";
      if (!has_header(response.headers, "content-type")) response.headers.emplace_back("content-type", "application/json");
    }
  } catch (const Error& e) {
    return failure(e, route.where + " (" + route.path + ") template");
  }
  return response;
}

http::Response MockServer::serve_data(const Route& route, const std::map<std::string, std::string>& captures,
                                      const http::Request& request, http::Response response) const {
  const RouteData& data = *route.data;
  mock::DataQuery query{data.query, Json::array()};
  for (const auto& param : data.params) {
    std::optional<std::string_view> value;
    switch (param.from) {
      case ParamSource::From::literal: query.params.push_back(param.value); continue;
      case ParamSource::From::path: value = captures.at(param.name); break;
      case ParamSource::From::query: value = request.query_value(param.name); break;
      case ParamSource::From::header: value = request.header(param.name); break;
    }
    // Request values are bound as parameters, never spliced into the query.
    query.params.push_back(value ? Json(std::string(*value)) : Json(nullptr));
  }
  mock::DataRows rows;
  try {
    auto source = registry_.get<mock::DataSource>(data.type);
    rows = source->query(query);
  } catch (const Error& e) {
    return failure(e, route.where + " (" + route.path + ") dataSource '" + data.type + "'");
  }
  Json body;
  if (data.single) {
    if (rows.rows.empty()) {
      return http::error_response(404, ErrorCode::not_found, "no row matches " + request.path);
    }
    body = rows.rows.front();
  } else {
    body = rows.rows;
  }
  response.body = body.dump(2) + "\n";
  if (!has_header(response.headers, "content-type")) response.headers.emplace_back("content-type", "application/json");
  return response;
}

}  // namespace mockserver
