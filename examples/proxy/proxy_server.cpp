// The proxy's request path: route, select filters (bypass when none), the
// request phase, the upstream call, the response phase.
#include "proxy_server.hpp"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <vector>

#include <spdlog/spdlog.h>

namespace proxy {

namespace {

constexpr std::size_t worker_threads = 32;
// At most as many idle upstream clients as requests can be in flight.
constexpr std::size_t max_idle_clients = worker_threads;

using plugvisor::ErrorCode;
using plugvisor::Json;
namespace http = plugvisor::http;

// RFC 9110 section 7.6.1: headers for one connection only, never forwarded.
bool hop_by_hop(std::string_view name) {
  static constexpr std::string_view names[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                                               "te", "trailer", "upgrade", "proxy-authorization", "proxy-authenticate",
                                               "host", "content-length"};
  return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

void lower_in_place(std::string& text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
}

std::string lower(std::string text) {
  lower_in_place(text);
  return text;
}

// Headers as received, names lower-cased, in order; a client request's
// without httplib's connection pseudo-headers, neither shown to filters nor
// forwarded (the client's address travels as FilterInput.client and
// x-forwarded-for). An upstream's answer has none: a header of such a name
// there is the upstream's own, and kept.
enum class From { client, upstream };
http::Fields fields_of(const httplib::Headers& headers, From from) {
  http::Fields out;
  out.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    if (from == From::client && http::connection_pseudo_header(name)) continue;
    lower_in_place(out.emplace_back(name, value).first);
  }
  return out;
}

void send(const http::Response& from, httplib::Response& to) {
  to.status = from.status;
  std::string content_type = "application/octet-stream";
  for (const auto& [name, value] : from.headers) {
    if (name == "content-type") {
      content_type = value;
    } else if (!hop_by_hop(name)) {
      to.headers.emplace(name, value);
    }
  }
  if (!from.body.empty() || from.header("content-type")) to.set_content(from.body, content_type);
}

void send_error(httplib::Response& to, int status, ErrorCode code, const std::string& message) {
  send(http::error_response(status, code, message), to);
}

}  // namespace

struct ProxyServer::Impl {
  ProxyConfig config;
  http::FilterChain chain;
  httplib::Server server;

  Impl(ProxyConfig c, const plugvisor::Registry& registry)
      : config(std::move(c)), chain(registry, config.filters) {}

  const Route* route_for(const std::string& path) const {
    const Route* best = nullptr;
    for (const auto& route : config.routes) {
      if (path.rfind(route.prefix, 0) == 0 && (!best || route.prefix.size() > best->prefix.size())) best = &route;
    }
    return best;
  }

  // Kept-alive upstream clients, idle ones by upstream URL, shared by the
  // worker threads: a request takes one (the most recently used, whose
  // connection is warm) and gives it back. So the proxy holds as many
  // connections to an upstream as requests it has had in flight there at
  // once, not one per worker thread that ever served it: a client that
  // reconnects lands on another worker, and per-thread clients would grow
  // to one connection per worker (32), each holding a thread of a
  // thread-per-connection upstream (cpp-httplib's default has 8: the 9th
  // waits out another's keep-alive, 5 s).
  std::mutex clients_mutex;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle_clients;

  class Lease {
   public:
    Lease(Impl& impl, const std::string& upstream) : impl_(impl), upstream_(upstream) {
      {
        std::lock_guard lock(impl_.clients_mutex);
        auto& idle = impl_.idle_clients[upstream_];
        idle.reserve(max_idle_clients);  // so that giving back never allocates
        if (!idle.empty()) {
          client_ = std::move(idle.back());
          idle.pop_back();
          return;
        }
      }
      client_ = impl_.new_client(upstream_);
    }
    ~Lease() {
      std::lock_guard lock(impl_.clients_mutex);
      auto& idle = impl_.idle_clients[upstream_];
      if (idle.size() < max_idle_clients) idle.push_back(std::move(client_));
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    httplib::Client& operator*() const { return *client_; }

   private:
    Impl& impl_;
    const std::string& upstream_;
    std::unique_ptr<httplib::Client> client_;
  };

