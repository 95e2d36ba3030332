// The httpFilter contract and its chain runner (part of the HTTP contract
// package; include plugvisor/contracts/http.hpp, which includes this).
//
// A filter sees a request (and later its response) at up to five hooks:
//
//   client ─► requestHeaders ─► requestBody ─► generateResponse ─┬─► upstream
//                                                                 └─ (short-circuit)
//   client ◄─ responseBody ◄─ responseHeaders ◄─────────────────────┘
//
// Every hook answers a FilterResult: modifications (set/add/remove headers,
// a replacement body, a status) rather than whole copies. A plugin
// implements any subset of the hooks and declares which in its description
// (capabilities.contracts.httpFilter.methods); FilterChain runs the chain
// in priority order with per-filter hooks, path patterns, timeout, failure
// mode and circuit breaker. docs/contracts.md, "httpFilter", is normative.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace plugvisor::http {

/// The five hook points, in the order a request meets them.
enum class Hook { request_headers, request_body, generate_response, response_headers, response_body };

/// Every hook, in that order.
inline constexpr std::array<Hook, 5> all_hooks{Hook::request_headers, Hook::request_body, Hook::generate_response,
                                               Hook::response_headers, Hook::response_body};

/// The wire name of a hook ("requestHeaders", ...), which is also its method name.
std::string_view to_string(Hook hook) noexcept;
/// The hook of a wire name, or nullopt.
std::optional<Hook> hook_from_string(std::string_view name) noexcept;

/// A set of hooks (bit i is all_hooks[i]).
class HookSet {
 public:
  constexpr HookSet() = default;
  HookSet(std::initializer_list<Hook> hooks) {
    for (Hook hook : hooks) add(hook);
  }
  constexpr void add(Hook hook) noexcept { bits_ |= bit(hook); }
  constexpr bool has(Hook hook) const noexcept { return (bits_ & bit(hook)) != 0; }
  constexpr bool empty() const noexcept { return bits_ == 0; }
  constexpr HookSet operator&(HookSet other) const noexcept { return HookSet(bits_ & other.bits_); }
  constexpr HookSet operator|(HookSet other) const noexcept { return HookSet(bits_ | other.bits_); }
  constexpr bool operator==(const HookSet&) const = default;
  /// Every hook of the set, in all_hooks order.
  std::vector<Hook> list() const;
  /// "requestHeaders, responseHeaders" ("none" when empty).
  std::string names() const;
  /// All five.
  static HookSet all() noexcept { return HookSet(0x1f); }
  /// The hooks of the request phase (requestHeaders, requestBody, generateResponse).
  static HookSet request_phase() noexcept { return HookSet(0x07); }
  /// The hooks of the response phase (responseHeaders, responseBody).
  static HookSet response_phase() noexcept { return HookSet(0x18); }

 private:
  constexpr explicit HookSet(std::uint8_t bits) : bits_(bits) {}
  static constexpr std::uint8_t bit(Hook hook) noexcept { return static_cast<std::uint8_t>(1u << static_cast<int>(hook)); }
  std::uint8_t bits_ = 0;
};

/// Header modifications, applied in this order: remove, set, add.
struct HeaderChanges {
  /// Replace every value of each name with this one (repeats: several values).
  Fields set;
  /// Append a value, keeping the ones there.
  Fields add;
  /// Remove every value of each name (lower-case).
  std::vector<std::string> remove;

  bool empty() const noexcept { return set.empty() && add.empty() && remove.empty(); }
};

/// Changes to a request.
struct RequestChanges {
  HeaderChanges headers;
  /// A replacement body (Content-Length follows it).
  std::optional<Bytes> body;
};

/// Changes to a response.
struct ResponseChanges {
  /// A replacement status, 100 to 599.
  std::optional<int> status;
  HeaderChanges headers;
  /// A replacement body.
  std::optional<Bytes> body;
};

