#include "server.hpp"

#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

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
// How long responses of finished calls get to be written before the exit.
constexpr auto response_flush_time = std::chrono::milliseconds(250);

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

  mutable std::mutex mutex;
  std::condition_variable drained;
  std::condition_variable served;
  bool serve_returned = false;
  std::thread shutdown_thread;

  ~Impl() {
    if (shutdown_thread.joinable()) shutdown_thread.join();
  }
  bool draining = false;
  int in_flight = 0;
  Clock::time_point last_activity = Clock::now();

  Impl(const LaunchConfig& l, std::map<std::string, Plugin::Handler> h) : launch(l), handlers(std::move(h)) {}

  // Counts a call in flight for the lifetime of the guard; refuses it if a
  // shutdown has begun (so a call never starts after the idle decision).
  class CallGuard {
   public:
    explicit CallGuard(Impl& impl) : impl_(impl) {
      std::lock_guard lock(impl_.mutex);
      admitted_ = !impl_.draining;
      if (admitted_) {
        ++impl_.in_flight;
        impl_.last_activity = Clock::now();
      }
    }
    ~CallGuard() {
      if (!admitted_) return;
      std::lock_guard lock(impl_.mutex);
      --impl_.in_flight;
      impl_.last_activity = Clock::now();
      impl_.drained.notify_all();
    }
    bool admitted() const { return admitted_; }

   private:
    Impl& impl_;
    bool admitted_;
  };

  void configure() {
    http.new_task_queue = [] { return new httplib::ThreadPool(worker_threads); };
    http.set_keep_alive_max_count(std::numeric_limits<int>::max());
    http.set_tcp_nodelay(true);
    http.set_payload_max_length(launch.max_body_bytes);

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
    CallGuard guard(*this);
    if (!guard.admitted()) {
      res.set_header("Connection", "close");
      set_error(res, ErrorCode::unavailable, "the plugin is shutting down; the call was not run");
      return;
    }
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
      try {
        request_deadline = Clock::now() + std::chrono::milliseconds(std::stoll(header));
      } catch (const std::exception&) {
        set_error(res, ErrorCode::invalid_input, std::string(protocol::deadline_header) + " must be an integer");
        return;
      }
    }
    Payload input{req.get_header_value("Content-Type") == "application/octet-stream" ? Encoding::bytes
                                                                                      : Encoding::json,
                  req.body};
    try {
      Payload output = it->second(method, input);
      res.set_content(std::move(output.body), std::string(content_type(output.encoding)));
    } catch (const Error& e) {
      set_error(res, e.code(), e.what());
    } catch (const std::exception& e) {
      set_error(res, ErrorCode::internal, contract + "/" + type + " " + method + " failed: " + e.what());
    } catch (...) {
      set_error(res, ErrorCode::internal, contract + "/" + type + " " + method + " failed");
    }
    request_deadline.reset();
  }

  void begin_shutdown(const std::string& reason) {
    {
      std::lock_guard guard(mutex);
      if (draining) return;
      draining = true;
    }
    std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"shutting down: %s\"}\n", reason.c_str());
    std::fflush(stderr);
    // Remove the socket first: from here a connect fails at once (ENOENT),
    // which the manager reads as "never delivered" and retries elsewhere.
    if (lock) lock->unlink_socket();
    std::lock_guard guard(mutex);
    shutdown_thread = std::thread([this] { finish_shutdown(); });
  }

  // Waits for in-flight calls (bounded by the grace), then stops listening.
  // cpp-httplib keeps idle kept-alive connections open until their timeout
  // even after stop(), so if serve() has not returned shortly after, the
  // process cleans up and exits here: no call can still be running.
  void finish_shutdown() {
    std::unique_lock guard(mutex);
    drained.wait_for(guard, drain_grace, [this] { return in_flight == 0; });
    guard.unlock();
    http.stop();
    guard.lock();
    if (served.wait_for(guard, response_flush_time, [this] { return serve_returned; })) return;
    guard.unlock();
    if (lock) lock->release();
    std::fflush(nullptr);
    std::_Exit(protocol::exit_ok);
  }
};

Server::Server(const LaunchConfig& launch, std::map<std::string, Plugin::Handler> handlers)
    : impl_(std::make_unique<Impl>(launch, std::move(handlers))) {
  impl_->configure();
}

Server::~Server() = default;

std::string Server::bind() {
  const auto& launch = impl_->launch;
  auto& http = impl_->http;
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
    return launch.address;
  }
  auto colon = launch.address.rfind(':');
  std::string host = colon == std::string::npos ? launch.address : launch.address.substr(0, colon);
  if (host != "127.0.0.1" && host != "localhost") {
    throw Error(ErrorCode::config, "tcp address " + launch.address +
                                       " is not on loopback: plugins only listen on 127.0.0.1");
  }
  int port = 0;
  try {
    port = colon == std::string::npos ? 0 : std::stoi(launch.address.substr(colon + 1));
  } catch (const std::exception&) {
    throw Error(ErrorCode::config, "tcp address " + launch.address + " has no valid port (use 127.0.0.1:0)");
  }
  if (port == 0) {
    port = http.bind_to_any_port("127.0.0.1");
  } else if (!http.bind_to_port("127.0.0.1", port)) {
    port = -1;
  }
  if (port <= 0) throw Error(ErrorCode::unavailable, "cannot bind tcp address " + launch.address);
  return "127.0.0.1:" + std::to_string(port);
}

void Server::serve() {
  impl_->http.listen_after_bind();
  {
    std::lock_guard guard(impl_->mutex);
    impl_->serve_returned = true;
  }
  impl_->served.notify_all();
  if (impl_->lock) impl_->lock->release();
}

void Server::begin_shutdown(const std::string& reason) { impl_->begin_shutdown(reason); }

bool Server::shutdown_if_idle(std::chrono::milliseconds idle_timeout) {
  {
    std::lock_guard guard(impl_->mutex);
    if (impl_->draining || impl_->in_flight > 0 || Clock::now() - impl_->last_activity < idle_timeout) {
      return false;
    }
  }
  impl_->begin_shutdown("idle for " + protocol::format_duration(idle_timeout));
  return true;
}

bool Server::shutting_down() const {
  std::lock_guard guard(impl_->mutex);
  return impl_->draining;
}

}  // namespace detail
}  // namespace plugvisor::sdk