  std::unique_ptr<httplib::Client> new_client(const std::string& upstream) const {
    auto client = std::make_unique<httplib::Client>(upstream);
    client->set_tcp_nodelay(true);  // else ~88 ms per small call (PITFALLS.md)
    client->set_keep_alive(true);
    auto timeout = config.upstream_timeout;
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout).count();
    auto micros = static_cast<long>(
        std::chrono::duration_cast<std::chrono::microseconds>(timeout % std::chrono::seconds(1)).count());
    client->set_connection_timeout(seconds, micros);
    client->set_read_timeout(seconds, micros);
    client->set_write_timeout(seconds, micros);
    return client;
  }

  // The upstream's answer to the request (`filtered`, or `original` as
  // received for the bypass), or a 502 that says why there is none. With
  // `filtered`: its body is forwarded if `filtered_body` (else the original's,
  // which no filter saw), and it is moved from, except its headers when
  // `keep_headers` (the response hooks still show them).
  http::Response forward(const Route& route, const httplib::Request& original, http::Request* filtered,
                         bool filtered_body = false, bool keep_headers = true) {
    httplib::Request out;
    out.method = original.method;
    out.path = original.target;  // as received: percent-encoding and query intact
    std::string forwarded_for = original.remote_addr;
    auto wanted = [&](const std::string& name, const std::string& value) {
      if (hop_by_hop(name)) return false;
      if (name != "x-forwarded-for") return true;
      forwarded_for = value + ", " + original.remote_addr;
      return false;
    };
    if (filtered) {
      for (auto& [name, value] : filtered->headers) {
        if (!wanted(name, value)) continue;
        if (keep_headers) {
          out.headers.emplace(name, value);
        } else {
          out.headers.emplace(std::move(name), std::move(value));
        }
      }
      out.body = filtered_body ? std::move(filtered->body) : original.body;
    } else {
      for (const auto& [name, value] : original.headers) {
        if (http::connection_pseudo_header(name)) continue;
        std::string lowered = lower(name);
        if (wanted(lowered, value)) out.headers.emplace(std::move(lowered), value);
      }
      out.body = original.body;
    }
    out.headers.emplace("x-forwarded-for", forwarded_for);
    http::Response response;
    bool too_large = false;
    out.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
      if (response.body.size() + length > config.body.max) {
        too_large = true;
        return false;
      }
      response.body.append(data, length);
      return true;
    };
    auto result = [&] {
      Lease client(*this, route.upstream);
      return (*client).send(out);
    }();
    if (too_large) {
      return http::error_response(502, ErrorCode::too_large,
                                  "the upstream " + route.upstream + " answered a body over the proxy's limit of " +
                                      std::to_string(config.body.max) + " bytes (body.max)");
    }
    if (!result) {
      return http::error_response(502, ErrorCode::unavailable,
                                  "the upstream " + route.upstream + " of route '" + route.name +
                                      "' did not answer: " + httplib::to_string(result.error()) +
                                      " (is it running?)");
    }
    response.status = result->status;
    response.headers = fields_of(result->headers, From::upstream);
    std::erase_if(response.headers, [](const auto& field) { return hop_by_hop(field.first); });
    return response;
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    const Route* route = route_for(req.path);
    if (!route) {
      send_error(res, 404, ErrorCode::not_found, "no route for " + req.path + " (add one to routes in the configuration)");
      return;
    }
    bool body_fits = req.body.size() <= config.body.filter_limit;
    if (!body_fits && config.body.oversize == Oversize::refuse) {
      send_error(res, 413, ErrorCode::too_large,
                 "the request body is " + std::to_string(req.body.size()) + " bytes; this proxy filters at most " +
                     std::to_string(config.body.filter_limit) + " (body.filterLimit) and refuses larger ones");
      return;
    }
    http::FilterSelection selection = chain.select(req.path);
    if (selection.empty()) {  // the bypass: no plugin call, the request forwarded as received
      send(forward(*route, req, nullptr), res);
      return;
    }
    // The body goes into the filters' view of the request only when a body
    // hook will see it (the chain sets it aside for the others); else the
    // original's is forwarded as received.
    const bool body_to_filters = body_fits && selection.wants(http::Hook::request_body);
    const bool response_hooks = selection.wants(http::Hook::response_headers) ||
                                selection.wants(http::Hook::response_body);
    http::FilterInput input;
    input.request.method = req.method;
    input.request.path = req.path;
    input.request.query.reserve(req.params.size());
    for (const auto& [name, value] : req.params) input.request.query.emplace_back(name, value);
    input.request.headers = fields_of(req.headers, From::client);
    if (body_to_filters) input.request.body = req.body;
    input.client = req.remote_addr;
    input.route = route->name;

