#include "plugin_session.hpp"

#include <signal.h>

#include "process/environment.hpp"
#include "transport/token.hpp"

namespace plugvisor::cli {

PluginSession::PluginSession(const std::filesystem::path& plugin, const std::filesystem::path& dir,
                             SessionOptions options)
    : token_(detail::random_token()), socket_path_((dir / "plugin.sock").string()), tcp_(options.tcp) {
  Json config{{"protocolVersion", 1},
              {"id", "validate"},
              {"type", tcp_ ? "tcp" : "unix"},
              {"address", tcp_ ? "127.0.0.1:0" : socket_path_},
              {"idleTimeout", "0"},
              {"token", token_},
              {"configTypes", Json::array()}};
  config.update(options.overrides);
  for (const auto& member : options.without) config.erase(member);
  detail::SpawnSpec spec;
  spec.path = plugin.string();
  spec.args = {"--config", options.config_on_stdin ? "-" : config.dump()};
  spec.env = detail::plugin_environment({});
  spec.pipe_stdin = true;
  spec.stdout_mode = detail::StdoutMode::handshake;
  std::optional<StartGate::Start> place;
  if (options.gate) place.emplace(options.gate->begin());
  child_ = reactor_.spawn(std::move(spec));
  auto deadline = std::chrono::steady_clock::now() + options.start_timeout;
  if (options.config_on_stdin) child_->write_stdin(config.dump() + "\n", deadline);
  first_line_ = child_->wait_first_line(deadline);
  if (first_line_) {
    handshake_ = protocol::parse_json_or_discarded(*first_line_);
    if (!handshake_.is_object()) handshake_ = nullptr;
  }
}

PluginSession::~PluginSession() {
  child_->close_stdin();
  child_->signal(SIGKILL);
  child_->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(5));
}

Endpoint PluginSession::endpoint() const {
  if (!tcp_) return Endpoint{true, socket_path_};
  return Endpoint{false, handshake_.is_object() ? handshake_.value("address", "") : ""};
}

std::optional<RawResponse> PluginSession::request(const std::string& method, const std::string& path,
                                                  const std::string& body, const std::string& content_type,
                                                  const std::string& token, std::string& error,
                                                  std::chrono::milliseconds timeout) {
  // What the manager would send goes through the manager's own client, byte
  // for byte; only the requests it never sends (no token, a wrong one, other
  // endpoints) are written by hand.
  const bool health = method == "GET" && path == "/healthz" && token.empty();
  const bool call = method == "POST" && token == token_ && !token.empty();
  if (health || call) return managed_request(health, path, body, content_type, error, timeout);
  auto connection = RawConnection::open(endpoint(), error);
  if (!connection) return std::nullopt;
  if (!connection->send(http_request(endpoint(), method, path, body, content_type, token))) {
    error = "the plugin closed the connection while the request was sent";
    return std::nullopt;
  }
  return connection->receive(timeout, error);
}

std::optional<RawResponse> PluginSession::managed_request(bool health, const std::string& path,
                                                          const std::string& body, const std::string& content_type,
                                                          std::string& error, std::chrono::milliseconds timeout) {
  if (!client_) {
    try {
      client_ = std::make_unique<detail::PluginClient>(!tcp_, endpoint().address, token_,
                                                       std::make_shared<std::atomic<std::uint64_t>>(0));
    } catch (const std::exception& e) {
      error = e.what();  // an address the handshake made up
      return std::nullopt;
    }
  }
  std::optional<detail::HttpReply> reply;
  if (health) {
    auto answer = client_->health(timeout);
    if (!answer.reply) error = answer.malformed.empty() ? "no answer within " + std::to_string(timeout.count()) + " ms"
                                                        : answer.malformed;
    reply = std::move(answer.reply);
  } else {
    auto encoding = content_type == "application/octet-stream" ? Encoding::bytes : Encoding::json;
    try {
      reply = client_->post(path, Payload{encoding, body}, std::chrono::steady_clock::now() + timeout);
    } catch (const detail::TransportError& e) {
      error = e.detail;
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (!reply) return std::nullopt;
  RawResponse response{reply->status, {{"content-type", reply->content_type}}, std::move(reply->body)};
  return response;
}

std::optional<detail::ExitStatus> PluginSession::wait_exit(std::chrono::milliseconds limit) {
  return child_->wait_until(std::chrono::steady_clock::now() + limit);
}

}  // namespace plugvisor::cli
