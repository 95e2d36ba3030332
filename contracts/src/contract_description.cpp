// ContractDescription: the language-neutral form of a contract, to and from
// `capabilities` JSON, and the rule that checks a provider against the host.
#include <array>
#include <limits>

#include "plugvisor/contracts.hpp"
#include "plugvisor/detail/json_schema.hpp"

namespace plugvisor {

namespace {

constexpr std::array<std::pair<Encoding, std::string_view>, 3> encoding_names{{
    {Encoding::none, "none"},
    {Encoding::json, "json"},
    {Encoding::bytes, "bytes"},
}};

[[noreturn]] void fail(std::string_view where, const std::string& what) {
  throw Error(ErrorCode::config, std::string(where) + " " + what);
}

std::string describe_value(const Json& value) {
  std::string text = value.dump();
  if (text.size() <= 60) return text;
  // Cut before a character, never inside one: a message must stay UTF-8.
  std::size_t cut = 57;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

Encoding read_encoding(const Json& method, const char* key, const std::string& where) {
  auto it = method.find(key);
  if (it == method.end()) return Encoding::none;
  std::optional<Encoding> encoding = it->is_string() ? encoding_from_string(it->get<std::string>()) : std::nullopt;
  if (!encoding) fail(where + "." + key, "must be \"none\", \"json\" or \"bytes\", not " + describe_value(*it));
  return *encoding;
}

Json read_schema(const Json& method, const char* key, const std::string& where) {
  auto it = method.find(key);
  if (it == method.end() || it->is_null()) return nullptr;
  try {
    JsonSchema check(*it);
  } catch (const Error& e) {
    fail(where + "." + key, std::string("is not a valid JSON Schema: ") + e.what());
  }
  return *it;
}

std::string read_text(const Json& doc, const char* key, const std::string& where) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return {};
  if (!it->is_string()) fail(where + "." + key, "must be a string, not " + describe_value(*it));
  return it->get<std::string>();
}

MethodDescription read_method(const std::string& name, const Json& doc, const std::string& where) {
  if (!protocol::is_valid_name(name)) fail(where, "names a method that is not a name ([A-Za-z0-9][A-Za-z0-9._-]{0,63})");
  if (!doc.is_object()) fail(where, "must be an object with \"input\" and \"output\", not " + describe_value(doc));
  MethodDescription out{name, read_encoding(doc, "input", where), read_encoding(doc, "output", where),
                        read_schema(doc, "inputSchema", where), read_schema(doc, "outputSchema", where),
                        read_text(doc, "description", where)};
  if (!out.input_schema.is_null() && out.input != Encoding::json) {
    fail(where + ".inputSchema", "is given for a " + std::string(to_string(out.input)) + " input: only JSON has a schema");
  }
  if (!out.output_schema.is_null() && out.output != Encoding::json) {
    fail(where + ".outputSchema",
         "is given for a " + std::string(to_string(out.output)) + " output: only JSON has a schema");
  }
  return out;
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::string_view to_string(Encoding encoding) noexcept {
  for (const auto& [value, name] : encoding_names) {
    if (value == encoding) return name;
  }
  return "none";
}

std::optional<Encoding> encoding_from_string(std::string_view name) noexcept {
  for (const auto& [value, text] : encoding_names) {
    if (text == name) return value;
  }
  return std::nullopt;
}

std::string_view to_string(Compatibility::Level level) noexcept {
  switch (level) {
    case Compatibility::Level::full:
      return "full";
    case Compatibility::Level::partial:
      return "partial";
    case Compatibility::Level::incompatible:
      return "incompatible";
  }
  return "incompatible";
}

const MethodDescription* ContractDescription::method(std::string_view method_name) const noexcept {
  for (const auto& m : methods) {
    if (m.name == method_name) return &m;
  }
  return nullptr;
}

const MethodDescription& ContractDescription::require_method(std::string_view method_name,
                                                            std::string_view provider) const {
  if (const MethodDescription* found = method(method_name)) return *found;
  std::vector<std::string> names;
  for (const auto& m : methods) names.push_back(m.name);
  throw Error(ErrorCode::not_found, std::string(provider) + "'s " + name + " (version " + std::to_string(version) +
                                        ") has no method '" + std::string(method_name) + "' (methods: " + joined(names) +
                                        ")");
}

bool ContractDescription::operator==(const ContractDescription& other) const {
  if (name != other.name || version != other.version || description != other.description ||
      methods.size() != other.methods.size()) {
    return false;
  }
  for (const auto& m : methods) {
    const MethodDescription* same = other.method(m.name);
    if (!same || !(*same == m)) return false;
  }
  return true;
}

Json ContractDescription::to_json() const {
  Json out_methods = Json::object();
  for (const auto& m : methods) {
    Json entry{{"input", to_string(m.input)}, {"output", to_string(m.output)}};
    if (!m.input_schema.is_null()) entry["inputSchema"] = m.input_schema;
    if (!m.output_schema.is_null()) entry["outputSchema"] = m.output_schema;
    if (!m.description.empty()) entry["description"] = m.description;
    out_methods[m.name] = std::move(entry);
  }
  Json out{{"version", version}, {"methods", std::move(out_methods)}};
  if (!description.empty()) out["description"] = description;
  return out;
}

ContractDescription ContractDescription::from_json(std::string_view name, const Json& doc) {
  const std::string where = "contracts." + std::string(name);
  if (!protocol::is_valid_name(name)) fail(where, "is not a name ([A-Za-z0-9][A-Za-z0-9._-]{0,63})");
  if (!doc.is_object()) fail(where, "must be an object with \"version\" and \"methods\", not " + describe_value(doc));
  ContractDescription out{std::string(name), 1, read_text(doc, "description", where), {}};
  auto version = doc.find("version");
  if (version != doc.end()) {
    if (!version->is_number_integer() || version->get<std::int64_t>() < 1 ||
        version->get<std::int64_t>() > std::numeric_limits<std::int32_t>::max()) {
      fail(where + ".version", "must be an integer from 1 to 2147483647, not " + describe_value(*version));
    }
    out.version = version->get<int>();
  }
  auto methods = doc.find("methods");
  if (methods == doc.end() || !methods->is_object()) {
    fail(where + ".methods", "must be an object from method name to {\"input\", \"output\"}");
  }
  for (const auto& [method, entry] : methods->items()) {
    out.methods.push_back(read_method(method, entry, where + ".methods." + method));
  }
  return out;
}

Compatibility check_compatibility(const ContractDescription& host, const ContractDescription* provider) {
  Compatibility out;
  if (!provider) {
    if (host.version != 1) {
      out.level = Compatibility::Level::incompatible;
      out.reason = "it does not describe " + host.name + " (taken as version 1), but the host needs version " +
                   std::to_string(host.version);
    }
    return out;
  }
  if (provider->version != host.version) {
    out.level = Compatibility::Level::incompatible;
    out.reason = "it implements " + host.name + " version " + std::to_string(provider->version) +
                 ", but the host needs version " + std::to_string(host.version);
    return out;
  }
  std::vector<std::string> contradictions;
  for (const auto& wanted : host.methods) {
    const MethodDescription* offered = provider->method(wanted.name);
    if (!offered && wanted.name == "ping") continue;  // every provider answers ping (protocol 11.1), listed or not
    if (!offered) {
      out.missing.push_back(wanted.name);
    } else if (offered->input != wanted.input || offered->output != wanted.output) {
      contradictions.push_back(wanted.name + " takes " + std::string(to_string(offered->input)) + " and returns " +
                               std::string(to_string(offered->output)) + ", the host's takes " +
                               std::string(to_string(wanted.input)) + " and returns " +
                               std::string(to_string(wanted.output)));
    }
  }
  if (!contradictions.empty()) {
    out.level = Compatibility::Level::incompatible;
    out.reason = "its " + host.name + " methods differ from the host's: " + joined(contradictions);
  } else if (!out.missing.empty()) {
    out.level = Compatibility::Level::partial;
    out.reason = "it lacks " + host.name + " method" + (out.missing.size() > 1 ? "s " : " ") + joined(out.missing) +
                 " (an older build of the plugin?); calls to " + (out.missing.size() > 1 ? "them" : "it") +
                 " fail with not_found";
  }
  return out;
}

}  // namespace plugvisor
