#include "discovery/capabilities.hpp"

#include <algorithm>
#include <chrono>
#include <signal.h>

#include "process/environment.hpp"
#include "plugvisor/detail/json_schema.hpp"
#include "process/process_reactor.hpp"
#include "sandbox/sandbox.hpp"
#include "quote.hpp"
#include "transport/transport.hpp"

namespace plugvisor {

namespace detail {

namespace {

[[noreturn]] void fail(const std::string& what) { throw Error(ErrorCode::start_failed, what); }

std::string string_field(const Json& doc, const char* key, bool required) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) {
    if (required) fail(std::string("capabilities has no \"") + key + "\"");
    return {};
  }
  if (!it->is_string()) fail(std::string("capabilities \"") + key + "\" must be a string, not " + it->dump());
  return it->get<std::string>();
}

void check_schema(const Json& schema, const std::string& what) {
  try {
    JsonSchema compiled(schema);
  } catch (const Error& e) {
    fail(what + " is not a valid JSON Schema: " + e.what());
  }
}

// "configSchemas": {"<config type>": <JSON Schema of its data>}
void parse_config_schemas(const Json& doc, Capabilities& out) {
  auto schemas = doc.find("configSchemas");
  if (schemas == doc.end() || schemas->is_null()) return;
  if (!schemas->is_object()) fail("capabilities \"configSchemas\" must be an object from config type to JSON Schema");
  for (const auto& [name, schema] : schemas->items()) {
    if (std::find(out.config_types.begin(), out.config_types.end(), name) == out.config_types.end()) {
      fail("capabilities \"configSchemas\" has a schema for " + detail::quote(name) +
           ", which \"configTypes\" does not list");
    }
    check_schema(schema, "configSchemas." + name);
    out.config_schemas[name] = schema;
  }
}

// "contracts": {"<contract>": {"version": N, "methods": {...}}}: the
// descriptions of the contracts the plugin implements (docs/contracts.md).
void parse_contracts(const Json& doc, Capabilities& out) {
  auto contracts = doc.find("contracts");
  if (contracts == doc.end() || contracts->is_null()) return;
  if (!contracts->is_object()) fail("capabilities \"contracts\" must be an object from contract name to description");
  for (const auto& [name, description] : contracts->items()) {
    try {
      out.contracts.emplace(name, ContractDescription::from_json(name, description));
    } catch (const Error& e) {
      fail(std::string("capabilities ") + e.what());
    }
  }
}

// "permissions": what the plugin needs (docs/security.md).
void parse_declared_permissions(const Json& doc, Capabilities& out) {
  auto permissions = doc.find("permissions");
  if (permissions == doc.end() || permissions->is_null()) return;
  try {
    out.permissions = parse_permissions(*permissions);
  } catch (const Error& e) {
    fail(std::string("capabilities ") + e.what());
  }
}

}  // namespace