/// What a hook (or a batch of hooks) answers. Each hook may fill only its own
/// part: requestHeaders request.headers; requestBody request (headers and
/// body); generateResponse respond; responseHeaders response.status and
/// response.headers; responseBody all of response. An empty result (JSON {}
/// or null) changes nothing.
struct FilterResult {
  RequestChanges request;
  ResponseChanges response;
  /// generateResponse: answer the client with this response; no upstream call,
  /// no later request hook (the response hooks still run on it).
  std::optional<Response> respond;
};

/// What a hook sees.
struct FilterInput {
  /// The request: without its body at requestHeaders, responseHeaders and
  /// responseBody (where only body hooks need it, it is left out to save the copy).
  Request request;
  /// The response, at responseHeaders (without body) and responseBody.
  std::optional<Response> response;
  /// The client's address as the host saw it ("127.0.0.1", "::1").
  std::string client;
  /// The host's name for the route the request took ("" if none).
  std::string route;
  /// batch only: the hooks to run, in order, each on the result of the one before.
  std::vector<std::string> hooks;
};

void to_json(Json& j, const FilterResult& result);
/// Throws Json::exception naming what is wrong (an unknown member, a bad
/// status, a header that would break the framing, a remove entry that is
/// not an HTTP token...): a host reports it as bad_reply, a plugin as
/// invalid_input.
void from_json(const Json& j, FilterResult& result);
void to_json(Json& j, const FilterInput& input);
void from_json(const Json& j, FilterInput& input);

/// The same JSON forms, written and read without building an nlohmann DOM:
/// the codec a filter call uses on both sides (found by the method table
/// through ADL). They agree with to_json and parse_json + from_json, value
/// for value and error for error (malformed or unusual documents are read
/// by from_json itself).
std::string plugvisor_json_encode(detail::Tag<FilterInput>, const FilterInput& input);
std::string plugvisor_json_encode(detail::Tag<FilterResult>, const FilterResult& result);
FilterInput plugvisor_json_decode(detail::Tag<FilterInput>, std::string_view text);
FilterResult plugvisor_json_decode(detail::Tag<FilterResult>, std::string_view text);

/// Throws Error(bad_reply) if `result` fills parts that `hooks` may not
/// (e.g. a response change from requestHeaders), naming the hook and part.
void check_result_fits(const FilterResult& result, HookSet hooks);

/// Applies request changes (headers: remove, set, add; then the body).
void apply(const RequestChanges& changes, Request& request);
/// Applies response changes.
void apply(const ResponseChanges& changes, Response& response);

#define PLUGVISOR_HTTP_HEADER_CHANGES_SCHEMA                                                    \
  R"({"type": "object", "properties": {"set": )" PLUGVISOR_HTTP_FIELDS_SCHEMA R"(, "add": )" \
      PLUGVISOR_HTTP_FIELDS_SCHEMA R"(, "remove": {"type": "array", "items": {"type": "string"}}}})"

PLUGVISOR_JSON_SCHEMA(FilterResult,
                      R"({"type": ["object", "null"], "properties": {)"
                      R"("request": {"type": "object", "properties": {"headers": )" PLUGVISOR_HTTP_HEADER_CHANGES_SCHEMA
                      R"(, "body": {"type": "string"}, "bodyBase64": {"type": "string"}}},)"
                      R"("response": {"type": "object", "properties": {"status": {"type": "integer", "minimum": 100, "maximum": 599}, "headers": )"
                      PLUGVISOR_HTTP_HEADER_CHANGES_SCHEMA
                      R"(, "body": {"type": "string"}, "bodyBase64": {"type": "string"}}},)"
                      R"("respond": )" PLUGVISOR_HTTP_RESPONSE_SCHEMA R"(}})")
PLUGVISOR_JSON_SCHEMA(FilterInput,
                      R"({"type": "object", "required": ["request"], "properties": {)"
                      R"("request": {"type": "object"}, "response": {"type": "object"},)"
                      R"("client": {"type": "string"}, "route": {"type": "string"},)"
                      R"("hooks": {"type": "array", "items": {"enum": ["requestHeaders", "requestBody", "generateResponse", "responseHeaders", "responseBody"]}}}})")

