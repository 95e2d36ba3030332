// The admin API client: endpoint resolution, requests, error messages.
#include "admin_client.hpp"

#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include <cctype>
#include <cstdio>
#include <iostream>

#include <httplib.h>

#include "commands.hpp"
#include "plugvisor/manager.hpp"
#include "plugvisor/wire/address.hpp"

namespace plugvisor::cli {

namespace fs = std::filesystem;

namespace {

constexpr std::chrono::seconds connect_timeout{5};
constexpr std::chrono::seconds read_timeout{30};
/// A follow stream carries a heartbeat every 15 s of silence: four missed
/// ones mean the daemon is gone.
constexpr std::chrono::seconds follow_timeout{60};

const std::string* variable(const std::map<std::string, std::string>& environment, const std::string& name) {
  auto it = environment.find(name);
  return it == environment.end() || it->second.empty() ? nullptr : &it->second;
}

/// An endpoint from --admin or PLUGVISOR_ADMIN: http://HOST:PORT (a trailing
/// "/" allowed; HOST:PORT by the one rule, wire::parse_host_port) or a socket path.
AdminEndpoint parse_address(const std::string& text, const std::string& origin) {
  AdminEndpoint endpoint;
  const std::string scheme = "http://";
  if (text.starts_with(scheme)) {
    std::string rest = text.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    auto parsed = wire::parse_host_port(rest, {.localhost = true, .any_port = false});
    if (!parsed) {
      throw Error(ErrorCode::config,
                  origin + " " + text + " " + parsed.problem + "; write http://HOST:PORT, e.g. http://127.0.0.1:7070");
    }
    endpoint.tcp = true;
    endpoint.host = parsed.address.host;
    endpoint.port = parsed.address.port;
  } else if (text.find("://") != std::string::npos) {
    throw Error(ErrorCode::config, origin + " " + text +
                                       ": only http:// (loopback TCP) or a Unix socket path; the admin API has no TLS");
  } else {
    endpoint.socket = text;
  }
  return endpoint;
}

/// Why nothing answers on a Unix socket path, as far as the file system tells.
std::string socket_diagnosis(const std::string& socket) {
  std::error_code ec;
  auto status = fs::status(socket, ec);
  if (ec || !fs::exists(status)) return " (there is no socket file)";
  if (!fs::is_socket(status)) return " (the file there is not a socket)";
  if (::access(socket.c_str(), R_OK | W_OK) != 0) {
    return " (permission denied: the socket belongs to another user; run as that user, or with sudo -u)";
  }
  return " (the socket file is there but nothing listens: the daemon that made it is gone)";
}

AdminError unreachable(const AdminEndpoint& endpoint, httplib::Error error) {
  std::string why = !endpoint.tcp                            ? socket_diagnosis(endpoint.socket)
                    : error == httplib::Error::ConnectionTimeout ? " (the connection timed out)"
                                                                 : " (the connection was refused)";
  return AdminError("", "no daemon answers on " + endpoint.display() + why +
                            ": start one with `plugvisor serve`, or point to it with --admin",
                    exit_unreachable);
}

std::string user_name(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found) return found->pw_name;
  return "uid " + std::to_string(uid);
}

/// Before anything is sent over a Unix socket: the process listening there
/// must run as this user (or root). Another user's process there, one who
/// made the path first, would receive the request (a call's data, a token)
/// and could answer anything. The check connects once by itself: the socket
/// file it reaches cannot be swapped for the next connection by another user
/// in a directory they cannot write (the default private one) or a sticky
/// one (/tmp), since the file is the daemon's.
void check_daemon_owner(const std::string& socket) {
  sockaddr_un addr{};
  if (socket.size() >= sizeof addr.sun_path) return;  // cpp-httplib's connect fails and says so
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket.data(), socket.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  ucred peer{};
  socklen_t length = sizeof peer;
  bool known = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
               ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) == 0;
  ::close(fd);
  if (!known) return;  // nothing listens: the request's own error says so
  const uid_t me = ::geteuid();
  if (peer.uid == me || peer.uid == 0) return;
  throw AdminError("untrusted_daemon",
                   "the process listening on " + socket + " runs as " + user_name(peer.uid) + " (pid " +
                       std::to_string(peer.pid) + "), not as you (" + user_name(me) +
                       "): nothing was sent to it, since another user could have made that socket to read your "
                       "requests; run the command as that user (sudo -u " + user_name(peer.uid) +
                       ") if it is theirs, or point --admin at your own daemon",
                   exit_failed);
}

