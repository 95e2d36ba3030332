// plugvisor's HTTP contract package: the HTTP message types that travel
// between a host and its plugins (Request, Response, with their JSON forms
// and schemas), the httpHandler contract, and HandlerChain, the first-success
// chain of every httpHandler in the registry's priority order.
//
// A package, not part of the core: it is declared with the same public
// mechanism a host uses for its own contracts (PLUGVISOR_CONTRACT), and
// ships with plugvisor so that hosts reuse one set of HTTP types
// (docs/contracts.md, "Contract packages"). The JSON forms are normative in
// docs/contracts.md; Python plugins get them from plugvisor_sdk.http.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "plugvisor/contracts.hpp"
#include "plugvisor/registry.hpp"

namespace plugvisor::http {

/// Header or query fields, repeats kept. The JSON form keeps the order of
/// one name's values, not of different names. Header names are stored
/// lower-case (HTTP names compare case-insensitively); query names as sent.
using Fields = std::vector<std::pair<std::string, std::string>>;

/// The first value of `name` in `fields` (exact match), or nullopt.
std::optional<std::string_view> field(const Fields& fields, std::string_view name);

/// An HTTP request as a handler sees it.
struct Request {
  /// "GET", "POST", ... (an HTTP token).
  std::string method = "GET";
  /// The path, percent-decoded, without the query; starts with '/'.
  std::string path = "/";
  /// The query parameters, decoded.
  Fields query;
  /// The headers, names lower-case.
  Fields headers;
  /// The body, raw octets.
  Bytes body;

  /// The first value of header `name` (give it lower-case), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const { return field(headers, name); }
  /// The first value of query parameter `name`, or nullopt.
  std::optional<std::string_view> query_value(std::string_view name) const { return field(query, name); }
};

/// An HTTP response as a handler produces it.
struct Response {
  /// 100 to 599.
  int status = 200;
  /// The headers, names lower-case. Content-Length is the server's business.
  Fields headers;
  /// The body, raw octets.
  Bytes body;

  /// The first value of header `name` (give it lower-case), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const { return field(headers, name); }
};

/// What a handler answers: a response, or nullopt for "not mine".
struct HandlerReply {
  std::optional<Response> response;
};

// JSON forms (docs/contracts.md): a body is "body" when it is UTF-8 text and
// "bodyBase64" otherwise; a field value is a string, or an array of strings
// for a repeated field. from_json throws Json::exception on anything the
// schema refuses, and on header names or values that would break the framing
// (CR, LF: response splitting) even where the schema cannot say it.
void to_json(Json& j, const Request& request);
void from_json(const Json& j, Request& request);
void to_json(Json& j, const Response& response);
void from_json(const Json& j, Response& response);
void to_json(Json& j, const HandlerReply& reply);
void from_json(const Json& j, HandlerReply& reply);
/// Header fields to and from their JSON form (as in Request and Response):
/// names lower-cased and checked as tokens, values checked for CR/LF/NUL.
/// `where` prefixes the message of the Error(invalid_input) thrown.
Json fields_json(const Fields& fields);
Fields header_fields_from_json(const Json& j, std::string_view where);

#define PLUGVISOR_HTTP_FIELDS_SCHEMA \
  R"({"type": "object", "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}})"
#define PLUGVISOR_HTTP_RESPONSE_SCHEMA                                                                         \
  R"({"type": "object", "required": ["status"], "properties": {)"                                              \
  R"("status": {"type": "integer", "minimum": 100, "maximum": 599},)"                                          \
  R"("headers": )" PLUGVISOR_HTTP_FIELDS_SCHEMA R"(, "body": {"type": "string"}, "bodyBase64": {"type": "string"}},)" \
  R"("not": {"required": ["body", "bodyBase64"]}})"

PLUGVISOR_JSON_SCHEMA(Request,
                      R"({"type": "object", "required": ["method", "path"], "properties": {)"
                      R"("method": {"type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"},)"
                      R"("path": {"type": "string", "pattern": "^/"},)"
                      R"("query": )" PLUGVISOR_HTTP_FIELDS_SCHEMA R"(, "headers": )" PLUGVISOR_HTTP_FIELDS_SCHEMA
                      R"(, "body": {"type": "string"}, "bodyBase64": {"type": "string"}},)"
                      R"("not": {"required": ["body", "bodyBase64"]}})")
