// plugvisor's mock-server contract package: the four contracts an HTTP mock
// server is extended by (authenticator, templateFunctions,
// responseGenerator, dataSource) and the helpers that compose their
// providers the same way in every host: AuthChain (first decisive answer, or
// all must pass), Templates ({{function args}} tags) and GeneratorChain
// (the highest offer wins). Built on the HTTP package's Request/Response.
//
// Declared with the public mechanism (PLUGVISOR_CONTRACT), outside the core;
// the JSON forms are normative in docs/contracts.md, and Python plugins get
// the same contracts from plugvisor_sdk.mock.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/contracts/http.hpp"

namespace plugvisor::mock {

// ---------------------------------------------------------------------------
// authenticator

/// What an authenticator is asked.
struct AuthRequest {
  http::Request request;
  /// The host's settings for this check (a route's "auth" settings), any JSON.
  Json settings = Json::object();
};

/// An authenticator's answer: allow, deny, or abstain ("not my kind of
/// credentials": no Authorization header of its scheme, say).
struct AuthResult {
  enum class Decision { allow, deny, abstain };
  Decision decision = Decision::abstain;
  /// Who the caller is (allow), e.g. a user name or key id.
  std::string principal;
  /// What the authenticator knows of the caller (JWT claims...); an object.
  Json claims = Json::object();
  /// Why, for a person: always set on deny.
  std::string reason;
};

void to_json(Json& j, const AuthRequest& value);
void from_json(const Json& j, AuthRequest& value);
void to_json(Json& j, const AuthResult& value);
void from_json(const Json& j, AuthResult& value);

PLUGVISOR_JSON_SCHEMA(AuthRequest, R"({"type": "object", "required": ["request"], "properties": {
  "request": {"type": "object"}, "settings": true}})")
PLUGVISOR_JSON_SCHEMA(AuthResult, R"({"type": "object", "required": ["decision"], "properties": {
  "decision": {"enum": ["allow", "deny", "abstain"]}, "principal": {"type": "string"},
  "claims": {"type": "object"}, "reason": {"type": "string"}}})")

/// authenticator: decides whether a request may pass.
class Authenticator : public PluginBase {
 public:
  virtual AuthResult authenticate(const AuthRequest& request) = 0;
};

PLUGVISOR_CONTRACT(Authenticator, "authenticator", 1, "Authenticates HTTP requests: allow, deny or abstain",
                   (authenticate, "authenticate",
                    {.description = "allow (with principal and claims), deny (with a reason), or abstain"}));

/// How AuthChain composes several authenticators.
enum class AuthMode {
  first_decisive,  ///< in order, the first allow or deny decides; abstentions pass on
  all_must_pass,   ///< every one must allow; the first deny or abstention refuses
};

/// The composed answer.
struct AuthVerdict {
  bool allowed = false;
  std::string principal;
  /// The claims of every authenticator that allowed, merged (earlier ones win).
  Json claims = Json::object();
  /// Why (refused), naming the authenticator type that decided.
  std::string reason;
  /// The type that decided (first_decisive), or the last that allowed.
  std::string decided_by;
};

/// Composes authenticators of a registry by type, in the order given.
/// Thread-safe; reads the registry on every call.
class AuthChain {
 public:
  /// `types`: the authenticator types, in order (empty: every one, in
  /// Registry::ranked order). `registry` must outlive the chain.
  AuthChain(const Registry& registry, std::vector<std::string> types, AuthMode mode);

  /// The verdict. Nobody decides (all abstain, or no authenticator): refused.
  /// Throws Error naming the type and plugin when an authenticator fails
  /// (timeout, crash, bad reply: the caller's 5xx) or does not exist
  /// (not_found): a check that cannot run never allows.
  AuthVerdict authenticate(const AuthRequest& request) const;

 private:
  const Registry& registry_;
  std::vector<std::string> types_;
  AuthMode mode_;
};

/// "first" or "all" → the mode; nullopt for anything else.
std::optional<AuthMode> auth_mode_from_string(std::string_view text) noexcept;

// ---------------------------------------------------------------------------
// templateFunctions

/// One argument of a template function.
struct TemplateArgument {
  std::string name;
  std::string description;
  /// False for an argument that may be left out.
  bool required = true;
};

