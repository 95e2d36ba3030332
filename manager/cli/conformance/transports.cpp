// Checks of the transports (T, protocol §4.2, §6, §13): over TCP, and a
// transport the plugin does not declare.
#include "conformance/checker.hpp"

#include "process/environment.hpp"

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_tcp() {
  if (!serves(Transport::tcp)) {
    auto why = not_served(Transport::tcp);
    not_applicable("H2t", "§6", "the handshake is one JSON line with protocolVersion 1 and the configured type (over TCP)", why);
    not_applicable("H5", "§6", "tcp: the handshake address is 127.0.0.1:PORT with the bound port", why);
    not_applicable("T1", "§6, §12", "over TCP the plugin answers /healthz and calls", why);
    not_applicable("T2", "§13", "over TCP, /shutdown ends the plugin with exit 0", why);
    return;
  }
  ScratchDir dir;
  auto session = launch(dir, {.tcp = true}, "T1", "starts over TCP (type tcp, address 127.0.0.1:0)");
  if (!session) return;
  check_handshake(*session, true, false);
  std::string error;
  auto health = session->request("GET", "/healthz", "", "", "", error);
  std::optional<RawResponse> call;
  if (auto target = first_type()) {
    call = session->request("POST", "/v1/" + target->first + "/" + target->second + "/ping", "{}",
                            "application/json", session->token(), error);
  }
  record("T1", "§6, §12", "over TCP the plugin answers /healthz and calls", health && health->status == 200 &&
                                                                                (!first_type() || (call && call->status == 200)),
         "health: " + describe(health, error) + "; call: " + describe(call, error));
  auto accepted = session->request("POST", "/shutdown", "", "application/json", session->token(), error);
  auto exit = session->wait_exit(5s);
  record("T2", "§13", "over TCP, /shutdown ends the plugin with exit 0", accepted && accepted->status == 202 &&
                                                                             exit && exit->clean(),
         describe(accepted, error) + "; " + (exit ? exit->describe() : "still running after 5 s"));
}

// T3: a plugin that serves one transport refuses the other as bad configuration.
void Checker::check_undeclared_transport() {
  const char* rule = "launched with a transport it does not declare: message on stderr, exit 2, nothing on stdout";
  if (served_.size() > 1) {
    not_applicable("T3", "§4.2, §5.2", rule, "the plugin serves both transports");
    return;
  }
  ScratchDir dir;
  const bool other_is_tcp = !tcp_;
  Json config = launch_config(dir);
  config["type"] = other_is_tcp ? "tcp" : "unix";
  config["address"] = other_is_tcp ? "127.0.0.1:0" : (dir.path() / "plugin.sock").string();
  auto run = run_plain({"--config", config.dump()}, detail::plugin_environment({}), 5s, true);
  record("T3", "§4.2, §5.2", rule, run.exit && run.exit->code == 2 && run.exit->signal == 0 && run.out.empty(),
         std::string("type ") + (other_is_tcp ? "tcp" : "unix") + ": " +
             (run.exit ? run.exit->describe() : "still running after 5 s") +
             (run.out.empty() ? "" : ", stdout " + detail::quote(run.out)));
}

}  // namespace plugvisor::cli::conformance