AdminError broken(const AdminEndpoint& endpoint, httplib::Error error) {
  return AdminError("",
                    "the daemon on " + endpoint.display() + " did not answer (" + httplib::to_string(error) +
                        "): it may be stopping or overloaded; check it with `plugvisor status`",
                    exit_unreachable);
}

/// The AdminError for a non-2xx answer.
AdminError failure(const AdminEndpoint& endpoint, int status, const std::string& body) {
  if (status == 401) {
    return AdminError("unauthorized",
                      endpoint.token.empty()
                          ? "the admin API at " + endpoint.display() +
                                " wants a token: pass --token or set PLUGVISOR_ADMIN_TOKEN"
                          : "the admin API at " + endpoint.display() +
                                " refused the token: pass its admin.token with --token or PLUGVISOR_ADMIN_TOKEN",
                      exit_failed);
  }
  Json parsed = protocol::parse_json_or_discarded(body);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    const Json& error = parsed["error"];
    std::string code = error.value("code", "");
    std::string message = error.value("message", "");
    if (!code.empty() || !message.empty()) return AdminError(code.empty() ? "error" : code, message, exit_failed);
  }
  return AdminError("bad_reply",
                    "the daemon on " + endpoint.display() + " answered HTTP " + std::to_string(status) +
                        " without an error body" + (body.empty() ? "" : ": " + body.substr(0, 200)) +
                        (status == 404 ? " (is it an older plugvisor, or not plugvisor at all?)" : ""),
                    exit_failed);
}

Json parse_answer(const AdminEndpoint& endpoint, const std::string& body) {
  Json parsed = protocol::parse_json_or_discarded(body);
  if (parsed.is_discarded()) {
    throw AdminError("bad_reply", "the daemon on " + endpoint.display() + " answered with a body that is not JSON: " +
                                      body.substr(0, 200),
                     exit_failed);
  }
  return parsed;
}

}  // namespace

void add_admin_options(CLI::App* command, AdminTarget& target) {
  command->add_option("--admin", target.admin,
                      "The daemon's admin socket, or http://127.0.0.1:PORT (default: --config, $PLUGVISOR_ADMIN, "
                      "the default socket)");
  command->add_option("--config", target.config, "Find the admin socket in this configuration file");
  command->add_option("--token", target.token, "The admin token for TCP (default: $PLUGVISOR_ADMIN_TOKEN)");
}

std::string AdminEndpoint::display() const {
  if (!tcp) return socket;
  wire::HostPort address{host, static_cast<std::uint16_t>(port), host.find(':') != std::string::npos};
  return "http://" + address.text();
}


AdminEndpoint resolve_endpoint(const AdminTarget& target, const std::map<std::string, std::string>& environment) {
  AdminEndpoint endpoint;
  if (!target.admin.empty()) {
    endpoint = parse_address(target.admin, "--admin");
  } else if (!target.config.empty()) {
    endpoint.socket = load_configuration(target.config, environment).admin.socket.string();
  } else if (const std::string* admin = variable(environment, "PLUGVISOR_ADMIN")) {
    endpoint = parse_address(*admin, "PLUGVISOR_ADMIN");
  } else if (const std::string* socket = variable(environment, "PLUGVISOR_ADMIN_SOCKET")) {
    endpoint.socket = fs::absolute(*socket).lexically_normal().string();
  } else {
    endpoint.socket = default_admin_socket(environment).string();
  }
  if (!target.token.empty()) {
    endpoint.token = target.token;
  } else if (const std::string* token = variable(environment, "PLUGVISOR_ADMIN_TOKEN")) {
    endpoint.token = *token;
  }
  return endpoint;
}

struct AdminClient::Impl {
  httplib::Client http;
  bool peer_checked = false;
  explicit Impl(const AdminEndpoint& endpoint)
      : http(endpoint.tcp ? endpoint.host : endpoint.socket, endpoint.tcp ? endpoint.port : 80) {
    if (!endpoint.tcp) {
      http.set_address_family(AF_UNIX);
    } else {
      http.set_tcp_nodelay(true);
      if (!endpoint.token.empty()) http.set_bearer_token_auth(endpoint.token);
    }
    http.set_keep_alive(true);
    http.set_connection_timeout(connect_timeout);
    http.set_read_timeout(read_timeout);
  }
};

