// plugvisor contracts: the typed interfaces hosts call and plugins implement,
// the shared error type, and the wire vocabulary of protocol v1.
//
// A contract is declared once, as an interface plus its method table
// (ContractTraits). From that table come the typed wrapper a host gets from
// the registry (Remote<C>), the server-side dispatch in the C++ SDK
// (dispatch()), and the method listing of known_contracts().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace plugvisor {

/// Raw bytes as they travel on the wire (no encoding, no base64).
using Bytes = std::string;
/// A borrowed view of raw bytes; valid for the duration of the call only.
using BytesView = std::string_view;
using Json = nlohmann::json;

// ---------------------------------------------------------------------------
// Errors

/// What went wrong, as a code a caller can switch on. The first six are the
/// protocol's wire codes; the rest arise on the host side.
enum class ErrorCode {
  invalid_input,  ///< 400: the request body is not what the method takes
  unauthorized,   ///< 401: missing or wrong bearer token
  not_found,      ///< 404: unknown contract, type, method or plugin
  too_large,      ///< 413: the request body exceeds the plugin's limit
  internal,       ///< 500: the plugin's handler failed
  unavailable,    ///< 503: the plugin is shutting down, or cannot be started
  timeout,        ///< the call's deadline passed before the answer arrived
  crashed,        ///< the plugin died while the call was in flight
  bad_reply,      ///< the plugin answered something the protocol does not allow
  start_failed,   ///< the plugin could not be launched (probe, handshake, health)
  conflict,       ///< a provider is already registered under that name
  config,         ///< invalid configuration or usage
};

/// The wire name of a code ("invalid_input", "timeout", ...).
std::string_view to_string(ErrorCode code) noexcept;
/// The code for a wire name, or nullopt if the name is unknown.
std::optional<ErrorCode> error_code_from_string(std::string_view name) noexcept;
/// The HTTP status of a code: the protocol's for wire codes; for host-side
/// codes the status a gateway would use (timeout 504, crashed and bad_reply
/// 502, start_failed 503, conflict 409, config 400).
int http_status(ErrorCode code) noexcept;

/// The one exception type of plugvisor. Every failure a caller must handle
/// (plugin unavailable, timed out, crashed, bad reply) is thrown as an Error
/// whose message names the plugin and says what to do.
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message);
  /// The machine-readable code.
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// ---------------------------------------------------------------------------
// The wire: payloads, channels, deadlines, protocol constants

/// How a payload is encoded on the wire.
enum class Encoding {
  none,   ///< no input / no result: sent as the JSON `{}`
  json,   ///< application/json
  bytes,  ///< application/octet-stream, raw
};

/// The content type that goes with an encoding.
std::string_view content_type(Encoding encoding) noexcept;

/// A request or response body with its encoding.
struct Payload {
  Encoding encoding = Encoding::none;
  std::string body;
};

/// Transport to one provider (one contract and type). The typed wrappers turn
/// method calls into Channel::call; the manager implements it over HTTP,
/// LocalChannel in-process. Implementations are thread-safe.
class Channel {
 public:
  virtual ~Channel() = default;
  /// Calls `method` with `input`; returns the result or throws Error.
  virtual Payload call(std::string_view method, Payload input) = 0;
};

/// Protocol v1 constants shared by the manager and the SDKs.
namespace protocol {
inline constexpr int version = 1;
inline constexpr std::string_view deadline_header = "X-Plugvisor-Deadline-Ms";
inline constexpr std::string_view env_protocol = "PLUGVISOR_PROTOCOL";
inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 2;
inline constexpr int exit_bind = 3;
/// Longest Unix socket path (sun_path holds 108 bytes with the terminator).
inline constexpr std::size_t max_socket_path = 107;

/// True if `name` may be a plugin, contract or type name:
/// [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
bool is_valid_name(std::string_view name) noexcept;

/// Parses a duration: a whole number with a unit ("250ms", "10s", "5m",
/// "1h"), or "0". Throws Error(config) naming the text on anything else.
std::chrono::milliseconds parse_duration(std::string_view text);
/// Formats a duration the way parse_duration reads it, in the largest exact unit.
std::string format_duration(std::chrono::milliseconds duration);

/// The error body: {"error":{"code":"...","message":"..."}}.
Json error_body(ErrorCode code, std::string_view message);
}  // namespace protocol

/// Sets the deadline of every plugin call this thread makes while the scope
/// lives. Scopes nest, and an inner scope can only shorten the deadline,
/// never extend it. Without one, the manager's call timeout applies.
class DeadlineScope {
 public:
  explicit DeadlineScope(std::chrono::milliseconds budget);
  ~DeadlineScope();
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

