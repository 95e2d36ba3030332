// plugvisor C++ SDK: everything a plugin process needs besides its contract
// implementations. A plugin's main() is a few lines:
//
//   int main(int argc, char** argv) {
//     plugvisor::sdk::Plugin plugin({.name = "text-tools", .version = "1.0.0"});
//     plugin.provide<plugvisor::DataProcessor>("uppercase", std::make_shared<Uppercase>());
//     return plugin.run(argc, argv);
//   }
//
// run() implements protocol v1 (docs/protocol.md): `capabilities`, `--config`,
// the socket and its lock file, the handshake line, /healthz, bearer auth,
// dispatch, the error body, /shutdown, SIGTERM/SIGINT, stdin EOF, the idle
// timer, and cleanup on every exit path it controls.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/contracts.hpp"

namespace plugvisor::sdk {

/// The identity a plugin reports in `capabilities`.
struct PluginInfo {
  std::string name;
  std::string version;
  std::string description = {};
};

/// Per-type options reported in `capabilities`.
struct TypeOptions {
  /// The JSON schema of the type's input or configuration (null: none).
  Json json_schema = nullptr;
  std::string description = {};
};

/// The launch configuration, as the manager (or a person) passed it.
struct Config {
  /// The id the manager gave this plugin instance.
  std::string id;
  /// The idle timeout (zero: never idle out).
  std::chrono::milliseconds idle_timeout{0};
  /// The data of each declared config type the manager handed over.
  std::map<std::string, Json> config_types;

  /// The data of config type `name`, or null if the manager gave none.
  const Json& data(const std::string& name) const;
};

/// The deadline of the request this thread is handling, from the caller's
/// X-Plugvisor-Deadline-Ms header; nullopt if the caller sent none. A budget
/// too large for the clock saturates to time_point::max() ("never"), so
/// compute what is left as `*deadline() - now()`, never `now() + budget`.
std::optional<std::chrono::steady_clock::time_point> deadline() noexcept;

/// A plugin process. Build it, declare what it provides, then run() it once
/// from main(). Not thread-safe before run(); run() owns the process.
class Plugin {
 public:
  /// Turns a wire call into a result; thrown Errors become their wire code,
  /// anything else thrown becomes 500 internal. The input is the handler's
  /// own (the request's buffer, moved in): it may return it, or parts of it,
  /// without a copy. A handler taking `const Payload&` works as well.
  using Handler = std::function<Payload(std::string_view method, Payload input)>;
  /// Makes a type's handler once the configuration is known.
  using HandlerFactory = std::function<Handler(const Config&)>;

  explicit Plugin(PluginInfo info);
  ~Plugin();
  Plugin(Plugin&&) noexcept;
  Plugin& operator=(Plugin&&) noexcept;

  /// Provides contract C under `type` with an implementation made up front.
  template <class C>
  Plugin& provide(std::string type, std::shared_ptr<C> impl, TypeOptions options = {}) {
    return provide<C>(std::move(type), [impl](const Config&) { return impl; }, std::move(options));
  }

  /// Provides contract C under `type` with an implementation made from the
  /// configuration (e.g. from a config type's data). If the factory throws,
  /// run() exits with code 2 and the reason on stderr.
  template <class C, class Factory>
    requires std::is_invocable_r_v<std::shared_ptr<C>, Factory, const Config&>
  Plugin& provide(std::string type, Factory factory, TypeOptions options = {}) {
    describe(contract_info<C>().description);
    return add_handler(std::string(ContractTraits<C>::name), std::move(type), std::move(options),
                       [factory = std::move(factory)](const Config& config) -> Handler {
                         std::shared_ptr<C> impl = factory(config);
                         return [impl](std::string_view method, Payload input) {
                           return dispatch<C>(*impl, method, std::move(input));
                         };
                       });
  }

  /// Provides a type of a contract this build does not declare in C++, by
  /// handler (describe() the contract too, so that hosts can check it).
  Plugin& add_handler(std::string contract, std::string type, TypeOptions options, HandlerFactory factory);

  /// Publishes the description of a contract this plugin implements, in
  /// `capabilities` (provide<C> does it for C). Safe to call again with the
  /// same description; throws std::invalid_argument for another description
  /// of the same contract.
  Plugin& describe(ContractDescription contract);

  /// Declares a config type: the manager hands its data to this plugin. With
  /// a JSON Schema, the manager refuses data that breaks it before launch.
  Plugin& config_type(std::string name, Json json_schema = nullptr);

  /// The most connections served at once, each on a thread of its own
  /// (default 1024, at least 1). Further connections wait, unanswered, in the
  /// listen backlog until one closes; the manager keeps one connection per
  /// call in flight and up to 8 idle ones.
  Plugin& max_connections(std::size_t count);

  /// The `capabilities` document.
  Json capabilities() const;

  /// Runs the plugin as protocol v1 says, returning the process exit code:
  /// 0 after a normal shutdown (asked, signalled, stdin EOF or idle),
  /// 1 if calls were still running when the 5 s shutdown grace ended,
  /// 2 for bad usage or configuration, 3 if the address cannot be bound.
  int run(int argc, char** argv);

 private:
  struct Provision {
    std::string contract;
    std::string type;
    TypeOptions options;
    HandlerFactory factory;
  };

  PluginInfo info_;
  std::vector<Provision> provisions_;
  std::map<std::string, ContractDescription> contracts_;
  std::vector<std::string> config_types_;
  std::map<std::string, Json> config_schemas_;
  std::size_t max_connections_ = 1024;
};

}  // namespace plugvisor::sdk
