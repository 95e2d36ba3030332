// The checker's runner and fixtures: recording results, launching the
// plugin under test, plain runs, scratch directories.
#include "conformance/checker.hpp"

#include <signal.h>
#include <stdlib.h>

#include <algorithm>

#include "transport/transport.hpp"

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

std::string describe(const std::optional<RawResponse>& response, const std::string& error) {
  if (!response) return "no answer (" + error + ")";
  return "HTTP " + std::to_string(response->status) + " " + detail::quote(response->body);
}

// The error code of a protocol error body, or "" if the body is not one.
std::string error_code(const RawResponse& response) {
  Json doc = protocol::parse_json_or_discarded(response.body);
  if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_object()) return "";
  const Json& error = doc["error"];
  if (!error.contains("code") || !error["code"].is_string() || !error.contains("message") ||
      !error["message"].is_string()) {
    return "";
  }
  return error["code"].get<std::string>();
}

bool is_error(const std::optional<RawResponse>& response, int status, const std::string& code) {
  return response && response->status == status && error_code(*response) == code;
}

Run Checker::run_plain(std::vector<std::string> args, std::vector<std::string> env, std::chrono::milliseconds limit,
                       bool keep_stdin_open) const {
  detail::ProcessReactor reactor;
  auto place = gate_->begin();
  detail::SpawnSpec spec;
  spec.path = plugin_.string();
  spec.args = std::move(args);
  spec.env = std::move(env);
  spec.pipe_stdin = keep_stdin_open;
  spec.stdout_mode = detail::StdoutMode::capture;
  auto child = reactor.spawn(std::move(spec));
  Run run;
  run.exit = child->wait_until(Clock::now() + limit);
  if (!run.exit) {
    child->signal(SIGKILL);
    child->wait_until(Clock::now() + 5s);
  }
  run.out = child->captured().first;
  run.err = child->stderr_tail();
  return run;
}

std::unique_ptr<PluginSession> Checker::start_session(const ScratchDir& dir, SessionOptions options) const {
  options.gate = gate_.get();
  return std::make_unique<PluginSession>(plugin_, dir.path(), std::move(options));
}

std::unique_ptr<Checker> Checker::fork() const {
  auto fork = std::make_unique<Checker>(plugin_);
  fork->gate_ = gate_;
  fork->capabilities_ = capabilities_;
  fork->have_capabilities_ = have_capabilities_;
  fork->served_ = served_;
  fork->tcp_ = tcp_;
  return fork;
}

void Checker::absorb(Checker& fork) {
  for (auto& result : fork.results_) {
    // Every launch that fails the same way reports H1: once is enough.
    if (result.id == "H1" &&
        std::any_of(results_.begin(), results_.end(), [](const CheckResult& r) { return r.id == "H1"; })) {
      continue;
    }
    results_.push_back(std::move(result));
  }
  fork.results_.clear();
}

void Checker::record(std::string id, std::string section, std::string rule, bool ok, std::string saw,
                     Weight weight) {
  results_.push_back(CheckResult{std::move(id), std::move(rule), std::move(section), weight,
                                 ok ? CheckResult::pass : CheckResult::fail, ok ? "" : std::move(saw)});
}

void Checker::skip(std::string id, std::string section, std::string rule, std::string why) {
  results_.push_back(
      CheckResult{std::move(id), std::move(rule), std::move(section), Weight::must, CheckResult::skip, std::move(why)});
}

void Checker::not_applicable(std::string id, std::string section, std::string rule, std::string why) {
  results_.push_back(
      CheckResult{std::move(id), std::move(rule), std::move(section), Weight::must, CheckResult::na, std::move(why)});
}

bool Checker::serves(Transport transport) const {
  return std::find(served_.begin(), served_.end(), transport) != served_.end();
}

// Why a check of `transport` does not apply to this plugin.
std::string Checker::not_served(Transport transport) const {
  return "the plugin serves only " + detail::transports_text(served_) + " (capabilities \"transports\"), not " +
         std::string(to_string(transport));
}

// The first declared type, as (contract, type), if capabilities were read.
std::optional<std::pair<std::string, std::string>> Checker::first_type(const std::string& contract) const {
  for (const auto& t : capabilities_.types) {
    if (contract.empty() || t.contract == contract) return std::make_pair(t.contract, t.type);
  }
  return std::nullopt;
}

// The path of a call to ping the first declared type ("" if none was read).
std::string Checker::ping_path() const {
  auto target = first_type();
  return target ? "/v1/" + target->first + "/" + target->second + "/ping" : "";
}

// Launches a session; if no handshake comes, records check `id` as failed
// (or H1, if something else came first) and returns null.
std::unique_ptr<PluginSession> Checker::launch(const ScratchDir& dir, SessionOptions options, const std::string& id,
                                      const std::string& rule) {
  options.tcp = options.tcp || tcp_;  // the whole set runs over the transport the manager would pick
  auto session = start_session(dir, std::move(options));
  if (session->handshake().is_object()) return session;
  const auto& line = session->first_line();
  if (line) {
    // Every later launch would fail the same way: H1 is reported once.
    if (std::any_of(results_.begin(), results_.end(), [](const CheckResult& r) { return r.id == "H1"; })) {
      return nullptr;
    }
    record("H1", "§6", "nothing but the handshake line is written to stdout before it", false,
           "first line " + detail::quote(*line));
  } else {
    record(id, "§6", rule + " (the plugin must print its handshake within 10 s)", false,
           "no handshake; " +
               (session->child().exit_status() ? session->child().exit_status()->describe() + "; " : "") +
               "stderr: " + detail::quote(session->child().stderr_tail()));
  }
  return nullptr;
}

// A complete launch configuration for `dir`, over the transport of the whole set.
Json Checker::launch_config(const ScratchDir& dir) const {
  return Json{{"protocolVersion", 1},
              {"id", "validate"},
              {"type", tcp_ ? "tcp" : "unix"},
              {"address", tcp_ ? "127.0.0.1:0" : (dir.path() / "plugin.sock").string()},
              {"idleTimeout", "0"},
              {"token", "validate-token"}};
}

// Records whether the plugin exited 0 within `limit` and removed its files.
void Checker::expect_clean_exit(PluginSession& session, const std::string& id, const std::string& section,
                       const std::string& rule, std::chrono::milliseconds limit) {
  auto exit = session.wait_exit(limit);
  bool files_gone = !fs::exists(session.socket_path()) && !fs::exists(session.socket_path() + ".lock");
  record(id, section, rule, exit && exit->clean() && files_gone,
         (exit ? exit->describe() : "still running after " + protocol::format_duration(limit)) +
             (files_gone ? "" : "; socket or lock file left behind"));
}

}  // namespace plugvisor::cli::conformance