PLUGVISOR_JSON_SCHEMA(Response, PLUGVISOR_HTTP_RESPONSE_SCHEMA)
PLUGVISOR_JSON_SCHEMA(HandlerReply, R"({"anyOf": [)" PLUGVISOR_HTTP_RESPONSE_SCHEMA R"(, {"type": "null"}]})")

/// httpHandler: handles an HTTP request, or says it is not its own.
/// A chain of them (HandlerChain) gives the request to each in turn.
class HttpHandler : public PluginBase {
 public:
  /// The response to `request`, or a reply without one ("not mine").
  virtual HandlerReply handle(const Request& request) = 0;
};

PLUGVISOR_CONTRACT(HttpHandler, "httpHandler", 1, "Handles HTTP requests; null means not mine",
                   (handle, "handle",
                    {.description = "answers a request with a response, or null when the request is not its own"}));

/// One provider that failed in a chain (an Error: crashed, timed out, bad reply...).
struct ChainFailure {
  std::string type;
  std::string provider;
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

/// What a chain did with a request.
struct ChainOutcome {
  /// The winning response (status 100-299); nullopt if none won.
  std::optional<Response> response;
  /// The type and plugin of the winner (empty if none).
  std::string handled_by_type;
  std::string handled_by;
  /// Handlers that declined: null, or a status outside 100-299 ("type: status").
  std::vector<std::string> declined;
  /// Handlers that failed, in chain order.
  std::vector<ChainFailure> failures;
};

/// The first-success chain over every active httpHandler of a registry,
/// in the registry's rank order (Registry::ranked: in-process providers,
/// then higher priority, then load order). The first handler that answers
/// a status from 100 to 299 wins. A handler that answers null or another
/// status declines; one that fails (timeout, crash, malformed reply, error)
/// is recorded and skipped: the request goes on to the next one. Thread-safe
/// (it reads the registry on every call, so plugins loaded or removed since
/// take part or drop out).
class HandlerChain {
 public:
  /// `registry` must outlive the chain.
  explicit HandlerChain(const Registry& registry) : registry_(registry) {}

  /// Runs the chain. Never throws a provider's Error (see ChainOutcome).
  ChainOutcome handle(const Request& request) const;

 private:
  const Registry& registry_;
};

/// The response for a chain where nobody won: 502 naming every failed
/// provider when any failed (504 when all of them timed out), else nullopt
/// (the caller's "not found").
std::optional<Response> failure_response(const ChainOutcome& outcome);

/// A response whose body is protocol::error_body(code, message), JSON.
Response error_response(int status, ErrorCode code, std::string_view message);

/// Base64 (RFC 4648, with padding), as the JSON forms use for binary bodies.
std::string base64_encode(std::string_view bytes);
/// Decodes base64; throws std::invalid_argument naming what is wrong.
std::string base64_decode(std::string_view text);
/// True if `text` is valid UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view text) noexcept;
/// The first part of `request` other than its body that is not UTF-8 text,
/// named for an error message ("the path", "header 'x-name'", "query
/// parameter 'q'"), or nullopt. The JSON forms carry these parts as strings,
/// so a request with such a part cannot be shown to a plugin as it is
/// (a body can: it travels as bodyBase64).
std::optional<std::string> not_utf8_part(const Request& request);
/// The same for a response's headers.
std::optional<std::string> not_utf8_part(const Response& response);
/// True for the names, in any case, under which cpp-httplib's server files
/// the connection's addresses among a request's headers (REMOTE_ADDR,
/// REMOTE_PORT, LOCAL_ADDR, LOCAL_PORT). They are not headers the client
/// sent: a host on cpp-httplib leaves them out of the Request it shows
/// plugins (a client's own header of such a name cannot be told apart, and
/// goes with them).
bool connection_pseudo_header(std::string_view name) noexcept;

}  // namespace plugvisor::http

#include "plugvisor/contracts/http_filter.hpp"  // the httpFilter contract and its chain
