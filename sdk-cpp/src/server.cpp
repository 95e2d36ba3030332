#include "server.hpp"

#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include <httplib.h>

#include "socket_lock.hpp"

namespace plugvisor::sdk {

namespace {
thread_local std::optional<std::chrono::steady_clock::time_point> request_deadline;
}

std::optional<std::chrono::steady_clock::time_point> deadline() noexcept { return request_deadline; }

namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

// Worker threads: each kept-alive connection holds one for its lifetime.
constexpr std::size_t worker_threads = 32;
// How long in-flight calls may take to finish once a shutdown has begun.
constexpr auto drain_grace = std::chrono::seconds(5);
// How long serve() gets to return by itself once every call is done.
constexpr auto response_flush_time = std::chrono::milliseconds(100);

bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

void set_error(httplib::Response& res, ErrorCode code, const std::string& message) {
  res.status = http_status(code);
  res.set_content(protocol::error_body(code, message).dump(), "application/json");
}

ErrorCode code_for_status(int status) {
  switch (status) {
    case 400: return ErrorCode::invalid_input;
    case 401: return ErrorCode::unauthorized;
    case 404: case 405: return ErrorCode::not_found;
    case 413: return ErrorCode::too_large;
    case 503: return ErrorCode::unavailable;
    default: return ErrorCode::internal;
  }
}

}  // namespace

struct Server::Impl {
  LaunchConfig launch;
  std::map<std::string, Plugin::Handler> handlers;
  httplib::Server http;
  std::optional<SocketLock> lock;
  int listen_fd = -1;

  mutable std::mutex mutex;  // guards the fields below
  std::condition_variable changed;
  bool draining = false;
  int in_flight = 0;
  Clock::time_point last_activity = Clock::now();
  bool serve_returned = false;
  int exit_code = protocol::exit_ok;
  std::thread shutdown_thread;

  Impl(const LaunchConfig& l, std::map<std::string, Plugin::Handler> h) : launch(l), handlers(std::move(h)) {}

  ~Impl() {
    if (shutdown_thread.joinable()) shutdown_thread.join();
  }

  // A call is either admitted, and counted until its response has been
  // written, or refused because a shutdown has begun. Admission and the
  // shutdown decision take the same lock: no call starts after the decision.
  bool admit() {
    std::lock_guard guard(mutex);
    if (draining) return false;
    ++in_flight;
    last_activity = Clock::now();
    return true;
  }

  void finish() {
    std::lock_guard guard(mutex);
    --in_flight;
    last_activity = Clock::now();
    changed.notify_all();
  }

  // Ends the admitted call once `res` has been written: cpp-httplib destroys
  // the Response after writing it, and its destructor runs the content
  // provider's releaser (set directly, as there is no provider).
  void finish_after_write(httplib::Response& res) {
    auto once = std::make_shared<std::atomic<bool>>(false);
    res.content_provider_resource_releaser_ = [this, once](bool) {
      if (!once->exchange(true)) finish();
    };
  }

  void configure() {
    http.new_task_queue = [] { return new httplib::ThreadPool(worker_threads); };
    http.set_keep_alive_max_count(std::numeric_limits<int>::max());
    http.set_tcp_nodelay(true);
    http.set_payload_max_length(launch.max_body_bytes);
    // Remember the listening socket: cpp-httplib listens with a backlog of
    // 5, which a burst of connects overflows; bind() raises it.
    http.set_socket_options([this](int fd) {
      int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
      listen_fd = fd;
    });

    // cpp-httplib reads a POST body without Content-Length until the client
    // closes; answer at once instead of hanging a worker.
    http.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
      if (req.method == "POST" && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
        res.set_header("Connection", "close");
        set_error(res, ErrorCode::invalid_input, "POST needs a Content-Length header (send 0 for no body)");
        res.status = 411;
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });

