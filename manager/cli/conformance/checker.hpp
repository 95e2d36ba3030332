// The conformance checker's runner and fixtures, shared by the check groups
// (one file per group of the checklist in docs/protocol.md §18: capabilities
// C, launch L, handshake H, calls A/K, connections N, shutdown S, idle I,
// transports T, files F). conformance.cpp runs the groups at once, each on a
// checker of its own (a fork), and reports them in its order.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "conformance.hpp"
#include "discovery/capabilities.hpp"
#include "plugin_session.hpp"
#include "plugvisor/manager.hpp"
#include "quote.hpp"

namespace plugvisor::cli::conformance {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::string describe(const std::optional<RawResponse>& response, const std::string& error);
// The error code of a protocol error body, or "" if the body is not one.
std::string error_code(const RawResponse& response);
bool is_error(const std::optional<RawResponse>& response, int status, const std::string& code);

// A private 0700 directory for one check's sockets, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "plugvisor-validate-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw Error(ErrorCode::config, "cannot create a temporary directory");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A plain process run (no handshake), for capabilities and usage checks.
struct Run {
  std::optional<detail::ExitStatus> exit;
  std::string out;
  std::string err;
};


// One run of every check against one plugin executable. The check groups
// define its check_* members, each in the file named after its group.
class Checker {
 public:
  explicit Checker(fs::path plugin) : plugin_(std::move(plugin)) {}
  ~Checker() {
    if (idle_probe_.joinable()) idle_probe_.join();
  }
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  // Every check, in the order of conformance.cpp.
  std::vector<CheckResult> run();

 private:
  // The runner (checker.cpp).
  // A checker for one group on a thread of its own: what the capabilities
  // said, and no results yet.
  std::unique_ptr<Checker> fork() const;
  // Takes over a fork's results, in their order (H1 is reported once).
  void absorb(Checker& fork);
  void record(std::string id, std::string section, std::string rule, bool ok, std::string saw,
              Weight weight = Weight::must);
  void skip(std::string id, std::string section, std::string rule, std::string why);
  void not_applicable(std::string id, std::string section, std::string rule, std::string why);
  bool serves(Transport transport) const;
  std::string not_served(Transport transport) const;
  std::optional<std::pair<std::string, std::string>> first_type(const std::string& contract = "") const;
  std::string ping_path() const;
  // Every process of the plugin under test starts through one of these two,
  // which wait for its place in gate_ first.
  Run run_plain(std::vector<std::string> args, std::vector<std::string> env, std::chrono::milliseconds limit,
                bool keep_stdin_open) const;
  std::unique_ptr<PluginSession> start_session(const ScratchDir& dir, SessionOptions options) const;
  std::unique_ptr<PluginSession> launch(const ScratchDir& dir, SessionOptions options, const std::string& id,
                                        const std::string& rule);
  Json launch_config(const ScratchDir& dir) const;
  void expect_clean_exit(PluginSession& session, const std::string& id, const std::string& section,
                         const std::string& rule, std::chrono::milliseconds limit);

  // capabilities.cpp (C)
  void check_capabilities();
  void check_transports(const Json& doc);
  void check_descriptions();
  // launch.cpp (L)
  void check_usage();
  void check_durations();
  void check_defaults();
  // handshake.cpp (H)
  void check_live_plugin();
  void check_handshake(PluginSession& session, bool tcp, bool main);
  // calls.cpp (A, K)
  void check_calls(PluginSession& session);
  void check_types(PluginSession& session);
  void check_bodyless_post(PluginSession& session);
  void check_deadline_header(PluginSession& session);
  void check_body_limit();
  // connections.cpp (N)
  void check_keep_alive(PluginSession& session);
  void check_concurrency(PluginSession& session);
  void check_client_gone(PluginSession& session);
  void check_backlog(PluginSession& session);
  // shutdown.cpp (S)
  void check_shutdown_endpoint();
  void check_stdin_eof(bool on_stdin);
  void check_sigterm();
  // idle.cpp (I, and the end of the run)
  void check_idle();
  void check_long_idle();
  // transports.cpp (T)
  void check_tcp();
  void check_undeclared_transport();
  // files.cpp (A5, F)
  void check_socket_files(PluginSession& session);
  void check_socket_paths();
  void check_live_lock();
  void check_stale_lock();
  void check_file_at_socket();

  fs::path plugin_;
  // One process starting per core, for the whole run (the forks share it).
  std::shared_ptr<StartGate> gate_ =
      std::make_shared<StartGate>(std::thread::hardware_concurrency(), std::chrono::seconds(1));
  Capabilities capabilities_;
  bool have_capabilities_ = false;
  std::vector<CheckResult> results_;
  // The transports the plugin serves (both until capabilities say otherwise),
  // and whether the whole set runs over TCP (the plugin serves no socket).
  std::vector<Transport> served_{Transport::unix_socket, Transport::tcp};
  bool tcp_ = false;
  // Plugins that stay up for the whole run (directories first: they go last).
  std::unique_ptr<ScratchDir> live_dir_, defaults_dir_;
  std::unique_ptr<PluginSession> live_, defaults_;
  std::string defaults_problem_;
  std::thread idle_probe_;
  std::optional<RawResponse> idle_answer_;
  std::string idle_error_;
};

// Starts f() on a thread of its own; get() on the result waits for it and
// rethrows what it threw. The checks use it for launches that wait apart.
template <class F>
auto start(F&& f) {
  return std::async(std::launch::async, std::forward<F>(f));
}

}  // namespace plugvisor::cli::conformance
