// Checks of the idle timeout (I, protocol §14), and of what the plugins kept
// up for the whole run show at its end (N2, I4, L8).
#include "conformance/checker.hpp"

#include <thread>

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_idle() {
  ScratchDir dir;
  auto session = launch(dir, {.overrides = Json{{"idleTimeout", "1s"}}}, "I1", "starts with idleTimeout 1s");
  if (!session) return;
  std::string error;
  auto last_activity = Clock::now();  // the idle clock runs from the handshake at the latest
  // I2: calls are activity, whatever their answer: 1.8 s of calls, one every
  // 200 ms (a ping, then one to an unknown type, answered 404), keep it up.
  if (auto path = ping_path(); !path.empty()) {
    auto target = first_type();
    auto calls_until = Clock::now() + 1800ms;
    bool unknown = false;
    while (Clock::now() < calls_until && !session->child().exit_status()) {
      session->request("POST", unknown ? "/v1/" + target->first + "/validate-no-such-type/ping" : path, "{}",
                       "application/json", session->token(), error, 1s);
      last_activity = Clock::now();  // the call has ended
      unknown = !unknown;
      std::this_thread::sleep_for(200ms);
    }
    auto exit = session->child().exit_status();
    record("I2", "§14.1",
           "with idleTimeout 1s, calls every 200 ms (pings, and calls answered 404) keep the plugin up for 1.8 s",
           !exit, exit ? exit->describe() + " while called" : "");
  }
  const auto started = last_activity;
  std::optional<detail::ExitStatus> exit;
  while (!(exit = session->child().exit_status()) && Clock::now() - started < 6s) {
    session->request("GET", "/healthz", "", "", "", error, 500ms);
    std::this_thread::sleep_for(100ms);
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  // Generous upper bound: a loaded machine delays the exit, never hastens it.
  bool on_time = exit && took >= 800ms && took <= 4s;
  record("I1", "§14.1",
         "with idleTimeout 1s and /healthz polled every 100 ms, the plugin exits 0 after about 1 s "
         "(health checks are not activity)",
         exit && exit->clean() && on_time,
         exit ? exit->describe() + " after " + std::to_string(took.count()) + " ms"
              : "still running after 6 s of health polling");
  if (tcp_) {
    not_applicable("I1f", "§14.2", "after its idle exit the plugin has removed its socket and lock file",
                   not_served(Transport::unix_socket));
    return;
  }
  bool files_gone = !fs::exists(session->socket_path()) && !fs::exists(session->socket_path() + ".lock");
  record("I1f", "§14.2", "after its idle exit the plugin has removed its socket and lock file", exit && files_gone,
         exit ? "socket or lock file left behind" : "no idle exit");
}

// Last: N2 and I4 on the live plugin, L8 on the one launched
// without idleTimeout, after the rest of the run (at least 4.5 s).
void Checker::check_long_idle() {
  if (live_) {
    if (idle_probe_.joinable()) idle_probe_.join();
    record("N2", "§12", "a kept-alive connection idle for 4.5 s is still open: a request on it is answered",
           idle_answer_ && idle_answer_->status == 200, describe(idle_answer_, idle_error_), Weight::should);
    auto exit = live_->child().exit_status();
    record("I4", "§14.1", "with idleTimeout \"0\" the plugin never idles out (still running at the end of the run)",
           !exit, exit ? exit->describe() : "");
  }
  if (defaults_) {
    auto exit = defaults_->child().exit_status();
    record("L8", "§5.2",
           "without idleTimeout the plugin does not idle out; without maxBodyBytes it takes bodies of 8 MiB "
           "(the default is 64 MiB)",
           !exit && defaults_problem_.empty(),
           (exit ? "before the end of the run it " + exit->describe() : std::string()) +
               (exit && !defaults_problem_.empty() ? "; " : "") + defaults_problem_);
  }
}

}  // namespace plugvisor::cli::conformance
