#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string_view>

#include "launch_config.hpp"
#include "lifecycle.hpp"
#include "plugvisor/sdk.hpp"
#include "server.hpp"

namespace plugvisor::sdk {

namespace {

constexpr std::size_t max_config_line = 16 * 1024 * 1024;

// Reads one line from stdin without stdio, in blocks rather than a byte at a
// time (that was ~300 system calls on every launch). What follows the line
// in the same block is dropped: the manager writes nothing after it
// (docs/protocol.md 5.1), and the stdin watch reads and drops anything later.
std::optional<std::string> read_stdin_line() {
  std::string line;
  char block[4096];
  while (true) {
    ssize_t got = ::read(STDIN_FILENO, block, sizeof block);
    if (got > 0) {
      std::string_view chunk(block, static_cast<std::size_t>(got));
      std::size_t newline = chunk.find('\n');
      line.append(chunk.substr(0, newline));
      if (line.size() > max_config_line) return std::nullopt;
      if (newline != std::string_view::npos) return line;
    } else if (got == 0 || errno != EINTR) {
      return line.empty() ? std::nullopt : std::optional(line);
    }
  }
}

void print_usage(const PluginInfo& info, const char* argv0) {
  std::fprintf(stderr,
               "%s %s: a plugvisor plugin (protocol v1).\n"
               "It is normally started by a plugvisor manager. To run it by hand:\n"
               "  %s capabilities                 print what it provides (JSON)\n"
               "  %s --config '<json>'            serve with an inline launch configuration\n"
               "  %s --config -                   read the configuration as one JSON line on stdin\n"
               "The configuration is described in docs/protocol.md (section Launch).\n",
               info.name.c_str(), info.version.c_str(), argv0, argv0, argv0);
}

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "{\"level\":\"error\",\"msg\":%s}\n", Json(message).dump().c_str());
  return code;
}

}  // namespace

const Json& Config::data(const std::string& name) const {
  static const Json null_json;
  auto it = config_types.find(name);
  return it == config_types.end() ? null_json : it->second;
}

Plugin::Plugin(PluginInfo info) : info_(std::move(info)) {}

Plugin::~Plugin() = default;
Plugin::Plugin(Plugin&&) noexcept = default;
Plugin& Plugin::operator=(Plugin&&) noexcept = default;

Plugin& Plugin::add_handler(std::string contract, std::string type, TypeOptions options, HandlerFactory factory) {
  provisions_.push_back(Provision{std::move(contract), std::move(type), std::move(options), std::move(factory)});
  return *this;
}

Plugin& Plugin::describe(ContractDescription contract) {
  auto [it, added] = contracts_.emplace(contract.name, contract);
  if (!added && !(it->second == contract)) {
    throw std::invalid_argument("Plugin::describe: contract " + contract.name + " is described twice, differently");
  }
  return *this;
}

Plugin& Plugin::config_type(std::string name, Json json_schema) {
  if (!json_schema.is_null()) config_schemas_[name] = std::move(json_schema);
  config_types_.push_back(std::move(name));
  return *this;
}

Plugin& Plugin::max_connections(std::size_t count) {
  if (count == 0) throw std::invalid_argument("Plugin::max_connections: at least 1 connection must be served");
  max_connections_ = count;
  return *this;
}

Json Plugin::capabilities() const {
  Json types = Json::object();
  for (const auto& p : provisions_) {
    Json entry{{"type", p.type}};
    if (!p.options.json_schema.is_null()) entry["jsonSchema"] = p.options.json_schema;
    if (!p.options.description.empty()) entry["description"] = p.options.description;
    types[p.contract].push_back(std::move(entry));
  }
  Json out{{"protocolVersion", protocol::version}, {"name", info_.name},
           {"version", info_.version},               {"description", info_.description},
           {"types", std::move(types)},               {"configTypes", config_types_},
           {"transports", {"unix", "tcp"}}};  // run() serves both (docs/protocol.md 4.2)
  if (!config_schemas_.empty()) out["configSchemas"] = config_schemas_;
  if (!contracts_.empty()) {
    Json contracts = Json::object();
    for (const auto& [name, contract] : contracts_) contracts[name] = contract.to_json();
    out["contracts"] = std::move(contracts);
  }
  return out;
}

int Plugin::run(int argc, char** argv) {
  const char* argv0 = argc > 0 ? argv[0] : "plugin";
  std::string_view command = argc > 1 ? argv[1] : "";
  if (command == "capabilities" && argc == 2) {
    std::cout << capabilities().dump() << std::endl;
    return protocol::exit_ok;
  }
  if (command == "--help" || command == "-h") {
    print_usage(info_, argv0);
    return protocol::exit_ok;
  }
  if (command != "--config" || argc != 3) {
    if (argc == 1 && std::getenv(std::string(protocol::env_protocol).c_str()) == nullptr) {
      print_usage(info_, argv0);
    } else {
      std::fprintf(stderr, "%s: unexpected arguments; see %s --help\n", argv0, argv0);
    }
    return protocol::exit_usage;
  }

  // Keep call bodies' memory in the heap between calls: with glibc's defaults
  // each body of 128 KiB or more is a fresh mmap, page-faulted in on every call
  // (docs/performance.md). Left alone when GLIBC_TUNABLES sets malloc options.
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (!tunables || std::string_view(tunables).find("glibc.malloc.") == std::string_view::npos) {
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 128 << 20);
    ::mallopt(M_TOP_PAD, 16 << 20);
  }

  // Before any thread exists (a factory may start one): only the lifecycle
  // watcher may receive SIGTERM and SIGINT.
  detail::block_shutdown_signals();
  detail::LaunchConfig launch;
  std::map<std::string, Handler> handlers;
  try {
    std::string text = argv[2];
    if (text == "-") {
      auto line = read_stdin_line();
      if (!line) {
        return fail(protocol::exit_usage,
                    "--config -: expected one JSON line (under 16 MiB) on stdin, got end of input or a longer line");
      }
      text = *line;
    }
    launch = detail::parse_launch_config(text);
    for (const auto& p : provisions_) {
      handlers[p.contract + "/" + p.type] = p.factory(launch.config);
    }
  } catch (const std::exception& e) {
    return fail(protocol::exit_usage, e.what());
  } catch (...) {
    return fail(protocol::exit_usage, "a type's factory failed while reading the configuration");
  }

  detail::Server server(launch, std::move(handlers), max_connections_);
  std::string address;
  try {
    address = server.bind();
  } catch (const Error& e) {
    return fail(e.code() == ErrorCode::config ? protocol::exit_usage : protocol::exit_bind, e.what());
  }

  Json handshake{{"protocolVersion", protocol::version}, {"type", launch.transport},
                 {"address", address},                   {"pid", ::getpid()}};
  std::cout << handshake.dump() << std::endl;

  detail::Lifecycle lifecycle(server, launch.config.idle_timeout);
  return server.serve();
}

}  // namespace plugvisor::sdk
