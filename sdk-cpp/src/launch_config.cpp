#include "launch_config.hpp"

namespace plugvisor::sdk::detail {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(ErrorCode::config, "invalid --config: " + what);
}

const Json& require(const Json& doc, const char* key, Json::value_t type, const char* type_name) {
  auto it = doc.find(key);
  if (it == doc.end()) fail(std::string("missing \"") + key + "\"");
  bool ok = it->type() == type ||
            (type == Json::value_t::number_unsigned && it->type() == Json::value_t::number_integer);
  if (!ok) fail(std::string("\"") + key + "\" must be " + type_name);
  return *it;
}

}  // namespace

LaunchConfig parse_launch_config(const std::string& text) {
  Json doc;
  try {
    doc = protocol::parse_json(text);
  } catch (const Json::exception& e) {
    fail(std::string("not valid JSON (") + e.what() + ")");
  } catch (const Error& e) {
    fail(e.what());  // nested too deep
  }
  if (!doc.is_object()) fail("expected a JSON object");

  LaunchConfig out;
  const Json& version = require(doc, "protocolVersion", Json::value_t::number_unsigned, "a number");
  if (version.get<long long>() != protocol::version) {
    fail("protocolVersion " + version.dump() + " is not supported; this plugin speaks version 1");
  }
  out.config.id = require(doc, "id", Json::value_t::string, "a string").get<std::string>();
  if (out.config.id.empty()) fail("\"id\" is empty");
  out.transport = require(doc, "type", Json::value_t::string, "a string").get<std::string>();
  if (out.transport != "unix" && out.transport != "tcp") {
    fail("\"type\" must be \"unix\" or \"tcp\", not \"" + out.transport + "\"");
  }
  out.address = require(doc, "address", Json::value_t::string, "a string").get<std::string>();
  if (out.address.empty()) fail("\"address\" is empty");
  out.token = require(doc, "token", Json::value_t::string, "a string").get<std::string>();
  if (out.token.empty()) fail("\"token\" is empty");

  if (auto it = doc.find("idleTimeout"); it != doc.end()) {
    if (!it->is_string()) fail("\"idleTimeout\" must be a duration string such as \"5m\" or \"0\"");
    out.config.idle_timeout = protocol::parse_duration(it->get<std::string>());
  }
  if (auto it = doc.find("maxBodyBytes"); it != doc.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0) fail("\"maxBodyBytes\" must be a positive integer");
    out.max_body_bytes = it->get<std::size_t>();
  }
  if (auto it = doc.find("configTypes"); it != doc.end()) {
    if (!it->is_array()) fail("\"configTypes\" must be an array of {\"type\", \"data\"}");
    for (const auto& entry : *it) {
      if (!entry.is_object() || !entry.contains("type") || !entry["type"].is_string()) {
        fail("each \"configTypes\" entry must be an object with a string \"type\"");
      }
      out.config.config_types[entry["type"].get<std::string>()] = entry.value("data", Json());
    }
  }
  return out;
}

}  // namespace plugvisor::sdk::detail