/// A function a templateFunctions provider offers.
struct TemplateFunction {
  /// How a tag names it: {{name args}} (a *name*).
  std::string name;
  std::vector<TemplateArgument> arguments;
  std::string description;
};

/// A call: the function's name and the tag's arguments, as written.
struct TemplateCall {
  std::string function;
  std::vector<std::string> arguments;
};

void to_json(Json& j, const TemplateArgument& value);
void from_json(const Json& j, TemplateArgument& value);
void to_json(Json& j, const TemplateFunction& value);
void from_json(const Json& j, TemplateFunction& value);
void to_json(Json& j, const TemplateCall& value);
void from_json(const Json& j, TemplateCall& value);

PLUGVISOR_JSON_SCHEMA(TemplateFunction, R"({"type": "object", "required": ["name"], "properties": {
  "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}, "description": {"type": "string"},
  "arguments": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string"}, "description": {"type": "string"}, "required": {"type": "boolean"}}}}}})")
PLUGVISOR_JSON_SCHEMA(TemplateCall, R"({"type": "object", "required": ["function", "arguments"], "properties": {
  "function": {"type": "string"}, "arguments": {"type": "array", "items": {"type": "string"}}}})")

/// templateFunctions: functions that template tags call.
class TemplateFunctions : public PluginBase {
 public:
  /// The functions offered.
  virtual std::vector<TemplateFunction> functions() = 0;
  /// Calls one; the value is any JSON. Bad arguments: Error(invalid_input)
  /// saying what is wrong.
  virtual Json call(const TemplateCall& call) = 0;
};

PLUGVISOR_CONTRACT(TemplateFunctions, "templateFunctions", 1, "Functions for {{name args}} template tags",
                   (functions, "functions", {.description = "the functions offered: name, arguments, description"}),
                   (call, "call", {.description = "calls a function with the tag's arguments; answers its value"}));

/// Renders {{function arg "quoted arg"}} tags with the templateFunctions
/// providers of a registry: the first provider (Registry::ranked order) that
/// lists a name serves it. Function lists are cached, and fetched again when
/// a tag names a function not in the cache. Thread-safe.
///
/// Tag syntax: "{{", optional spaces, a function name, arguments separated
/// by spaces (a double-quoted argument may hold spaces; \" and \\ escape),
/// "}}". Text outside tags is copied; "{{{{" writes a literal "{{".
class Templates {
 public:
  explicit Templates(const Registry& registry) : registry_(registry) {}

  /// `text` with every tag replaced by its function's value (a JSON string
  /// as its text, anything else as compact JSON). Throws
  /// Error(invalid_input) for a malformed tag, an unknown function or
  /// arguments the function refuses (naming the tag and the provider), and
  /// the provider's Error for anything else (timeout, crash).
  std::string render(std::string_view text) const;
  /// Renders every string of `value`; a string that is exactly one tag
  /// becomes the function's JSON value (so {"id": "{{randomInt 1 9}}"} gives
  /// a number).
  Json render_json(const Json& value) const;
  /// The tags of `text` (parsed, not called): for checking a file when it
  /// is loaded. Throws Error(invalid_input) for a malformed tag.
  static std::vector<TemplateCall> parse(std::string_view text);
  /// Every function known now, with the type that serves it: "uuid (fake)".
  std::vector<std::string> known() const;

 private:
  struct Entry {
    std::string type;
    std::string provider;
    std::shared_ptr<TemplateFunctions> object;
  };
  Json call(const TemplateCall& call, std::string_view tag) const;
  std::optional<Entry> lookup(const std::string& name) const;
  void refresh() const;

  const Registry& registry_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, Entry> functions_;  // guarded by mutex_
};

// ---------------------------------------------------------------------------
// responseGenerator

/// A generator's answer to "can you handle this request?".
struct GeneratorOffer {
  bool can_handle = false;
  /// Among generators that can, the highest priority generates.
  int priority = 0;
};

void to_json(Json& j, const GeneratorOffer& value);
void from_json(const Json& j, GeneratorOffer& value);

PLUGVISOR_JSON_SCHEMA(GeneratorOffer, R"({"type": "object", "required": ["canHandle"], "properties": {
  "canHandle": {"type": "boolean"}, "priority": {"type": "integer", "minimum": -2147483648, "maximum": 2147483647}}})")