  /// The current thread's deadline, if a scope is active.
  static std::optional<std::chrono::steady_clock::time_point> current() noexcept;

 private:
  std::optional<std::chrono::steady_clock::time_point> previous_;
};

// ---------------------------------------------------------------------------
// The contracts

/// The base of every contract: `ping` answers if the provider is alive.
class PluginBase {
 public:
  virtual ~PluginBase() = default;
  /// Returns normally if the provider can serve calls.
  virtual void ping() {}
};

/// Transforms bytes into bytes (text, documents, images...).
class DataProcessor : public PluginBase {
 public:
  /// Processes `input` and returns the result.
  virtual Bytes process_data(BytesView input) = 0;
  /// The formats (free-form names such as "text/plain") this processor accepts.
  virtual std::vector<std::string> supported_formats() = 0;
};

/// Per-contract declaration: the wire name and the method table. Specialised
/// once per contract, below; nothing else names a contract's methods.
template <class Contract>
struct ContractTraits;

/// The typed wrapper a host receives for a provider it reaches over a Channel.
/// Specialised once per contract, each method a one-line forward.
template <class Contract>
class Remote;

}  // namespace plugvisor

#include "plugvisor/detail/method_table.hpp"

namespace plugvisor {

template <>
struct ContractTraits<PluginBase> {
  static constexpr std::string_view name = "pluginBase";
  static constexpr auto methods = std::tuple{
      detail::MethodSpec{"ping", &PluginBase::ping},
  };
};

template <>
struct ContractTraits<DataProcessor> {
  static constexpr std::string_view name = "dataProcessor";
  static constexpr auto methods = std::tuple_cat(
      ContractTraits<PluginBase>::methods,
      std::tuple{
          detail::MethodSpec{"processData", &DataProcessor::process_data},
          detail::MethodSpec{"supportedFormats", &DataProcessor::supported_formats},
      });
};

template <>
class Remote<PluginBase> final : public PluginBase, detail::RemoteBase<PluginBase> {
 public:
  using RemoteBase::RemoteBase;
  void ping() override { invoke<&PluginBase::ping>(); }
};

template <>
class Remote<DataProcessor> final : public DataProcessor, detail::RemoteBase<DataProcessor> {
 public:
  using RemoteBase::RemoteBase;
  void ping() override { invoke<&PluginBase::ping>(); }
  Bytes process_data(BytesView input) override {
    return invoke<&DataProcessor::process_data>(input);
  }
  std::vector<std::string> supported_formats() override {
    return invoke<&DataProcessor::supported_formats>();
  }
};

// ---------------------------------------------------------------------------
// Contracts by name, for code that only knows the wire name

/// One method of a contract as the wire sees it.
struct MethodInfo {
  std::string_view name;
  Encoding input;
  Encoding output;
};

/// One contract known to this build: its methods, and factories for its typed
/// wrapper and for dispatching wire calls into an implementation.
struct ContractInfo {
  std::string_view name;
  std::vector<MethodInfo> methods;
  /// Makes a Remote<C> over `channel`, type-erased (a shared_ptr<C>).
  std::shared_ptr<void> (*make_remote)(std::shared_ptr<Channel> channel);
  /// Makes a LocalChannel over `impl`, a type-erased shared_ptr<C>.
  std::shared_ptr<Channel> (*make_local)(std::shared_ptr<void> impl);
};

/// Every contract this build knows, in declaration order.
const std::vector<ContractInfo>& known_contracts();
/// The contract called `name`, or nullptr.
const ContractInfo* find_contract(std::string_view name) noexcept;

/// Calls `method` of an in-process implementation with a wire payload, the
/// way a plugin's server does: decodes the input, calls, encodes the result.
/// Throws Error(not_found) for an unknown method, Error(invalid_input) for an
/// input the method cannot take; exceptions from the implementation pass through.
template <class C>
Payload dispatch(C& impl, std::string_view method, const Payload& input) {
  return detail::dispatch<C>(impl, method, input);
}

/// A Channel that calls an in-process implementation through the same wire
/// encoding as a plugin (used for internal providers reached by name).
template <class C>
class LocalChannel final : public Channel {
 public:
  explicit LocalChannel(std::shared_ptr<C> impl) : impl_(std::move(impl)) {}
  Payload call(std::string_view method, Payload input) override {
    return dispatch<C>(*impl_, method, input);
  }

 private:
  std::shared_ptr<C> impl_;
};

}  // namespace plugvisor