Capabilities parse_capabilities(const std::string& text) {
  Json doc;
  try {
    doc = protocol::parse_json(text);
  } catch (const Error& e) {
    fail(std::string("capabilities printed JSON that is refused: ") + e.what());
  } catch (const Json::exception&) {
    fail("capabilities printed invalid JSON: " + detail::quote(text) +
         " (it must print one JSON document on stdout and log only to stderr)");
  }
  if (!doc.is_object()) fail("capabilities must print a JSON object, not " + detail::quote(doc.dump()));
  auto version = doc.find("protocolVersion");
  if (version == doc.end()) fail("capabilities has no \"protocolVersion\" (this manager speaks version 1)");
  if (!version->is_number_integer() || version->get<long long>() != protocol::version) {
    fail("capabilities names protocolVersion " + version->dump() +
         ", but this manager speaks version 1: update the plugin or the manager");
  }
  Capabilities out;
  out.name = string_field(doc, "name", true);
  out.version = string_field(doc, "version", true);
  out.description = string_field(doc, "description", false);
  out.transports = parse_transports(doc);

  auto types = doc.find("types");
  if (types == doc.end() || !types->is_object()) {
    fail("capabilities needs \"types\": an object from contract name to a list of {\"type\": ...}");
  }
  for (const auto& [contract, list] : types->items()) {
    if (!protocol::is_valid_name(contract)) fail("capabilities names an invalid contract " + detail::quote(contract));
    if (!list.is_array()) fail("capabilities types." + contract + " must be an array");
    for (const auto& entry : list) {
      if (!entry.is_object() || !entry.contains("type") || !entry["type"].is_string()) {
        fail("each entry of types." + contract + " must be an object with a string \"type\", not " +
             detail::quote(entry.dump()));
      }
      DeclaredType declared{contract, entry["type"].get<std::string>(), "", nullptr};
      if (!protocol::is_valid_name(declared.type)) {
        fail("capabilities names an invalid type " + detail::quote(declared.type) + " of " + contract +
             " (names are 1-64 of [A-Za-z0-9._-])");
      }
      for (const auto& other : out.types) {
        if (other.contract == contract && other.type == declared.type) {
          fail("capabilities declares " + contract + " type " + detail::quote(declared.type) + " twice");
        }
      }
      if (auto d = entry.find("description"); d != entry.end() && d->is_string()) declared.description = *d;
      if (auto schema = entry.find("jsonSchema"); schema != entry.end() && !schema->is_null()) {
        // A string holding JSON is accepted for plugins written against older descriptions.
        if (schema->is_string()) {
          try {
            declared.json_schema = protocol::parse_json(schema->get<std::string>());  // depth-bounded
          } catch (const Error& e) {
            fail("jsonSchema of " + contract + "/" + declared.type + " is a string whose JSON is refused: " + e.what());
          } catch (const Json::exception&) {
            fail("jsonSchema of " + contract + "/" + declared.type + " is a string that is not JSON");
          }
        } else {
          declared.json_schema = *schema;
        }
        check_schema(declared.json_schema, "jsonSchema of " + contract + "/" + declared.type);
      }
      out.types.push_back(std::move(declared));
    }
  }
  if (auto config = doc.find("configTypes"); config != doc.end() && !config->is_null()) {
    if (!config->is_array()) fail("capabilities \"configTypes\" must be an array of strings");
    for (const auto& name : *config) {
      if (!name.is_string() || !protocol::is_valid_name(name.get<std::string>())) {
        fail("capabilities \"configTypes\" must be an array of names (1-64 of [A-Za-z0-9._-]), not " +
             detail::quote(config->dump()));
      }
      out.config_types.push_back(name.get<std::string>());
    }
  }
  parse_config_schemas(doc, out);
  parse_contracts(doc, out);
  parse_declared_permissions(doc, out);
  return out;
}

}  // namespace detail

namespace detail {

namespace {

Capabilities run_capabilities(SpawnSpec spec, std::chrono::milliseconds timeout) {
  ProcessReactor reactor;
  spec.args = {"capabilities"};
  spec.stdout_mode = StdoutMode::capture;
  auto child = reactor.spawn(std::move(spec));
  auto status = child->wait_until(protocol::deadline_after(timeout));
  if (!status) {
    child->signal(SIGKILL);
    child->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    throw Error(ErrorCode::start_failed, "capabilities did not finish within " +
                                             protocol::format_duration(timeout) + " and was killed");
  }
  auto [output, overflowed] = child->captured();
  std::string tail = child->stderr_tail();
  std::string stderr_note = tail.empty() ? "" : "; its stderr: " + tail;
  if (!status->clean()) {
    throw Error(ErrorCode::start_failed, "capabilities " + status->describe() + stderr_note);
  }
  if (overflowed) {
    throw Error(ErrorCode::start_failed, "capabilities printed more than 1 MiB");
  }
  return parse_capabilities(output);
}

}  // namespace

ProbeResult probe_plugin(const std::filesystem::path& path, const PluginSettings& settings,
                         const SignatureCheck& signature) {
  SpawnSpec spec;
  spec.path = path.string();
  spec.env = plugin_environment(settings.env);
  spec.executable = OpenedExecutable::open(path, true);
  spec.executable->check_pin(settings.sha256);
  check_signature(path, spec.executable->sha256(), signature);
  if (settings.grant) {
    // The probe runs the plugin's code too: within everything it may be granted.
    auto plan = plan_sandbox(*settings.grant, settings.transport, settings.enforce, path, {}, plugin_run_as(settings));
    spec.sandbox = PreparedSandbox::prepare(plan);
    spec.limits.memory_bytes = smaller_limit(settings.limits.memory_bytes, settings.grant->memory_bytes);
  }
  std::string sha256 = spec.executable->sha256();
  return ProbeResult{run_capabilities(std::move(spec), settings.capabilities_timeout), std::move(sha256)};
}

std::size_t smaller_limit(std::size_t a, std::size_t b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); }

}  // namespace detail

Capabilities probe_capabilities(const std::filesystem::path& path, std::chrono::milliseconds timeout,
                                const std::map<std::string, std::string>& env) {
  detail::SpawnSpec spec;
  spec.path = path.string();
  spec.env = detail::plugin_environment(env);
  spec.executable = detail::OpenedExecutable::open(path, false);
  return detail::run_capabilities(std::move(spec), timeout);
}

}  // namespace plugvisor