    http.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"status":"ok"})", "application/json");
    });

    http.Post("/shutdown", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req, res)) return;
      res.status = 202;
      res.set_content(R"({"status":"shutting down"})", "application/json");
      begin_shutdown("asked through /shutdown");
    });

    http.Post(R"(/v1/([^/]+)/([^/]+)/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      handle_call(req, res);
    });

    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string message = res.status == 404 ? "no endpoint " + req.method + " " + req.path +
                                                    ": calls are POST /v1/{contract}/{type}/{method}"
                            : res.status == 413 ? "request body exceeds this plugin's limit of " +
                                                      std::to_string(launch.max_body_bytes) + " bytes"
                                                : "request failed with HTTP " + std::to_string(res.status);
      set_error(res, code_for_status(res.status), message);
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
      set_error(res, ErrorCode::internal, "the plugin failed while reading the request");
    });
  }

  // Checks the bearer token inside each handler (not in a pre-routing hook,
  // which would leave an unread body on a kept-alive connection).
  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    auto auth = req.get_header_value("Authorization");
    if (equal_constant_time(auth, "Bearer " + launch.token)) return true;
    set_error(res, ErrorCode::unauthorized,
              auth.empty() ? "missing Authorization header: send 'Authorization: Bearer <token>' with the token "
                             "from the launch configuration"
                           : "wrong bearer token: use the token from the launch configuration");
    return false;
  }

  void handle_call(const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res)) return;
    if (!admit()) {
      res.set_header("Connection", "close");
      set_error(res, ErrorCode::unavailable, "the plugin is shutting down; the call was not run");
      return;
    }
    finish_after_write(res);
    const std::string contract = req.matches[1];
    const std::string type = req.matches[2];
    const std::string method = req.matches[3];
    auto it = handlers.find(contract + "/" + type);
    if (it == handlers.end()) {
      set_error(res, ErrorCode::not_found, "this plugin provides no " + contract + " type '" + type + "'");
      return;
    }
    request_deadline.reset();
    if (auto header = req.get_header_value(std::string(protocol::deadline_header)); !header.empty()) {
      std::int64_t ms = -1;
      auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), ms);
      if (ec != std::errc() || end != header.data() + header.size() || ms < 0) {
        set_error(res, ErrorCode::invalid_input,
                  std::string(protocol::deadline_header) + " must be a whole number of milliseconds");
        return;
      }
      request_deadline = Clock::now() + std::chrono::milliseconds(ms);
    }
    const bool bytes = req.get_header_value("Content-Type").starts_with("application/octet-stream");
    Payload input{bytes ? Encoding::bytes : Encoding::json, req.body};
    const std::string what = contract + "/" + type + " " + method;
    try {
      Payload output = it->second(method, input);
      res.set_content(std::move(output.body), std::string(content_type(output.encoding)));
    } catch (const Error& e) {
      // Only the codes a handler may answer travel as such: 503 means "not
      // run" to the manager, and the host-side codes are not HTTP answers.
      bool wire = e.code() == ErrorCode::invalid_input || e.code() == ErrorCode::not_found ||
                  e.code() == ErrorCode::too_large || e.code() == ErrorCode::internal;
      set_error(res, wire ? e.code() : ErrorCode::internal,
                wire ? std::string(e.what())
                     : what + " failed (" + std::string(to_string(e.code())) + "): " + e.what());
    } catch (const std::exception& e) {
      set_error(res, ErrorCode::internal, what + " failed: " + e.what());
    } catch (...) {
      set_error(res, ErrorCode::internal, what + " failed");
    }
    request_deadline.reset();
  }

  void log(const char* level, const std::string& message) {
    std::string line = Json{{"level", level}, {"msg", message}}.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }

  // With `mutex` held and `draining` just set: announces the shutdown,
  // removes the socket file and starts the drain.
  void start_drain_locked(const std::string& reason) {
    shutdown_thread = std::thread([this, reason] { drain_and_exit(reason); });
  }

  void begin_shutdown(const std::string& reason) {
    std::lock_guard guard(mutex);
    if (draining) return;
    draining = true;
    start_drain_locked(reason);
  }

  // Waits for the admitted calls (bounded by the grace), then stops. A call
  // still running after the grace is abandoned and the exit code says so (1),
  // so that the manager never takes it for an idle exit.
  void drain_and_exit(const std::string& reason) {
    log("info", "shutting down: " + reason);
    // Remove the socket first: from here a connect fails at once (ENOENT),
    // which the manager reads as "never delivered".
    if (lock) lock->unlink_socket();
    std::unique_lock guard(mutex);
    bool drained = changed.wait_for(guard, drain_grace, [this] { return in_flight == 0; });
    if (!drained) {
      exit_code = 1;
      guard.unlock();
      log("error", std::to_string(in_flight) + " call(s) still running after the 5s grace; exiting anyway");
      guard.lock();
    }
    guard.unlock();
    http.stop();
    // cpp-httplib keeps idle kept-alive connections open until their own
    // timeout even after stop(): every response is written by now, so exit
    // here rather than wait for them.
    guard.lock();
    if (changed.wait_for(guard, response_flush_time, [this] { return serve_returned; })) return;
    int code = exit_code;
    guard.unlock();
    if (lock) lock->release();
    std::fflush(nullptr);
    std::_Exit(code);
  }
};

