#include "plugin_client.hpp"

#include <sys/socket.h>

#include <httplib.h>

namespace plugvisor::detail {

namespace {

using Clock = std::chrono::steady_clock;

void set_timeouts(httplib::Client& client, std::chrono::milliseconds budget) {
  auto ms = std::max<std::int64_t>(budget.count(), 1);
  auto sec = static_cast<time_t>(ms / 1000);
  auto usec = static_cast<time_t>((ms % 1000) * 1000);
  client.set_connection_timeout(sec, usec);
  client.set_read_timeout(sec, usec);
  client.set_write_timeout(sec, usec);
}

}  // namespace

PluginClient::PluginClient(bool unix_socket, std::string address, std::string token,
                           std::shared_ptr<std::atomic<std::uint64_t>> connections)
    : unix_socket_(unix_socket),
      address_(std::move(address)),
      token_(std::move(token)),
      connections_(std::move(connections)) {}

PluginClient::~PluginClient() = default;

std::unique_ptr<httplib::Client> PluginClient::connect() const {
  std::unique_ptr<httplib::Client> client;
  if (unix_socket_) {
    client = std::make_unique<httplib::Client>(address_, 80);
    client->set_address_family(AF_UNIX);
  } else {
    auto colon = address_.rfind(':');
    client = std::make_unique<httplib::Client>(address_.substr(0, colon), std::stoi(address_.substr(colon + 1)));
    client->set_tcp_nodelay(true);
  }
  client->set_keep_alive(true);
  return client;
}

std::unique_ptr<httplib::Client> PluginClient::acquire() {
  std::vector<Pooled> stale;  // closed outside the lock
  {
    std::lock_guard lock(mutex_);
    auto now = Clock::now();
    while (!idle_.empty()) {
      Pooled pooled = std::move(idle_.back());
      idle_.pop_back();
      if (now - pooled.idle_since < max_idle_time) return std::move(pooled.client);
      stale.push_back(std::move(pooled));
    }
  }
  // A pooled Client lives as long as its connection: a reply with
  // "Connection: close" discards it (see post()), so each one made here is
  // one connection to the plugin.
  ++*connections_;
  return connect();
}

void PluginClient::release(std::unique_ptr<httplib::Client> client) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < max_idle) idle_.push_back(Pooled{std::move(client), Clock::now()});
}

void PluginClient::close_idle() {
  std::vector<Pooled> closing;
  std::lock_guard lock(mutex_);
  closing.swap(idle_);
}

HttpReply PluginClient::post(const std::string& path, const Payload& payload, Clock::time_point deadline) {
  auto budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (budget.count() <= 0) throw TransportError{TransportFailure::lost, "the deadline passed before the call was sent"};
  auto client = acquire();
  set_timeouts(*client, budget);
  httplib::Headers headers{{"Authorization", "Bearer " + token_},
                           {std::string(protocol::deadline_header), std::to_string(budget.count())}};
  auto result = client->Post(path, headers, payload.body, std::string(content_type(payload.encoding)));
  if (!result) {
    auto error = result.error();
    bool never = error == httplib::Error::Connection || error == httplib::Error::ConnectionTimeout;
    throw TransportError{never ? TransportFailure::not_delivered : TransportFailure::lost, httplib::to_string(error)};
  }
  HttpReply reply{result->status, result->get_header_value("Content-Type"), std::move(result->body)};
  if (result->get_header_value("Connection") != "close") release(std::move(client));
  return reply;
}

std::optional<HttpReply> PluginClient::health(std::chrono::milliseconds timeout) {
  auto client = connect();
  client->set_keep_alive(false);
  set_timeouts(*client, timeout);
  auto result = client->Get("/healthz");
  if (!result) return std::nullopt;
  return HttpReply{result->status, result->get_header_value("Content-Type"), result->body};
}

}  // namespace plugvisor::detail