AdminClient::AdminClient(AdminEndpoint endpoint)
    : endpoint_(std::move(endpoint)), impl_(std::make_unique<Impl>(endpoint_)) {}

void AdminClient::check_peer() {
  if (endpoint_.tcp || impl_->peer_checked) return;
  check_daemon_owner(endpoint_.socket);
  impl_->peer_checked = true;
}

AdminClient::~AdminClient() = default;

Json AdminClient::get(const std::string& path) {
  check_peer();
  impl_->http.set_read_timeout(read_timeout);
  auto result = impl_->http.Get(path);
  if (!result) {
    if (result.error() == httplib::Error::Connection || result.error() == httplib::Error::ConnectionTimeout) {
      throw unreachable(endpoint_, result.error());
    }
    throw broken(endpoint_, result.error());
  }
  if (result->status / 100 != 2) throw failure(endpoint_, result->status, result->body);
  return parse_answer(endpoint_, result->body);
}

Json AdminClient::post(const std::string& path, const Json& body, std::chrono::seconds timeout) {
  return parse_answer(endpoint_, post_raw(path, body.dump(), "application/json", timeout, {}).body);
}

AdminClient::RawAnswer AdminClient::post_raw(const std::string& path, const std::string& body,
                                             const std::string& content_type, std::chrono::seconds timeout,
                                             const std::map<std::string, std::string>& headers) {
  check_peer();
  impl_->http.set_read_timeout(timeout);
  httplib::Headers sent(headers.begin(), headers.end());
  auto result = impl_->http.Post(path, sent, body, content_type);
  if (!result) {
    if (result.error() == httplib::Error::Connection || result.error() == httplib::Error::ConnectionTimeout) {
      throw unreachable(endpoint_, result.error());
    }
    throw broken(endpoint_, result.error());
  }
  if (result->status / 100 != 2) throw failure(endpoint_, result->status, result->body);
  return {std::move(result->body), result->get_header_value("Content-Type"),
          result->get_header_value("X-Plugvisor-Provider")};
}

void AdminClient::follow(const std::string& path, const std::function<bool(const Json&)>& on_line) {
  check_peer();
  impl_->http.set_read_timeout(follow_timeout);
  int status = 0;
  std::string error_body;
  std::string pending;
  bool stopped = false;
  auto result = impl_->http.Get(
      path,
      [&](const httplib::Response& response) {
        status = response.status;
        return true;
      },
      [&](const char* data, std::size_t size) {
        if (status / 100 != 2) {
          error_body.append(data, size);
          return error_body.size() < 64 * 1024;
        }
        pending.append(data, size);
        std::size_t start = 0;
        for (auto end = pending.find('\n'); end != std::string::npos; end = pending.find('\n', start)) {
          std::string line = pending.substr(start, end - start);
          start = end + 1;
          if (line.empty()) continue;
          Json parsed = protocol::parse_json_or_discarded(line);
          if (parsed.is_discarded()) continue;  // not a line of the protocol: skip it, keep following
          if (!on_line(parsed)) {
            stopped = true;
            return false;
          }
        }
        pending.erase(0, start);
        return true;
      });
  if (stopped) return;
  if (!result) {
    if (result.error() == httplib::Error::Connection || result.error() == httplib::Error::ConnectionTimeout) {
      throw unreachable(endpoint_, result.error());
    }
    if (status == 0) throw broken(endpoint_, result.error());
    throw AdminError("", "the log stream from " + endpoint_.display() + " broke off (" +
                             httplib::to_string(result.error()) + "): the daemon stopped or stopped answering",
                     exit_unreachable);
  }
  if (status / 100 != 2) throw failure(endpoint_, status, error_body.empty() ? result->body : error_body);
}

std::string url_segment(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

void run_admin_command(int& exit_code, const std::function<void()>& body) {
  try {
    body();
  } catch (const AdminError& e) {
    std::cout.flush();
    if (e.code().empty()) {
      std::fprintf(stderr, "plugvisor: %s\n", e.what());
    } else {
      std::fprintf(stderr, "plugvisor: %s: %s\n", e.code().c_str(), e.what());
    }
    exit_code = e.exit_code();
  }
}

}  // namespace plugvisor::cli