/// httpFilter: sees requests and responses at five hooks and answers
/// modifications. A plugin implements the hooks it wants (see
/// HttpFilterPlugin for the C++ side) and `batch`, which runs several of a
/// type's hooks in one call (the SDKs implement it for you).
class HttpFilter : public PluginBase {
 public:
  virtual FilterResult request_headers(const FilterInput& input) = 0;
  virtual FilterResult request_body(const FilterInput& input) = 0;
  virtual FilterResult generate_response(const FilterInput& input) = 0;
  virtual FilterResult response_headers(const FilterInput& input) = 0;
  virtual FilterResult response_body(const FilterInput& input) = 0;
  /// Runs input.hooks in order on one copy of the input, each on the result
  /// of the one before, and answers the combined modifications (a respond
  /// from generateResponse ends the batch).
  virtual FilterResult batch(const FilterInput& input) = 0;
};

PLUGVISOR_CONTRACT(
    HttpFilter, "httpFilter", 1, "Filters HTTP traffic at five hooks, answering modifications",
    (request_headers, "requestHeaders", {.description = "sees the request's head; may change its headers"}),
    (request_body, "requestBody", {.description = "sees the whole request; may change its headers and body"}),
    (generate_response, "generateResponse",
     {.description = "may answer the request itself (respond), before the upstream is called"}),
    (response_headers, "responseHeaders",
     {.description = "sees the request's head and the response's; may change the status and headers"}),
    (response_body, "responseBody", {.description = "sees the whole response; may change status, headers and body"}),
    (batch, "batch", {.description = "runs the listed hooks in order in one call, answering the combined changes"}));

/// The description of httpFilter restricted to `hooks` (plus ping and
/// batch): what a plugin publishes to declare the hooks it implements.
ContractDescription filter_description(HookSet hooks);

/// The C++ plugin side of httpFilter: override the hooks you implement; the
/// others answer "no change", and batch runs the listed hooks in order.
/// Serve it with provide_filters (below), which declares the hooks.
class HttpFilterPlugin : public HttpFilter {
 public:
  FilterResult request_headers(const FilterInput&) override { return {}; }
  FilterResult request_body(const FilterInput&) override { return {}; }
  FilterResult generate_response(const FilterInput&) override { return {}; }
  FilterResult response_headers(const FilterInput&) override { return {}; }
  FilterResult response_body(const FilterInput&) override { return {}; }
  FilterResult batch(const FilterInput& input) override;
};

/// One filter type a C++ plugin offers: the hooks it implements (published
/// before launch) and a factory run once with the launch configuration
/// (sdk::Config), e.g. to read a config type's data.
template <class Config>
struct FilterOffer {
  std::string type;
  HookSet hooks;
  std::function<std::shared_ptr<HttpFilterPlugin>(const Config&)> make;
  std::string description = {};
};

/// Provides every offer on an sdk::Plugin and publishes one description of
/// httpFilter with the union of their hooks (a description is per plugin;
/// a type asked for a hook only another type implements answers "no
/// change"). Call it once per plugin, as
/// `http::provide_filters<sdk::Config>(plugin, {{"type", hooks, factory}})`.
/// Header-only so that the package does not depend on the SDK library.
template <class Config, class SdkPlugin>
SdkPlugin& provide_filters(SdkPlugin& plugin, const std::vector<FilterOffer<Config>>& offers) {
  HookSet hooks;
  for (const auto& offer : offers) {
    for (Hook hook : offer.hooks.list()) hooks.add(hook);
  }
  plugin.describe(filter_description(hooks));
  for (const auto& offer : offers) {
    plugin.add_handler(std::string(ContractTraits<HttpFilter>::name), offer.type, {.description = offer.description},
                       [make = offer.make](const Config& config) {
                         std::shared_ptr<HttpFilterPlugin> impl = make(config);
                         return [impl](std::string_view method, const Payload& input) {
                           return dispatch<HttpFilter>(*impl, method, input);
                         };
                       });
  }
  return plugin;
}

// ---------------------------------------------------------------------------
// The chain runner