    http::RequestVerdict verdict = chain.on_request(selection, input, body_fits);
    log_failures(verdict.failures, req);
    http::Response response;
    if (verdict.respond) {
      response = std::move(*verdict.respond);
      if (verdict.closed) {  // a fail-closed error: no response hook rewrites it
        send(response, res);
        return;
      }
    } else {
      response = forward(*route, req, &input.request, body_to_filters, response_hooks);
    }
    bool response_fits = response.body.size() <= config.body.filter_limit;
    if (!response_fits && config.body.oversize == Oversize::refuse && selection.wants(http::Hook::response_body)) {
      send_error(res, 502, ErrorCode::too_large,
                 "the upstream's response body is " + std::to_string(response.body.size()) +
                     " bytes; this proxy filters at most " + std::to_string(config.body.filter_limit) +
                     " (body.filterLimit) and refuses larger ones");
      return;
    }
    log_failures(chain.on_response(selection, input, response, response_fits), req);
    send(response, res);
  }

  static void log_failures(const std::vector<http::FilterFailure>& failures, const httplib::Request& req) {
    for (const auto& failure : failures) {
      spdlog::warn("filter '{}' failed on {} {} ({}): {}", failure.type, req.method, req.path,
                   plugvisor::to_string(failure.code), failure.message);
    }
  }
};

ProxyServer::ProxyServer(ProxyConfig config, const plugvisor::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(config), registry)) {
  auto& server = impl_->server;
  auto handler = [impl = impl_.get()](const httplib::Request& req, httplib::Response& res) { impl->handle(req, res); };
  server.Get(".*", handler);
  server.Post(".*", handler);
  server.Put(".*", handler);
  server.Patch(".*", handler);
  server.Delete(".*", handler);
  server.Options(".*", handler);
  server.set_payload_max_length(impl_->config.body.max);
  server.set_keep_alive_max_count(1000);  // the default 5 reconnects every 5th request (PITFALLS.md)
  server.set_tcp_nodelay(true);
  server.new_task_queue = [] { return new httplib::ThreadPool(worker_threads); };
  server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("{} {}: {}", req.method, req.path, what);
    send_error(res, 500, ErrorCode::internal, "the proxy failed on this request: " + what);
  });
}

ProxyServer::~ProxyServer() { stop(); }

int ProxyServer::bind() {
  const auto& config = impl_->config;
  int port = config.listen_port == 0 ? impl_->server.bind_to_any_port(config.listen_host)
                                     : (impl_->server.bind_to_port(config.listen_host, config.listen_port)
                                            ? config.listen_port
                                            : -1);
  if (port < 0) {
    throw plugvisor::Error(ErrorCode::config, "cannot listen on " + config.listen_host + ":" +
                                                  std::to_string(config.listen_port) +
                                                  " (in use? change listen in the configuration)");
  }
  return port;
}

void ProxyServer::serve() { impl_->server.listen_after_bind(); }

void ProxyServer::stop() {
  if (impl_) impl_->server.stop();
}

}  // namespace proxy
