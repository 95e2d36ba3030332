// Checks of the launch (L, protocol §5): arguments, the configuration and
// its defaults, durations.
#include "conformance/checker.hpp"

#include "process/environment.hpp"

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_usage() {
  // Five runs at once: each may wait its 5 s (a plugin that reads stdin).
  ScratchDir dir;
  Json bad{{"protocolVersion", 99}, {"id", "validate"}, {"type", "unix"},
           {"address", (dir.path() / "p.sock").string()}, {"token", "t"}};
  auto run_at_once = [this](std::vector<std::string> args, std::vector<std::string> env, bool keep_stdin_open) {
    return start([=, this] { return run_plain(args, env, 5s, keep_stdin_open); });
  };
  auto bare_run = run_at_once({}, {"PATH=/usr/local/bin:/usr/bin:/bin"}, true);
  auto stray_run = run_at_once({"--validate-unexpected-argument"}, detail::plugin_environment({}), true);
  auto none_run = run_at_once({}, detail::plugin_environment({}), true);
  auto empty_run = run_at_once({"--config", "-"}, detail::plugin_environment({}), false);
  auto wrong_run = run_at_once({"--config", bad.dump()}, detail::plugin_environment({}), true);

  auto bare = bare_run.get();
  record("L3", "§5.1", "with no arguments and no PLUGVISOR_PROTOCOL: help on stderr, exit 2, stdin not read",
         bare.exit && bare.exit->code == 2 && bare.exit->signal == 0,
         bare.exit ? bare.exit->describe() : "still running after 5 s (waiting on stdin?)");

  // L4: unexpected arguments, and no arguments where PLUGVISOR_PROTOCOL says a
  // manager started it: a usage error, at once, stdin left alone.
  auto stray = stray_run.get();
  auto none = none_run.get();
  auto usage_error = [](const Run& run) { return run.exit && run.exit->code == 2 && run.exit->signal == 0; };
  record("L4", "§5.1",
         "unexpected arguments, or none with PLUGVISOR_PROTOCOL set: message on stderr, exit 2, stdin not read",
         usage_error(stray) && usage_error(none),
         "--validate-unexpected-argument: " + (stray.exit ? stray.exit->describe() : "still running after 5 s") +
             "; no arguments: " + (none.exit ? none.exit->describe() : "still running after 5 s (waiting on stdin?)"));

  // L1: `--config -` and end of file before any byte.
  auto empty = empty_run.get();
  record("L1", "§5.1", "--config - with end of file on stdin before any byte: exit 2, nothing on stdout",
         usage_error(empty) && empty.out.empty(),
         (empty.exit ? empty.exit->describe() : "still running after 5 s") + ", stdout " + detail::quote(empty.out));

  auto wrong = wrong_run.get();
  record("L6", "§5.2", "protocolVersion other than 1: message on stderr, exit 2, nothing on stdout",
         wrong.exit && wrong.exit->code == 2 && wrong.exit->signal == 0 && wrong.out.empty(),
         (wrong.exit ? wrong.exit->describe() : "still running after 5 s") + ", stdout " + detail::quote(wrong.out));
}

// L7: the grammar of durations (protocol 5.3), at its edges.
void Checker::check_durations() {
  // Every case at once: a plugin that takes a wrong duration runs its 5 s.
  std::vector<std::future<std::string>> accepted, refused;  // what was wrong, or ""
  for (const char* invalid : {"1m30s", "00", "10", "1.5s", "5S", "1099511627777ms"}) {
    accepted.push_back(start([this, invalid]() -> std::string {
      ScratchDir dir;
      Json config = launch_config(dir);
      config["idleTimeout"] = invalid;
      auto run = run_plain({"--config", config.dump()}, detail::plugin_environment({}), 5s, true);
      if (run.exit && run.exit->code == 2 && run.exit->signal == 0 && run.out.empty()) return "";
      return std::string(invalid) + ": " + (run.exit ? run.exit->describe() : "still running after 5 s") +
             (run.out.empty() ? "" : ", stdout " + detail::quote(run.out));
    }));
  }
  for (const char* valid : {"1099511627776s", "007s"}) {
    refused.push_back(start([this, valid]() -> std::string {
      ScratchDir dir;
      auto started = start_session(dir, {.tcp = tcp_, .overrides = Json{{"idleTimeout", valid}}, .start_timeout = 10s});
      auto& session = *started;
      std::string error;
      auto health = session.handshake().is_object() ? session.request("GET", "/healthz", "", "", "", error)
                                                    : std::nullopt;
      if (health && health->status == 200) return "";
      return std::string(valid) + ": " +
             (session.handshake().is_object() ? describe(health, error) : "no handshake; " + [&] {
               auto exit = session.wait_exit(1s);
               return exit ? exit->describe() : std::string("running");
             }());
    }));
  }
  auto joined = [](std::vector<std::future<std::string>>& cases) {
    std::string text;
    for (auto& c : cases) {
      auto wrong = c.get();
      if (!wrong.empty()) text += (text.empty() ? "" : "; ") + wrong;
    }
    return text;
  };
  const std::string accepted_wrongly = joined(accepted), refused_wrongly = joined(refused);
  record("L7", "§5.3",
         "idleTimeout: every duration of the grammar up to 2^40 is accepted (1099511627776s, 007s); others "
         "(1m30s, 00, 10, 1.5s, 5S, 1099511627777ms) exit 2 with nothing on stdout",
         refused_wrongly.empty() && accepted_wrongly.empty(),
         (refused_wrongly.empty() ? "" : "refused " + refused_wrongly + (accepted_wrongly.empty() ? "" : "; ")) +
             (accepted_wrongly.empty() ? "" : "accepted " + accepted_wrongly));
}

// L5 and L8: a configuration with unknown members and an undeclared config
// type, without idleTimeout and maxBodyBytes. The plugin stays up for the
// rest of the run; check_long_idle() sees whether it idled out.
void Checker::check_defaults() {
  auto dir = std::make_unique<ScratchDir>();
  Json extra{{"validateUnknownMember", {{"nested", true}}},
             {"configTypes", Json::array({{{"type", "validate.undeclared"}, {"data", {{"x", 1}}}}})}};
  auto session = start_session(*dir, {.tcp = tcp_, .overrides = extra, .without = {"idleTimeout"}});
  std::string error;
  auto health = session->handshake().is_object() ? session->request("GET", "/healthz", "", "", "", error)
                                                 : std::nullopt;
  record("L5", "§5.2", "unknown configuration members and config types the plugin did not declare are ignored",
         health && health->status == 200,
         session->handshake().is_object()
             ? describe(health, error)
             : "no handshake; " + [&] {
                 auto exit = session->wait_exit(1s);
                 return (exit ? exit->describe() : std::string("running")) + "; stderr: " +
                        detail::quote(session->child().stderr_tail());
               }());
  if (!health || health->status != 200) return;
  auto target = first_type("dataProcessor");
  if (target) {
    auto big = session->request("POST", "/v1/dataProcessor/" + target->second + "/processData",
                                std::string(8 << 20, 'x'), "application/octet-stream", session->token(), error);
    if (big && big->status == 413) defaults_problem_ = "an 8 MiB body got " + describe(big, error).substr(0, 120);
    if (!big) defaults_problem_ = "an 8 MiB body got " + describe(big, error);
  }
  defaults_ = std::move(session);
  defaults_dir_ = std::move(dir);
}

}  // namespace plugvisor::cli::conformance