/// What a failing filter does to the request.
enum class FailureMode {
  /// Skip the filter and go on as if it had changed nothing.
  fail_open,
  /// Answer the client 502 (the filter failed) or 503 (its circuit is open).
  fail_closed,
};

/// One filter of a chain, as the host configures it.
struct FilterSpec {
  /// The httpFilter type in the registry.
  std::string type;
  /// Higher runs first in the request phase and last in the response phase
  /// (filters nest like middleware); ties keep the configured order.
  int priority = 0;
  /// The hooks to run; nullopt: every hook the provider implements. A hook
  /// the provider does not implement is a configuration error.
  std::optional<HookSet> hooks;
  /// Path patterns ('*' any run of characters, '?' one); empty: every path.
  std::vector<std::string> paths;
  /// The budget of one call to the filter (a batch counts as one call).
  std::chrono::milliseconds timeout{1000};
  FailureMode failure = FailureMode::fail_open;
  /// Consecutive failures that open the circuit (0: never).
  int breaker_failures = 5;
  /// How long the circuit stays open before one trial call.
  std::chrono::milliseconds breaker_cool_down{10000};
};

/// Whether a path pattern ('*', '?') matches `path`. Linear in practice:
/// iterative with one backtrack point, so no pattern can take exponential time.
bool path_matches(std::string_view pattern, std::string_view path) noexcept;

/// One filter's failure on one request, as the chain reports it.
struct FilterFailure {
  std::string type;
  ErrorCode code = ErrorCode::internal;
  std::string message;
  /// True when the call was not made because the circuit was open.
  bool circuit_open = false;
};

/// The filters that take part in one request (FilterChain::select).
class FilterSelection {
 public:
  /// No filter wants this request: the host passes it through untouched.
  bool empty() const noexcept { return entries_.empty(); }
  /// Whether any selected filter runs `hook`.
  bool wants(Hook hook) const noexcept { return union_.has(hook); }

 private:
  friend class FilterChain;
  std::vector<std::pair<std::size_t, HookSet>> entries_;  // index into the chain, hooks to run
  HookSet union_;
};

/// What the request phase decided.
struct RequestVerdict {
  /// Set when the client is to get this response without the upstream being
  /// called: a filter's generateResponse, or a fail-closed failure.
  std::optional<Response> respond;
  /// True when `respond` is a fail-closed error (502/503) rather than a
  /// filter's own response: the host sends it as is, without response hooks.
  bool closed = false;
  /// Failures, in chain order (fail-open ones included).
  std::vector<FilterFailure> failures;
};

/// Runs configured httpFilter providers at the five hooks. Thread-safe: one
/// chain serves every request of a host; plugins restarted or replaced in
/// the registry are picked up on the next call.
class FilterChain {
 public:
  /// `registry` must outlive the chain. Throws Error(config) naming the
  /// filter for an unknown type, a hook its provider does not implement, a
  /// bad pattern, a zero timeout.
  FilterChain(const Registry& registry, std::vector<FilterSpec> specs);
  ~FilterChain();
  FilterChain(const FilterChain&) = delete;
  FilterChain& operator=(const FilterChain&) = delete;

  /// The filters that want a request to `path`. Makes no plugin call; an
  /// empty selection is the bypass.
  FilterSelection select(std::string_view path) const;

  /// The request phase: each selected filter, by priority, runs its request
  /// hooks (one call, batched, when it has several). `input.request` is
  /// changed in place. `with_body` false skips the body hooks (a body over
  /// the host's limit).
  RequestVerdict on_request(const FilterSelection& selection, FilterInput& input, bool with_body = true);

  /// The response phase, in reverse priority order: response hooks change
  /// `response` in place. A fail-closed failure replaces it with a 502/503.
  std::vector<FilterFailure> on_response(const FilterSelection& selection, const FilterInput& input,
                                         Response& response, bool with_body = true);

  /// The specs after validation, in run order.
  const std::vector<FilterSpec>& specs() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// The 502/503 body for a fail-closed failure (names the filter and cause).
Response filter_failure_response(const FilterFailure& failure, std::chrono::milliseconds retry_after);

}  // namespace plugvisor::http