/// responseGenerator: generates responses for requests no route serves.
class ResponseGenerator : public PluginBase {
 public:
  /// Whether it can handle `request`, and how eagerly.
  virtual GeneratorOffer can_handle(const http::Request& request) = 0;
  /// The response to `request`.
  virtual http::Response generate(const http::Request& request) = 0;
};

PLUGVISOR_CONTRACT(ResponseGenerator, "responseGenerator", 1, "Generates responses for requests no route serves",
                   (can_handle, "canHandle", {.description = "whether it can handle the request, with a priority"}),
                   (generate, "generate", {.description = "the response to a request it can handle"}));

/// What GeneratorChain did.
struct GeneratorOutcome {
  std::optional<http::Response> response;
  std::string type;
  std::string provider;
  /// canHandle calls that failed (skipped): "type of plugin (code): message".
  std::vector<std::string> failures;
};

/// Asks every responseGenerator whether it can handle a request; the highest
/// priority generates (ties: Registry::ranked order). A failed canHandle is
/// skipped and reported; a failed generate throws the provider's Error
/// (the caller's 5xx), with the message naming the type and plugin.
class GeneratorChain {
 public:
  explicit GeneratorChain(const Registry& registry) : registry_(registry) {}
  GeneratorOutcome generate(const http::Request& request) const;

 private:
  const Registry& registry_;
};

// ---------------------------------------------------------------------------
// dataSource

/// One column of a table.
struct DataColumn {
  std::string name;
  /// The storage type as the source names it ("INTEGER", "TEXT"...).
  std::string type;
};

/// One table (or view, collection) of a source.
struct DataTable {
  std::string name;
  std::vector<DataColumn> columns;
};

/// What a data source holds.
struct DataSchema {
  /// The query language ("sqlite", "jsonpath"...).
  std::string language;
  std::vector<DataTable> tables;
};

/// A query with its parameters, bound as data, never spliced into the text.
struct DataQuery {
  std::string query;
  /// An array (positional: ?) or an object (named: :name) of JSON scalars.
  Json params = Json::array();
};

/// The rows a query gives: one object per row, keyed by column.
struct DataRows {
  std::vector<std::string> columns;
  std::vector<Json> rows;
};

void to_json(Json& j, const DataColumn& value);
void from_json(const Json& j, DataColumn& value);
void to_json(Json& j, const DataTable& value);
void from_json(const Json& j, DataTable& value);
void to_json(Json& j, const DataSchema& value);
void from_json(const Json& j, DataSchema& value);
void to_json(Json& j, const DataQuery& value);
void from_json(const Json& j, DataQuery& value);
void to_json(Json& j, const DataRows& value);
void from_json(const Json& j, DataRows& value);

PLUGVISOR_JSON_SCHEMA(DataSchema, R"({"type": "object", "required": ["language", "tables"], "properties": {
  "language": {"type": "string"}, "tables": {"type": "array", "items": {"type": "object", "required": ["name", "columns"],
    "properties": {"name": {"type": "string"}, "columns": {"type": "array", "items": {"type": "object",
      "required": ["name"], "properties": {"name": {"type": "string"}, "type": {"type": "string"}}}}}}}}})")
PLUGVISOR_JSON_SCHEMA(DataQuery, R"({"type": "object", "required": ["query"], "properties": {
  "query": {"type": "string"},
  "params": {"type": ["array", "object"], "items": {"type": ["string", "number", "boolean", "null"]},
             "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}}})")
PLUGVISOR_JSON_SCHEMA(DataRows, R"({"type": "object", "required": ["columns", "rows"], "properties": {
  "columns": {"type": "array", "items": {"type": "string"}}, "rows": {"type": "array", "items": {"type": "object"}}}})")

/// dataSource: a queryable store.
class DataSource : public PluginBase {
 public:
  /// The tables and columns it holds.
  virtual DataSchema schema() = 0;
  /// Runs `query` with its parameters bound as data; the rows.
  virtual DataRows query(const DataQuery& query) = 0;
};

PLUGVISOR_CONTRACT(DataSource, "dataSource", 1, "A queryable data store: its schema, and parameterized queries",
                   (schema, "schema", {.description = "the tables and columns it holds"}),
                   (query, "query", {.description = "runs a query with parameters bound as data; the rows"}));

}  // namespace plugvisor::mock
