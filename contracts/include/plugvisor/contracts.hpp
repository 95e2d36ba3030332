// plugvisor contracts: the typed interfaces hosts call and plugins implement,
// the shared error type, and the wire vocabulary of protocol v1.
//
// A contract is declared once, as an interface plus its method table
// (PLUGVISOR_CONTRACT). From that table come the typed wrapper a host gets
// from the registry (Remote<C>), the server-side dispatch in the C++ SDK
// (dispatch()), and the language-neutral description plugins publish and
// hosts check them against (ContractDescription). Hosts declare their own
// contracts the same way the built-in ones below are declared.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
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
/// True for the codes a plugin may answer (protocol.md §10.6): invalid_input,
/// unauthorized, not_found, too_large, internal, unavailable. The others
/// (timeout, crashed, bad_reply, start_failed, conflict, config) are the
/// manager's own: a plugin that answers one is not believed (bad_reply).
bool plugin_may_answer(ErrorCode code) noexcept;
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
  /// Who answers, for error messages ("plugin hello's greeter type 'formal'").
  virtual std::string provider() const { return "the provider"; }
};

/// Protocol v1 constants shared by the manager and the SDKs.
namespace protocol {
inline constexpr int version = 1;
inline constexpr std::string_view deadline_header = "X-Plugvisor-Deadline-Ms";
inline constexpr std::string_view env_protocol = "PLUGVISOR_PROTOCOL";
/// Plugin exit codes (protocol.md §16); the Python SDK's EXIT_* have the same values.
inline constexpr int exit_ok = 0;
/// Shut down, but calls were still running when the grace ended.
inline constexpr int exit_abandoned = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_bind = 3;
/// Longest Unix socket path (sun_path holds 108 bytes with the terminator).
inline constexpr std::size_t max_socket_path = 107;

/// True if `name` may be a plugin, contract, type or method name:
/// [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
constexpr bool is_valid_name(std::string_view name) noexcept {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (name.empty() || name.size() > 64 || !alnum(name.front())) return false;
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

/// How deep a JSON document from outside may nest (arrays and objects):
/// deeper ones are refused before they are parsed, so that no recursion
/// (parse, dump, copy, destruction) can overflow the stack.
inline constexpr std::size_t max_json_depth = 128;
/// Parses JSON that crossed a trust boundary: throws Error(invalid_input)
/// for a document nested deeper than max_json_depth, Json::exception for
/// anything else that is not JSON (including numbers out of range).
Json parse_json(std::string_view text);
/// parse_json for a caller that only wants to know whether it got JSON: a
/// discarded value (Json::is_discarded()) where parse_json would throw.
Json parse_json_or_discarded(std::string_view text);
/// Where `text` first nests deeper than max_json_depth: the offset of that
/// `[` or `{` (brackets inside strings do not count); nullopt if it does not.
/// The one depth rule, for a parser of its own (the configuration's JSONC).
std::optional<std::size_t> json_too_deep_at(std::string_view text) noexcept;

/// Parses a duration: a whole number with a unit ("250ms", "10s", "5m",
/// "1h"), or "0". Throws Error(config) naming the text on anything else.
std::chrono::milliseconds parse_duration(std::string_view text);
/// Formats a duration the way parse_duration reads it, in the largest exact unit.
std::string format_duration(std::chrono::milliseconds duration);

/// The error body: {"error":{"code":"...","message":"..."}}.
Json error_body(ErrorCode code, std::string_view message);

/// The one rule for a duration from outside (a configuration, a header)
/// added to a clock (protocol.md §5.3, §10.4): it saturates. `budget` after
/// `now`, or time_point::max() ("never") when that is past the clock's end
/// (steady_clock counts int64 nanoseconds: ~292 years, while a duration may
/// be 2^40 s); a negative budget gives `now`. Never overflows.
std::chrono::steady_clock::time_point deadline_after(
    std::chrono::milliseconds budget,
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now()) noexcept;

/// Most digits an X-Plugvisor-Deadline-Ms value may have (protocol.md §10.4):
/// 19, which int64 milliseconds' maximum (9223372036854775807) has.
inline constexpr std::size_t max_deadline_digits = 19;
/// Parses an X-Plugvisor-Deadline-Ms value: 1 to max_deadline_digits ASCII
/// digits, nothing else (no sign, no space). nullopt for anything else. A
/// value past what milliseconds hold saturates to milliseconds::max(), which
/// deadline_after turns into "never".
std::optional<std::chrono::milliseconds> parse_deadline_ms(std::string_view text) noexcept;
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
// Describing contracts: the language-neutral form

/// The wire name of an encoding ("none", "json", "bytes").
std::string_view to_string(Encoding encoding) noexcept;
/// The encoding for a wire name, or nullopt.
std::optional<Encoding> encoding_from_string(std::string_view name) noexcept;

/// Documentation of one method in a C++ method table (PLUGVISOR_CONTRACT).
struct MethodOptions {
  /// One line for listings.
  std::string_view description = {};
  /// JSON Schema of the input, as JSON text; empty: derived from the C++
  /// type where it can be (scalars, strings, containers, PLUGVISOR_JSON_SCHEMA).
  std::string_view input_schema = {};
  /// JSON Schema of the result, the same way.
  std::string_view output_schema = {};
};

/// One method of a contract as the wire sees it.
struct MethodDescription {
  std::string name;
  Encoding input = Encoding::none;
  Encoding output = Encoding::none;
  /// JSON Schema of a JSON input or output; null when none is declared.
  Json input_schema = nullptr;
  Json output_schema = nullptr;
  std::string description = {};
  bool operator==(const MethodDescription&) const = default;
};

/// A contract in language-neutral form: what a host declares (from its C++
/// table) and what a plugin publishes in `capabilities` (docs/contracts.md).
struct ContractDescription {
  std::string name;
  /// The major version: methods may be added within one version; anything
  /// else that changes (a method removed, an encoding changed) is a new one.
  int version = 1;
  std::string description = {};
  /// Every method, `ping` included, in table order.
  std::vector<MethodDescription> methods;

  /// The method called `name`, or nullptr.
  const MethodDescription* method(std::string_view name) const noexcept;
  /// The method called `name`; throws Error(not_found) naming `provider`
  /// (e.g. "plugin hello") and the methods there are.
  const MethodDescription& require_method(std::string_view name, std::string_view provider) const;
  /// The description as `capabilities` carries it:
  /// {"version": 1, "description": "...", "methods": {"greet": {"input": "json", ...}}}.
  Json to_json() const;
  /// Reads a description of contract `name` from `capabilities`. Throws
  /// Error(config) naming the member that is wrong: a name that is not a
  /// *name*, a version that is not an integer from 1 to 2^31-1, an unknown
  /// encoding, a schema that is not a valid JSON Schema.
  static ContractDescription from_json(std::string_view name, const Json& doc);
  /// Equal name, version, description and methods, in any order (the JSON
  /// form keeps no order).
  bool operator==(const ContractDescription& other) const;
};

/// How a provider's description fits the host's declaration of a contract.
struct Compatibility {
  enum class Level {
    full,          ///< every method the host declares, with the same encodings
    partial,       ///< some of the host's methods are missing (an older plugin): calls to them fail
    incompatible,  ///< another version, or a method with other encodings: never handed out
  };
  Level level = Level::full;
  /// The host's methods the provider lacks (partial).
  std::vector<std::string> missing;
  /// Why, for a person; empty when full.
  std::string reason;
};

/// "full", "partial", "incompatible".
std::string_view to_string(Compatibility::Level level) noexcept;

/// Checks a provider's description against the host's. A provider that
/// published no description (`provider` null: a plugin written before
/// descriptions existed) is taken to implement version 1 in full.
/// Versions differ, or a method both declare has other encodings:
/// incompatible. Methods of the host's missing: partial. Methods the host
/// does not know are ignored (a newer plugin).
Compatibility check_compatibility(const ContractDescription& host, const ContractDescription* provider);

/// The base of every contract: `ping` answers if the provider is alive.
class PluginBase {
 public:
  virtual ~PluginBase() = default;
  /// Returns normally if the provider can serve calls.
  virtual void ping() {}
};

}  // namespace plugvisor

#include "plugvisor/detail/method_table.hpp"
#include "plugvisor/detail/contract_macro.hpp"

namespace plugvisor {

/// The declaration of contract C, made by PLUGVISOR_CONTRACT (found by
/// argument-dependent lookup in C's namespace).
template <class C>
using ContractTraits = decltype(plugvisor_contract_of(detail::Tag<C>{}));

/// True for a class declared as a contract with PLUGVISOR_CONTRACT.
template <class C>
concept DeclaredContract = requires { plugvisor_contract_of(detail::Tag<C>{}); };

/// The typed wrapper a host receives for a provider of C reached over a
/// Channel: each method encodes its argument, calls the channel and decodes
/// the result, as C's method table says. Generated by PLUGVISOR_CONTRACT.
template <class C>
using Remote = typename ContractTraits<C>::Remote;

// ---------------------------------------------------------------------------
// The built-in contracts, declared like any host's

PLUGVISOR_CONTRACT(PluginBase, "pluginBase", 1, "The base of every contract: ping answers if the provider is alive");

/// Transforms bytes into bytes (text, documents, images...).
class DataProcessor : public PluginBase {
 public:
  /// Processes `input` and returns the result. `input` is the implementation's
  /// own: it may change it in place and return it (no copy on either side).
  /// A host that keeps its buffer passes a copy (`process_data(data)`); one
  /// that is done with it moves it in (`process_data(std::move(data))`): over
  /// a plugin's connection the buffer is sent as it is, not copied.
  virtual Bytes process_data(Bytes input) = 0;
  /// The formats (free-form names such as "text/plain") this processor accepts.
  virtual std::vector<std::string> supported_formats() = 0;
};
PLUGVISOR_CONTRACT(DataProcessor, "dataProcessor", 1, "Transforms bytes into bytes",
                   (process_data, "processData", {.description = "processes the input and returns the result"}),
                   (supported_formats, "supportedFormats",
                    {.description = "the formats (free-form names such as text/plain) this processor accepts"}));

// ---------------------------------------------------------------------------
// Contracts as values, for code that only knows them at run time

/// One contract declared in C++: its description and a factory for its
/// typed wrapper. There is exactly one per contract class (contract_info<C>()),
/// so its address identifies the C++ type.
struct ContractInfo {
  ContractDescription description;
  /// The C++ class, as written in PLUGVISOR_CONTRACT (for error messages).
  std::string_view cpp_type;
  /// Makes a Remote<C> over `channel`, type-erased (a shared_ptr<C>).
  std::shared_ptr<void> (*make_remote)(std::shared_ptr<Channel> channel);
};

/// The description of contract C, from its method table.
template <class C>
ContractDescription describe() {
  using Traits = ContractTraits<C>;
  ContractDescription out{std::string(Traits::name), Traits::version, std::string(Traits::description), {}};
  std::apply([&](const auto&... spec) { (out.methods.push_back(detail::describe_method(spec)), ...); },
             Traits::methods);
  return out;
}

/// The one ContractInfo of contract C.
template <class C>
const ContractInfo& contract_info() {
  static_assert(DeclaredContract<C>, "declare the contract with PLUGVISOR_CONTRACT first");
  static_assert(!std::is_abstract_v<Remote<C>>,
                "every pure virtual method of the contract must be in its PLUGVISOR_CONTRACT table");
  static const ContractInfo info{describe<C>(), ContractTraits<C>::cpp_type,
                                 [](std::shared_ptr<Channel> channel) -> std::shared_ptr<void> {
                                   return std::make_shared<Remote<C>>(std::move(channel));
                                 }};
  return info;
}

/// The built-in contracts (pluginBase, dataProcessor), in declaration order.
const std::vector<const ContractInfo*>& builtin_contracts();
/// The built-in contract called `name`, or nullptr.
const ContractInfo* find_builtin_contract(std::string_view name) noexcept;

/// Calls `method` of an in-process implementation with a wire payload, the
/// way a plugin's server does: decodes the input, calls, encodes the result.
/// Throws Error(not_found) for an unknown method, Error(invalid_input) for an
/// input the method cannot take; exceptions from the implementation pass through.
/// A method taking `Bytes` gets a copy of `input.body`.
template <class C>
Payload dispatch(C& impl, std::string_view method, const Payload& input) {
  return detail::dispatch<ContractTraits<C>>(impl, method, input);
}
/// The same, for a caller that gives `input` up: a method taking `Bytes`
/// gets `input.body` itself (moved, not copied).
template <class C>
Payload dispatch(C& impl, std::string_view method, Payload&& input) {
  return detail::dispatch<ContractTraits<C>>(impl, method, std::move(input));
}

/// A Channel that calls an in-process implementation through the same wire
/// encoding as a plugin (used for internal providers reached by name).
template <class C>
class LocalChannel final : public Channel {
 public:
  explicit LocalChannel(std::shared_ptr<C> impl) : impl_(std::move(impl)) {}
  Payload call(std::string_view method, Payload input) override {
    return dispatch<C>(*impl_, method, std::move(input));
  }

 private:
  std::shared_ptr<C> impl_;
};

}  // namespace plugvisor