Server::Server(const LaunchConfig& launch, std::map<std::string, Plugin::Handler> handlers)
    : impl_(std::make_unique<Impl>(launch, std::move(handlers))) {
  impl_->configure();
}

Server::~Server() = default;

namespace {

// The port of "127.0.0.1:PORT" (0 for any), or -1 if malformed.
int parse_port(const std::string& address, std::string& host) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return -1;
  host = address.substr(0, colon);
  int port = -1;
  const char* begin = address.data() + colon + 1;
  const char* end = address.data() + address.size();
  auto [stop, ec] = std::from_chars(begin, end, port);
  if (ec != std::errc() || stop != end || begin == end || port < 0 || port > 65535) return -1;
  return port;
}

}  // namespace

std::string Server::bind() {
  const auto& launch = impl_->launch;
  auto& http = impl_->http;
  std::string reported;
  if (launch.transport == "unix") {
    impl_->lock.emplace(launch.address);
    http.set_address_family(AF_UNIX);
    mode_t old_mask = ::umask(0177);  // the socket is created 0600
    bool ok = http.bind_to_port(launch.address, 80);
    ::umask(old_mask);
    if (!ok) {
      throw Error(ErrorCode::unavailable, "cannot bind Unix socket " + launch.address +
                                              ": check that its directory exists and is writable");
    }
    ::chmod(launch.address.c_str(), 0600);
    reported = launch.address;
  } else {
    std::string host;
    int port = parse_port(launch.address, host);
    if (port < 0) throw Error(ErrorCode::config, "tcp address " + launch.address + " is not HOST:PORT (use 127.0.0.1:0)");
    if (host != "127.0.0.1") {
      throw Error(ErrorCode::config, "tcp address " + launch.address +
                                         " is not on loopback: plugins only listen on 127.0.0.1");
    }
    if (port == 0) {
      port = http.bind_to_any_port("127.0.0.1");
    } else if (!http.bind_to_port("127.0.0.1", port)) {
      port = -1;
    }
    if (port <= 0) throw Error(ErrorCode::unavailable, "cannot bind tcp address " + launch.address);
    reported = "127.0.0.1:" + std::to_string(port);
  }
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, SOMAXCONN);
  return reported;
}

int Server::serve() {
  {
    // The idle clock starts when the plugin can be called, not at its launch.
    std::lock_guard guard(impl_->mutex);
    impl_->last_activity = Clock::now();
  }
  impl_->http.listen_after_bind();
  std::lock_guard guard(impl_->mutex);
  impl_->serve_returned = true;
  impl_->changed.notify_all();
  if (impl_->lock) impl_->lock->release();
  return impl_->exit_code;
}

void Server::begin_shutdown(const std::string& reason) { impl_->begin_shutdown(reason); }

bool Server::shutdown_if_idle(std::chrono::milliseconds idle_timeout) {
  std::lock_guard guard(impl_->mutex);
  if (impl_->draining || impl_->in_flight > 0 || Clock::now() - impl_->last_activity < idle_timeout) return false;
  impl_->draining = true;
  impl_->start_drain_locked("idle for " + protocol::format_duration(idle_timeout));
  return true;
}

}  // namespace detail
}  // namespace plugvisor::sdk
