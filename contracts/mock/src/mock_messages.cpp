// The JSON forms of the mock package's types (docs/contracts.md). from_json
// is tolerant of what a plugin in another language may leave out (a missing
// principal, claims or arguments), strict on types.
#include "plugvisor/contracts/mock.hpp"

namespace plugvisor::mock {

namespace {

template <class T>
void optional_field(const Json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}

std::string_view decision_name(AuthResult::Decision decision) {
  switch (decision) {
    case AuthResult::Decision::allow: return "allow";
    case AuthResult::Decision::deny: return "deny";
    case AuthResult::Decision::abstain: return "abstain";
  }
  return "abstain";
}

}  // namespace

void to_json(Json& j, const AuthRequest& value) { j = Json{{"request", value.request}, {"settings", value.settings}}; }

void from_json(const Json& j, AuthRequest& value) {
  j.at("request").get_to(value.request);
  value.settings = j.value("settings", Json::object());
}

void to_json(Json& j, const AuthResult& value) {
  j = Json{{"decision", decision_name(value.decision)}, {"principal", value.principal}, {"claims", value.claims},
           {"reason", value.reason}};
}

void from_json(const Json& j, AuthResult& value) {
  const auto& decision = j.at("decision").get_ref<const std::string&>();
  if (decision == "allow") {
    value.decision = AuthResult::Decision::allow;
  } else if (decision == "deny") {
    value.decision = AuthResult::Decision::deny;
  } else if (decision == "abstain") {
    value.decision = AuthResult::Decision::abstain;
  } else {
    throw Error(ErrorCode::invalid_input, "decision must be \"allow\", \"deny\" or \"abstain\", not \"" + decision + "\"");
  }
  optional_field(j, "principal", value.principal);
  optional_field(j, "reason", value.reason);
  if (auto it = j.find("claims"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw Error(ErrorCode::invalid_input, "claims must be an object");
    value.claims = *it;
  }
}

void to_json(Json& j, const TemplateArgument& value) {
  j = Json{{"name", value.name}, {"description", value.description}, {"required", value.required}};
}

void from_json(const Json& j, TemplateArgument& value) {
  j.at("name").get_to(value.name);
  optional_field(j, "description", value.description);
  optional_field(j, "required", value.required);
}

void to_json(Json& j, const TemplateFunction& value) {
  j = Json{{"name", value.name}, {"arguments", value.arguments}, {"description", value.description}};
}

void from_json(const Json& j, TemplateFunction& value) {
  j.at("name").get_to(value.name);
  if (!protocol::is_valid_name(value.name)) {
    throw Error(ErrorCode::invalid_input, "function name \"" + value.name + "\" is not a name ([A-Za-z0-9][A-Za-z0-9._-]{0,63})");
  }
  optional_field(j, "arguments", value.arguments);
  optional_field(j, "description", value.description);
}

void to_json(Json& j, const TemplateCall& value) {
  j = Json{{"function", value.function}, {"arguments", value.arguments}};
}

void from_json(const Json& j, TemplateCall& value) {
  j.at("function").get_to(value.function);
  optional_field(j, "arguments", value.arguments);
}

void to_json(Json& j, const GeneratorOffer& value) {
  j = Json{{"canHandle", value.can_handle}, {"priority", value.priority}};
}

void from_json(const Json& j, GeneratorOffer& value) {
  j.at("canHandle").get_to(value.can_handle);
  optional_field(j, "priority", value.priority);
}

void to_json(Json& j, const DataColumn& value) { j = Json{{"name", value.name}, {"type", value.type}}; }

void from_json(const Json& j, DataColumn& value) {
  j.at("name").get_to(value.name);
  optional_field(j, "type", value.type);
}

void to_json(Json& j, const DataTable& value) { j = Json{{"name", value.name}, {"columns", value.columns}}; }

void from_json(const Json& j, DataTable& value) {
  j.at("name").get_to(value.name);
  optional_field(j, "columns", value.columns);
}

void to_json(Json& j, const DataSchema& value) { j = Json{{"language", value.language}, {"tables", value.tables}}; }

void from_json(const Json& j, DataSchema& value) {
  j.at("language").get_to(value.language);
  optional_field(j, "tables", value.tables);
}

void to_json(Json& j, const DataQuery& value) { j = Json{{"query", value.query}, {"params", value.params}}; }

void from_json(const Json& j, DataQuery& value) {
  j.at("query").get_to(value.query);
  value.params = j.value("params", Json::array());
  if (!value.params.is_array() && !value.params.is_object()) {
    throw Error(ErrorCode::invalid_input, "params must be an array (for ?) or an object (for :name)");
  }
}

void to_json(Json& j, const DataRows& value) { j = Json{{"columns", value.columns}, {"rows", value.rows}}; }

void from_json(const Json& j, DataRows& value) {
  j.at("columns").get_to(value.columns);
  j.at("rows").get_to(value.rows);
  for (const auto& row : value.rows) {
    if (!row.is_object()) throw Error(ErrorCode::invalid_input, "every row must be an object keyed by column");
  }
}

}  // namespace plugvisor::mock
