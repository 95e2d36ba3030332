#include "conformance.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "discovery/capabilities.hpp"
#include "process/environment.hpp"
#include "plugin_session.hpp"
#include "quote.hpp"
#include "plugvisor/manager.hpp"
#include "plugvisor/wire/address.hpp"
#include "transport/transport.hpp"

namespace plugvisor::cli {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

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

Run run_plain(const fs::path& plugin, std::vector<std::string> args, std::vector<std::string> env,
              std::chrono::milliseconds limit, bool keep_stdin_open) {
  detail::ProcessReactor reactor;
  detail::SpawnSpec spec;
  spec.path = plugin.string();
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

class Checker {
 public:
  explicit Checker(fs::path plugin) : plugin_(std::move(plugin)) {}
  ~Checker() {
    if (idle_probe_.joinable()) idle_probe_.join();
  }
  Checker(const Checker&) = delete;
  Checker& operator=(const Checker&) = delete;

  std::vector<CheckResult> run() {
    check_capabilities();
    check_usage();
    check_live_plugin();  // the first launch with a valid configuration (H6)
    check_durations();
    check_defaults();
    check_body_limit();
    check_shutdown_endpoint();
    check_stdin_eof(true);
    check_stdin_eof(false);
    check_sigterm();
    check_idle();
    check_tcp();
    check_undeclared_transport();
    check_locks();
    check_socket_paths();
    check_long_idle();  // last: the live plugin's connection has been idle meanwhile
    return std::move(results_);
  }

 private:
  void record(std::string id, std::string section, std::string rule, bool ok, std::string saw,
              Weight weight = Weight::must) {
    results_.push_back(CheckResult{std::move(id), std::move(rule), std::move(section), weight,
                                   ok ? CheckResult::pass : CheckResult::fail, ok ? "" : std::move(saw)});
  }
  void skip(std::string id, std::string section, std::string rule, std::string why) {
    results_.push_back(
        CheckResult{std::move(id), std::move(rule), std::move(section), Weight::must, CheckResult::skip, std::move(why)});
  }
  void not_applicable(std::string id, std::string section, std::string rule, std::string why) {
    results_.push_back(
        CheckResult{std::move(id), std::move(rule), std::move(section), Weight::must, CheckResult::na, std::move(why)});
  }
  bool serves(Transport transport) const {
    return std::find(served_.begin(), served_.end(), transport) != served_.end();
  }
  // Why a check of `transport` does not apply to this plugin.
  std::string not_served(Transport transport) const {
    return "the plugin serves only " + detail::transports_text(served_) + " (capabilities \"transports\"), not " +
           std::string(to_string(transport));
  }
  // The first declared type, as (contract, type), if capabilities were read.
  std::optional<std::pair<std::string, std::string>> first_type(const std::string& contract = "") const {
    for (const auto& t : capabilities_.types) {
      if (contract.empty() || t.contract == contract) return std::make_pair(t.contract, t.type);
    }
    return std::nullopt;
  }

  // Launches a session; if no handshake comes, records check `id` as failed
  // (or H1, if something else came first) and returns null.
  std::unique_ptr<PluginSession> launch(const ScratchDir& dir, SessionOptions options, const std::string& id,
                                        const std::string& rule) {
    options.tcp = options.tcp || tcp_;  // the whole set runs over the transport the manager would pick
    auto session = std::make_unique<PluginSession>(plugin_, dir.path(), std::move(options));
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

  void check_capabilities() {
    auto run = run_plain(plugin_, {"capabilities"}, {"PATH=/usr/local/bin:/usr/bin:/bin", "PLUGVISOR_PROTOCOL=1"},
                         5s, false);
    record("C3", "§4.1", "`capabilities` exits 0 within 5 s", run.exit && run.exit->clean(),
           run.exit ? run.exit->describe() + "; stderr: " + detail::quote(run.err) : "still running after 5 s");
    Json doc = protocol::parse_json_or_discarded(run.out);
    record("C2", "§4.1", "`capabilities` writes exactly one JSON object to stdout, at most 1 MiB",
           doc.is_object() && run.out.size() <= 1024 * 1024, "stdout " + detail::quote(run.out));
    try {
      capabilities_ = detail::parse_capabilities(run.out);
      have_capabilities_ = true;
      record("C4", "§4.2", "capabilities: protocolVersion 1, name, version, types with valid names", true, "");
    } catch (const Error& e) {
      record("C4", "§4.2", "capabilities: protocolVersion 1, name, version, types with valid names", false, e.what());
    }
    if (have_capabilities_) {
      record("C5", "§4.2", "capabilities declares at least one type", !capabilities_.types.empty(),
             "no types declared");
      check_descriptions();
      check_transports(doc);
    }
  }

  // C9: "transports" lists only the transports of protocol 1, each once. The
  // manager skips names it does not know (a later protocol may add some);
  // a plugin of protocol 1 has no reason to list one.
  void check_transports(const Json& doc) {
    served_ = capabilities_.transports;
    tcp_ = detail::choose_transport(served_, Transport::automatic) == Transport::tcp;
    auto member = doc.find("transports");
    bool ok = true;
    if (member != doc.end() && !member->is_null()) {
      std::vector<std::string> seen;
      for (const auto& entry : *member) {
        bool known = entry == "unix" || entry == "tcp";
        ok = ok && known && std::find(seen.begin(), seen.end(), entry.get<std::string>()) == seen.end();
        if (known) seen.push_back(entry.get<std::string>());
      }
    }
    record("C9", "§4.2", "\"transports\", when given, lists \"unix\" and/or \"tcp\", each once", ok,
           "transports " + (member == doc.end() ? std::string("absent") : detail::quote(member->dump())));
  }

  // C7: every contract with types is described, so that hosts can check it;
  // C8: a description of a built-in contract fits the built-in.
  void check_descriptions() {
    std::string undescribed, misfits;
    for (const auto& t : capabilities_.types) {
      if (!capabilities_.contracts.contains(t.contract)) {
        if (undescribed.find(t.contract) == std::string::npos) undescribed += (undescribed.empty() ? "" : ", ") + t.contract;
        continue;
      }
      const ContractInfo* builtin = find_builtin_contract(t.contract);
      if (!builtin || misfits.find(t.contract + ":") != std::string::npos) continue;
      auto fit = check_compatibility(builtin->description, &capabilities_.contracts.at(t.contract));
      if (fit.level != Compatibility::Level::full) misfits += t.contract + ": " + fit.reason + "; ";
    }
    record("C7", "§4.2", "every contract the plugin provides types of is described in \"contracts\"",
           undescribed.empty(), "no description of " + undescribed, Weight::should);
    record("C8", "§4.2", "descriptions of built-in contracts (pluginBase, dataProcessor) fit the built-in ones",
           misfits.empty(), misfits);
  }

  void check_usage() {
    auto bare = run_plain(plugin_, {}, {"PATH=/usr/local/bin:/usr/bin:/bin"}, 5s, true);
    record("L3", "§5.1", "with no arguments and no PLUGVISOR_PROTOCOL: help on stderr, exit 2, stdin not read",
           bare.exit && bare.exit->code == 2 && bare.exit->signal == 0,
           bare.exit ? bare.exit->describe() : "still running after 5 s (waiting on stdin?)");

    // L4: unexpected arguments, and no arguments where PLUGVISOR_PROTOCOL says a
    // manager started it: a usage error, at once, stdin left alone.
    auto stray = run_plain(plugin_, {"--validate-unexpected-argument"}, detail::plugin_environment({}), 5s, true);
    auto none = run_plain(plugin_, {}, detail::plugin_environment({}), 5s, true);
    auto usage_error = [](const Run& run) { return run.exit && run.exit->code == 2 && run.exit->signal == 0; };
    record("L4", "§5.1",
           "unexpected arguments, or none with PLUGVISOR_PROTOCOL set: message on stderr, exit 2, stdin not read",
           usage_error(stray) && usage_error(none),
           "--validate-unexpected-argument: " + (stray.exit ? stray.exit->describe() : "still running after 5 s") +
               "; no arguments: " + (none.exit ? none.exit->describe() : "still running after 5 s (waiting on stdin?)"));

    // L1: `--config -` and end of file before any byte.
    auto empty = run_plain(plugin_, {"--config", "-"}, detail::plugin_environment({}), 5s, false);
    record("L1", "§5.1", "--config - with end of file on stdin before any byte: exit 2, nothing on stdout",
           usage_error(empty) && empty.out.empty(),
           (empty.exit ? empty.exit->describe() : "still running after 5 s") + ", stdout " + detail::quote(empty.out));

    ScratchDir dir;
    Json bad{{"protocolVersion", 99}, {"id", "validate"}, {"type", "unix"},
             {"address", (dir.path() / "p.sock").string()}, {"token", "t"}};
    auto wrong = run_plain(plugin_, {"--config", bad.dump()}, detail::plugin_environment({}), 5s, true);
    record("L6", "§5.2", "protocolVersion other than 1: message on stderr, exit 2, nothing on stdout",
           wrong.exit && wrong.exit->code == 2 && wrong.exit->signal == 0 && wrong.out.empty(),
           (wrong.exit ? wrong.exit->describe() : "still running after 5 s") + ", stdout " + detail::quote(wrong.out));
  }

  // A complete launch configuration for `dir`, over the transport of the whole set.
  Json launch_config(const ScratchDir& dir) const {
    return Json{{"protocolVersion", 1},
                {"id", "validate"},
                {"type", tcp_ ? "tcp" : "unix"},
                {"address", tcp_ ? "127.0.0.1:0" : (dir.path() / "plugin.sock").string()},
                {"idleTimeout", "0"},
                {"token", "validate-token"}};
  }

  // L7: the grammar of durations (protocol 5.3), at its edges.
  void check_durations() {
    std::string refused_wrongly, accepted_wrongly;
    for (const char* invalid : {"1m30s", "00", "10", "1.5s", "5S", "1099511627777ms"}) {
      ScratchDir dir;
      Json config = launch_config(dir);
      config["idleTimeout"] = invalid;
      auto run = run_plain(plugin_, {"--config", config.dump()}, detail::plugin_environment({}), 5s, true);
      if (!(run.exit && run.exit->code == 2 && run.exit->signal == 0 && run.out.empty())) {
        accepted_wrongly += std::string(accepted_wrongly.empty() ? "" : "; ") + invalid + ": " +
                            (run.exit ? run.exit->describe() : "still running after 5 s") +
                            (run.out.empty() ? "" : ", stdout " + detail::quote(run.out));
      }
    }
    for (const char* valid : {"1099511627776s", "007s"}) {
      ScratchDir dir;
      PluginSession session(plugin_, dir.path(),
                            {.tcp = tcp_, .overrides = Json{{"idleTimeout", valid}}, .start_timeout = 10s});
      std::string error;
      auto health = session.handshake().is_object() ? session.request("GET", "/healthz", "", "", "", error)
                                                    : std::nullopt;
      if (!health || health->status != 200) {
        refused_wrongly += std::string(refused_wrongly.empty() ? "" : "; ") + valid + ": " +
                           (session.handshake().is_object() ? describe(health, error)
                                                            : "no handshake; " + [&] {
                                                                auto exit = session.wait_exit(1s);
                                                                return exit ? exit->describe() : std::string("running");
                                                              }());
      }
    }
    record("L7", "§5.3",
           "idleTimeout: every duration of the grammar up to 2^40 is accepted (1099511627776s, 007s); others "
           "(1m30s, 00, 10, 1.5s, 5S, 1099511627777ms) exit 2 with nothing on stdout",
           refused_wrongly.empty() && accepted_wrongly.empty(),
           (refused_wrongly.empty() ? "" : "refused " + refused_wrongly + (accepted_wrongly.empty() ? "" : "; ")) +
               (accepted_wrongly.empty() ? "" : "accepted " + accepted_wrongly));
  }

  // The handshake of the whole set's launch (`main`: H2, H4, H2p), or of the
  // TCP launch (H2t, H5).
  void check_handshake(PluginSession& session, bool tcp, bool main) {
    const Json& hs = session.handshake();
    bool version_ok = hs.contains("protocolVersion") && hs["protocolVersion"].is_number_integer() &&
                      hs["protocolVersion"] == 1;
    bool type_ok = hs.value("type", Json()) == (tcp ? "tcp" : "unix");
    record(main ? "H2" : "H2t", "§6",
           std::string("the handshake is one JSON line with protocolVersion 1 and the configured type") +
               (main ? "" : " (over TCP)"),
           version_ok && type_ok, "first line " + detail::quote(*session.first_line()));
    if (main && !tcp) {
      record("H4", "§6", "unix: the handshake address equals the configured socket path",
             hs.value("address", Json()) == session.socket_path(), "address " + hs.value("address", Json()).dump());
    } else if (main) {
      not_applicable("H4", "§6", "unix: the handshake address equals the configured socket path",
                     not_served(Transport::unix_socket));
    }
    if (!main) {
      std::string address = hs.value("address", "");
      bool ok = address.rfind("127.0.0.1:", 0) == 0 && std::atoi(address.c_str() + 10) > 0;
      record("H5", "§6", "tcp: the handshake address is 127.0.0.1:PORT with the bound port", ok,
             "address " + detail::quote(address));
    }
    if (main) {
      record("H2p", "§6", "the handshake carries the plugin's pid",
             hs.contains("pid") && hs["pid"].is_number_integer(), "no integer pid in " + detail::quote(*session.first_line()),
             Weight::should);
    }
  }

  void check_live_plugin() {
    auto dir = std::make_unique<ScratchDir>();
    auto session = launch(*dir, {}, "H6", "launched with --config -, the plugin starts");
    if (!session) return;
    record("H6", "§6", "launched with --config -, the plugin prints its handshake within 10 s", true, "");
    check_handshake(*session, tcp_, true);
    if (tcp_) {
      not_applicable("A5", "§9", "the Unix socket file has mode 0600", not_served(Transport::unix_socket));
      not_applicable("F1", "§15", "the lock file <socket>.lock holds the plugin's pid",
                     not_served(Transport::unix_socket));
    } else {
      check_socket_files(*session);
    }
    check_calls(*session);
    // N2: a kept-alive connection left idle for 4.5 s (a plugin may close it
    // after 5 s), probed by a thread of its own while the other checks run.
    idle_probe_ = std::thread([endpoint = session->endpoint(), this] {
      std::string error;
      auto connection = RawConnection::open(endpoint, error);
      if (connection && connection->send(http_request(endpoint, "GET", "/healthz", "", "", ""))) {
        connection->receive(2s, error);
        std::this_thread::sleep_for(4500ms);
        if (connection->send(http_request(endpoint, "GET", "/healthz", "", "", ""))) {
          idle_answer_ = connection->receive(2s, error);
        }
      }
      idle_error_ = error.empty() ? "the plugin closed the connection" : error;
    });
    live_ = std::move(session);
    live_dir_ = std::move(dir);
  }

  // Last: N2 and I4 on the plugin launched first, L8 on the one launched
  // without idleTimeout, after the rest of the run (at least 4.5 s).
  void check_long_idle() {
    if (live_) {
      idle_probe_.join();
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

  // A5, F1: the files of a Unix socket.
  void check_socket_files(PluginSession& session) {
    struct stat st{};
    bool is_socket = ::stat(session.socket_path().c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
    record("A5", "§9", "the Unix socket file has mode 0600", is_socket && (st.st_mode & 0777) == 0600,
           is_socket ? "mode " + [&] {
             char octal[8];
             std::snprintf(octal, sizeof octal, "%04o", static_cast<unsigned>(st.st_mode & 0777));
             return std::string(octal);
           }()
                     : "no socket at the configured path");
    std::ifstream lock(session.socket_path() + ".lock");
    long lock_pid = 0;
    lock >> lock_pid;
    record("F1", "§15", "the lock file <socket>.lock holds the plugin's pid", lock && lock_pid == session.child().pid(),
           lock ? "lock holds " + std::to_string(lock_pid) + ", pid is " + std::to_string(session.child().pid())
                : "no lock file");
  }

  void check_calls(PluginSession& session) {
    const std::string token = session.token();
    std::string error;

    auto health = session.request("GET", "/healthz", "", "", "", error);
    bool health_ok = health && health->status == 200 &&
                     protocol::parse_json_or_discarded(health->body) == Json{{"status", "ok"}};
    record("A1", "§8", "GET /healthz without a token answers 200 {\"status\":\"ok\"}", health_ok,
           describe(health, error));

    auto target = first_type();
    std::string probe_path = target ? "/v1/" + target->first + "/" + target->second + "/ping" : "/v1/pluginBase/x/ping";
    auto none = session.request("POST", probe_path, "{}", "application/json", "", error);
    auto wrong = session.request("POST", probe_path, "{}", "application/json", "not-the-token", error);
    record("A3", "§9", "a call without a token, or with a wrong one, gets 401 with the error body code unauthorized",
           is_error(none, 401, "unauthorized") && is_error(wrong, 401, "unauthorized"),
           "without: " + describe(none, error) + "; wrong: " + describe(wrong, error));

    if (target) {
      auto no_type = session.request("POST", "/v1/" + target->first + "/no-such-type-42/ping", "{}",
                                      "application/json", token, error);
      auto no_method = session.request("POST", "/v1/" + target->first + "/" + target->second + "/noSuchMethod42",
                                        "{}", "application/json", token, error);
      record("K6", "§10.6", "an unknown type or method gets 404 with the error body code not_found",
             is_error(no_type, 404, "not_found") && is_error(no_method, 404, "not_found"),
             "type: " + describe(no_type, error) + "; method: " + describe(no_method, error));
    }
    auto nowhere = session.request("GET", "/no-such-endpoint", "", "", token, error);
    record("K6e", "§10.6", "an unknown endpoint gets 404 with the error body", is_error(nowhere, 404, "not_found"),
           describe(nowhere, error), Weight::should);

    check_types(session);
    check_keep_alive(session);
    check_bodyless_post(session);
    check_deadline_header(session);
    check_concurrency(session);
    check_client_gone(session);
    check_backlog(session);
  }

  // The path of a call to ping the first declared type ("" if none was read).
  std::string ping_path() const {
    auto target = first_type();
    return target ? "/v1/" + target->first + "/" + target->second + "/ping" : "";
  }

  // K11: the deadline header: absent, malformed, and too far away for any clock.
  void check_deadline_header(PluginSession& session) {
    const std::string path = ping_path();
    if (path.empty()) return;
    auto with_deadline = [&](const std::string& value, std::string& error) -> std::optional<RawResponse> {
      auto connection = RawConnection::open(session.endpoint(), error);
      if (!connection) return std::nullopt;
      std::string request = http_request(session.endpoint(), "POST", path, "{}", "application/json", session.token());
      request.insert(request.find("\r\n") + 2, "X-Plugvisor-Deadline-Ms: " + value + "\r\n");
      if (!connection->send(request)) return std::nullopt;
      return connection->receive(5s, error);
    };
    std::string error, saw;
    bool ok = true;
    for (const char* bad : {"soon", "-5", "1.5", "0x10"}) {
      auto answer = with_deadline(bad, error);
      if (!is_error(answer, 400, "invalid_input")) {
        ok = false;
        saw += std::string(saw.empty() ? "" : "; ") + bad + ": " + describe(answer, error);
      }
    }
    for (const char* far : {"9223372036854775807", "9999999999999999999", "30000"}) {
      auto answer = with_deadline(far, error);
      if (!answer || answer->status != 200) {
        ok = false;
        saw += std::string(saw.empty() ? "" : "; ") + far + ": " + describe(answer, error);
      }
    }
    record("K11", "§10.4",
           "X-Plugvisor-Deadline-Ms: a value that is not a decimal integer (soon, -5, 1.5, 0x10) gets 400 "
           "invalid_input; 30000 and values of up to 19 digits are accepted (a ping answers 200)",
           ok, saw);
  }

  // N3: a second connection is served while the first one's request is unfinished.
  void check_concurrency(PluginSession& session) {
    const std::string path = ping_path();
    if (path.empty()) return;
    std::string error;
    auto first = RawConnection::open(session.endpoint(), error);
    std::optional<RawResponse> second_answer, first_answer;
    if (first) {
      std::string request = http_request(session.endpoint(), "POST", path, std::string(16, ' '), "application/json",
                                         session.token());
      first->send(request.substr(0, request.size() - 8));  // the body's last 8 bytes held back
      std::this_thread::sleep_for(100ms);
      auto second = RawConnection::open(session.endpoint(), error);
      if (second && second->send(http_request(session.endpoint(), "GET", "/healthz", "", "", ""))) {
        second_answer = second->receive(3s, error);
      }
      first->send(request.substr(request.size() - 8));
      first_answer = first->receive(5s, error);
    }
    record("N3", "§12",
           "connections are served at once: /healthz on a second connection is answered while a call's body is "
           "still coming on the first",
           second_answer && second_answer->status == 200,
           "second connection: " + describe(second_answer, error));
  }

  // N4: a caller that goes away in the middle of a call.
  void check_client_gone(PluginSession& session) {
    auto target = first_type("dataProcessor");
    const std::string path =
        target ? "/v1/dataProcessor/" + target->second + "/processData" : ping_path();
    if (path.empty()) return;
    std::string error;
    for (int i = 0; i < 3; ++i) {
      auto connection = RawConnection::open(session.endpoint(), error);
      if (!connection) break;
      // 4 MiB of bytes (echoed by most processData) and gone before the answer is read.
      connection->send(http_request(session.endpoint(), "POST", path, std::string(4 << 20, 'a'),
                                    target ? "application/octet-stream" : "application/json", session.token()));
    }
    std::this_thread::sleep_for(300ms);
    auto exit = session.child().exit_status();
    auto health = exit ? std::nullopt : session.request("GET", "/healthz", "", "", "", error);
    record("N4", "§12", "callers that close their connection in the middle of a call (4 MiB sent, the answer unread) "
                        "do not crash the plugin, which keeps serving",
           !exit && health && health->status == 200,
           exit ? exit->describe() + "; stderr: " + detail::quote(session.child().stderr_tail()) : describe(health, error));
  }

  void check_types(PluginSession& session) {
    if (!have_capabilities_ || capabilities_.types.empty()) {
      skip("K12", "§11", "every declared type answers a call", "no types to call");
      return;
    }
    std::string error;
    for (const auto& t : capabilities_.types) {
      const std::string base = "/v1/" + t.contract + "/" + t.type + "/";
      auto ping = session.request("POST", base + "ping", "{}", "application/json", session.token(), error);
      bool ok = ping && ping->status == 200 && Json::accept(ping->body);
      std::string saw = "ping: " + describe(ping, error);
      if (t.contract == "dataProcessor") {
        auto formats = session.request("POST", base + "supportedFormats", "{}", "application/json", session.token(), error);
        Json list = formats ? protocol::parse_json_or_discarded(formats->body) : Json();
        bool formats_ok = formats && formats->status == 200 && list.is_array();
        for (const auto& f : list) formats_ok = formats_ok && f.is_string();
        auto data = session.request("POST", base + "processData", "plugvisor validate\n", "application/octet-stream",
                                    session.token(), error);
        // The sample input may be refused (400 and the error body); a method must not fail on it.
        bool data_ok = data && ((data->status == 200 &&
                                 data->header("content-type").rfind("application/octet-stream", 0) == 0) ||
                                (data->status >= 400 && data->status < 500 && !error_code(*data).empty()));
        ok = ok && formats_ok && data_ok;
        saw += "; supportedFormats: " + describe(formats, error) + "; processData: " + describe(data, error) +
               (data ? " content-type " + detail::quote(data->header("content-type")) : "");
      }
      record("K12", "§11", t.contract + "/" + t.type + " answers ping" +
                               (t.contract == "dataProcessor" ? ", supportedFormats and processData" : ""),
             ok, saw);
    }
  }

  void check_keep_alive(PluginSession& session) {
    std::string error;
    auto connection = RawConnection::open(session.endpoint(), error);
    int answered = 0;
    bool closed_early = false;
    for (int i = 0; connection && i < 20; ++i) {
      if (!connection->send(http_request(session.endpoint(), "GET", "/healthz", "", "", ""))) break;
      auto response = connection->receive(5s, error);
      if (!response || response->status != 200) break;
      ++answered;
      if (response->header("connection") == "close") {
        closed_early = true;
        break;
      }
    }
    record("N1", "§12", "a connection stays open for request after request (20 on one connection)",
           answered == 20 && !closed_early,
           "answered " + std::to_string(answered) + " of 20" + (closed_early ? ", then Connection: close" : "") +
               (error.empty() ? "" : " (" + error + ")"));
  }

  // curl -X POST sends neither Content-Length nor Transfer-Encoding: RFC 9112
  // §6.3 makes that an empty body, not a reason for 411.
  void check_bodyless_post(PluginSession& session) {
    auto target = first_type();
    if (!target) return;
    std::string error;
    auto connection = RawConnection::open(session.endpoint(), error);
    std::optional<RawResponse> response;
    if (connection) {
      connection->send(http_request(session.endpoint(), "POST", "/v1/" + target->first + "/" + target->second + "/ping", "", "",
                                    session.token(), false));
      response = connection->receive(2s, error);
    }
    record("K8", "§10.5",
           "a POST without Content-Length or Transfer-Encoding has an empty body: a ping so sent answers 200 at once",
           response && response->status == 200, describe(response, error));
  }

  void check_backlog(PluginSession& session) {
    if (session.endpoint().address.empty()) return;
    ::kill(session.child().pid(), SIGSTOP);  // nothing is accepted meanwhile: only the backlog holds connects
    int refused = 0;
    std::vector<int> fds;
    const Endpoint endpoint = session.endpoint();
    for (int i = 0; i < 64; ++i) {
      int fd = ::socket(endpoint.unix_socket ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      int rc = -1;
      if (endpoint.unix_socket) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, endpoint.address.c_str(), sizeof addr.sun_path - 1);
        rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      } else {
        // An address that is not 127.0.0.1:PORT gives 0.0.0.0:0, whose connect fails (counted as refused).
        socklen_t size = 0;
        sockaddr_storage addr = wire::parse_plugin_tcp_address(endpoint.address, false).address.socket_address(size);
        rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), size);
        if (rc != 0 && errno == EINPROGRESS) rc = 1;  // settled below
      }
      if (rc < 0) ++refused;
      fds.push_back(fd);
    }
    if (!endpoint.unix_socket) {
      // Over TCP a connect beyond the backlog is not refused: its SYN is
      // dropped, and it is still pending a second later.
      auto until = Clock::now() + 1s;
      for (int fd : fds) {
        pollfd p{fd, POLLOUT, 0};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
        int error = 0;
        socklen_t size = sizeof error;
        if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0))) != 1 ||
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
          ++refused;
        }
      }
    }
    ::kill(session.child().pid(), SIGCONT);
    for (int fd : fds) ::close(fd);
    record("N6", "§12", "a burst of 64 simultaneous connects is accepted (listen backlog of at least 64)",
           refused == 0,
           std::to_string(refused) + " of 64 connects " + (endpoint.unix_socket ? "refused" : "not accepted within 1 s"),
           Weight::should);
  }

  // L5 and L8: a configuration with unknown members and an undeclared config
  // type, without idleTimeout and maxBodyBytes. The plugin stays up for the
  // rest of the run; check_long_idle() sees whether it idled out.
  void check_defaults() {
    auto dir = std::make_unique<ScratchDir>();
    Json extra{{"validateUnknownMember", {{"nested", true}}},
               {"configTypes", Json::array({{{"type", "validate.undeclared"}, {"data", {{"x", 1}}}}})}};
    auto session = std::make_unique<PluginSession>(
        plugin_, dir->path(), SessionOptions{.tcp = tcp_, .overrides = extra, .without = {"idleTimeout"}});
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

  void check_body_limit() {
    auto target = first_type("dataProcessor");
    if (!target) return;
    ScratchDir dir;
    auto session = launch(dir, {.overrides = Json{{"maxBodyBytes", 1024}}}, "K7", "starts with maxBodyBytes 1024");
    if (!session) return;
    std::string error;
    auto big = session->request("POST", "/v1/dataProcessor/" + target->second + "/processData",
                                std::string(4096, 'x'), "application/octet-stream", session->token(), error);
    auto after = session->request("GET", "/healthz", "", "", "", error);
    record("K7", "§10.5", "a body over maxBodyBytes gets 413 too_large, and the plugin keeps serving",
           is_error(big, 413, "too_large") && after && after->status == 200,
           "4096 bytes with maxBodyBytes 1024: " + describe(big, error));
  }

  // Records whether the plugin exited 0 within `limit` and removed its files.
  void expect_clean_exit(PluginSession& session, const std::string& id, const std::string& section,
                         const std::string& rule, std::chrono::milliseconds limit) {
    auto exit = session.wait_exit(limit);
    bool files_gone = !fs::exists(session.socket_path()) && !fs::exists(session.socket_path() + ".lock");
    record(id, section, rule, exit && exit->clean() && files_gone,
           (exit ? exit->describe() : "still running after " + protocol::format_duration(limit)) +
               (files_gone ? "" : "; socket or lock file left behind"));
  }

  void check_shutdown_endpoint() {
    ScratchDir dir;
    auto session = launch(dir, {}, "S1", "starts (for the /shutdown checks)");
    if (!session) return;
    std::string error;
    // Keep one connection open to see how calls are refused once shutting down.
    auto kept = RawConnection::open(session->endpoint(), error);
    if (kept) {
      kept->send(http_request(session->endpoint(), "GET", "/healthz", "", "", ""));
      kept->receive(2s, error);
    }
    auto refused = session->request("POST", "/shutdown", "", "application/json", "wrong", error);
    bool still_alive = !session->wait_exit(300ms);
    record("S1a", "§13.1", "POST /shutdown without the right token gets 401 and changes nothing",
           is_error(refused, 401, "unauthorized") && still_alive, describe(refused, error));
    auto accepted = session->request("POST", "/shutdown", "", "application/json", session->token(), error);
    record("S1", "§13.1", "POST /shutdown with the token answers 202", accepted && accepted->status == 202,
           describe(accepted, error));
    auto target = first_type();
    if (kept && target) {
      std::optional<RawResponse> late;
      if (kept->send(http_request(session->endpoint(), "POST", "/v1/" + target->first + "/" + target->second + "/ping", "{}",
                                  "application/json", session->token()))) {
        late = kept->receive(5s, error);
      }
      // Refused with 503, or the connection closed unanswered: either way not run.
      bool ok = !late || is_error(late, 503, "unavailable");
      record("S4", "§13.2", "once shutting down, a new call gets 503 unavailable (or its connection is closed)", ok,
             describe(late, error));
    }
    expect_clean_exit(*session, "S7", "§13.2", "after /shutdown the plugin exits 0 and removes socket and lock",
                      5s);
  }

  void check_stdin_eof(bool on_stdin) {
    ScratchDir dir;
    auto session = launch(dir, {.config_on_stdin = on_stdin}, on_stdin ? "S3" : "L2",
                          on_stdin ? "starts (for the stdin check)" : "starts with --config '<json>'");
    if (!session) return;
    if (!on_stdin) {
      std::string error;
      auto health = session->request("GET", "/healthz", "", "", "", error);
      record("L2", "§5.1", "--config '<json>' takes the configuration inline", health && health->status == 200,
             describe(health, error));
    }
    session->child().close_stdin();
    expect_clean_exit(*session, on_stdin ? "S3" : "S3i", "§13.1",
                      std::string("end of file on stdin shuts the plugin down (exit 0, files removed) with ") +
                          (on_stdin ? "--config -" : "--config '<json>'"),
                      5s);
  }

  void check_sigterm() {
    auto target = first_type("dataProcessor");
    ScratchDir dir;
    auto session = launch(dir, {}, "S2", "starts (for the SIGTERM checks)");
    if (!session) return;
    if (!target) {
      ::kill(session->child().pid(), SIGTERM);
      expect_clean_exit(*session, "S2", "§13.1", "SIGTERM shuts the plugin down (exit 0, files removed)", 5s);
      return;
    }
    // A call is in flight: the plugin has begun to write its large answer,
    // which this side does not read yet. SIGTERM now; the plugin must finish
    // the answer before it exits, not drop it. Meanwhile two kept-alive
    // connections that were idle get a call (S9: 503) and a second
    // /shutdown (S8: 202), and the socket file must be gone (S5).
    std::string error;
    auto idle_open = [&] {
      auto kept = RawConnection::open(session->endpoint(), error);
      if (kept && kept->send(http_request(session->endpoint(), "GET", "/healthz", "", "", ""))) kept->receive(2s, error);
      return kept;
    };
    auto kept_for_call = idle_open();
    auto kept_for_shutdown = idle_open();
    auto connection = RawConnection::open(session->endpoint(), error);
    std::optional<RawResponse> answer, late_call, second_shutdown;
    bool socket_gone = false;
    if (connection) {
      std::string body(16 * 1024 * 1024, 'a');
      connection->send(http_request(session->endpoint(), "POST", "/v1/dataProcessor/" + target->second + "/processData", body,
                                    "application/octet-stream", session->token()));
      connection->wait_readable(10s);  // the first bytes of the answer
      ::kill(session->child().pid(), SIGTERM);
      if (!tcp_) {
        auto until = Clock::now() + 2s;
        while (!(socket_gone = !fs::exists(session->socket_path())) && Clock::now() < until) {
          std::this_thread::sleep_for(10ms);
        }
      } else {
        std::this_thread::sleep_for(100ms);  // the shutdown has begun
      }
      std::string late_error, second_error;
      if (kept_for_call && kept_for_call->send(http_request(session->endpoint(), "POST", ping_path(), "{}",
                                                            "application/json", session->token()))) {
        late_call = kept_for_call->receive(5s, late_error);
      }
      // Only a plugin that is shutting down gets the second trigger: to one
      // that ignored SIGTERM it would be the first, and hide S2's failure.
      const bool shutting_down = is_error(late_call, 503, "unavailable");
      if (shutting_down && kept_for_shutdown &&
          kept_for_shutdown->send(http_request(session->endpoint(), "POST", "/shutdown", "", "application/json",
                                               session->token()))) {
        second_shutdown = kept_for_shutdown->receive(5s, second_error);
      }
      answer = connection->receive(10s, error);
      // These checks need the call to have been in flight: its answer large
      // and still being written when SIGTERM came. A plugin whose
      // processData refuses the sample, or answers it small, was done by then.
      const bool in_flight = answer && answer->status == 200 && answer->body.size() >= (1u << 20);
      if (!in_flight) {
        std::string why = "no call was in flight at SIGTERM to check it with: processData answered the 16 MiB sample " +
                          describe(answer, error).substr(0, 120);
        not_applicable("S5", "§13.2", "the socket file is unlinked as soon as the shutdown starts", why);
        not_applicable("S9", "§13.2", "while a call is in flight, an idle kept-alive connection gets 503", why);
        not_applicable("S8", "§13.1", "a second /shutdown during the shutdown answers 202", why);
      } else if (tcp_) {
        not_applicable("S5", "§13.2", "the socket file is unlinked as soon as the shutdown starts",
                       not_served(Transport::unix_socket));
      } else {
        record("S5", "§13.2",
               "the socket file is unlinked as soon as the shutdown starts, while a call is still in flight",
               socket_gone, "the socket file was still there 2 s after SIGTERM, with a call in flight");
      }
      if (in_flight) {
        record("S9", "§13.2",
               "while a call is in flight after SIGTERM, an idle kept-alive connection stays open and a call on it "
               "gets 503 unavailable",
               is_error(late_call, 503, "unavailable"), describe(late_call, late_error));
        if (shutting_down) {
          record("S8", "§13.1", "a second trigger during the shutdown is harmless: a second /shutdown answers 202",
                 second_shutdown && second_shutdown->status == 202, describe(second_shutdown, second_error));
        } else {
          not_applicable("S8", "§13.1", "a second /shutdown during the shutdown answers 202",
                         "the plugin did not refuse calls after SIGTERM (S9), so it was not shutting down");
        }
      }
    }
    bool answered = answer && (answer->status == 200 || is_error(answer, 503, "unavailable") ||
                               (answer->status >= 400 && answer->status < 500 && !error_code(*answer).empty()));
    record("S6", "§13.2", "SIGTERM during a call: the call in flight is answered before the plugin exits", answered,
           describe(answer, error));
    expect_clean_exit(*session, "S2", "§13.1", "SIGTERM shuts the plugin down (exit 0, files removed)", 10s);
  }

  void check_idle() {
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

  void check_tcp() {
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
  void check_undeclared_transport() {
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
    auto run = run_plain(plugin_, {"--config", config.dump()}, detail::plugin_environment({}), 5s, true);
    record("T3", "§4.2, §5.2", rule, run.exit && run.exit->code == 2 && run.exit->signal == 0 && run.out.empty(),
           std::string("type ") + (other_is_tcp ? "tcp" : "unix") + ": " +
               (run.exit ? run.exit->describe() : "still running after 5 s") +
               (run.out.empty() ? "" : ", stdout " + detail::quote(run.out)));
  }

  // F4 and F5: socket paths the plugin cannot use.
  void check_socket_paths() {
    if (!serves(Transport::unix_socket)) {
      not_applicable("F4", "§15", "a socket path over 107 bytes: exit 2 with a message", not_served(Transport::unix_socket));
      not_applicable("F5", "§15", "a socket directory that does not exist: exit 3", not_served(Transport::unix_socket));
      return;
    }
    ScratchDir dir;
    auto run_with = [&](const std::string& address) {
      Json config = launch_config(dir);
      config["type"] = "unix";
      config["address"] = address;
      return run_plain(plugin_, {"--config", config.dump()}, detail::plugin_environment({}), 5s, true);
    };
    std::string long_path = (dir.path() / (std::string(120, 'p') + ".sock")).string();
    auto too_long = run_with(long_path);
    record("F4", "§15", "a socket path over 107 bytes: exit 2 with a message on stderr",
           too_long.exit && too_long.exit->code == 2 && too_long.exit->signal == 0 && !too_long.err.empty(),
           (too_long.exit ? too_long.exit->describe() : "still running after 5 s") + " for a path of " +
               std::to_string(long_path.size()) + " bytes; stderr: " + detail::quote(too_long.err));
    auto missing = run_with((dir.path() / "no-such-dir" / "plugin.sock").string());
    record("F5", "§15", "a socket directory that does not exist: exit 3",
           missing.exit && missing.exit->code == 3 && missing.exit->signal == 0,
           (missing.exit ? missing.exit->describe() : "still running after 5 s") + "; stderr: " +
               detail::quote(missing.err));
  }

  void check_locks() {
    if (!serves(Transport::unix_socket)) {
      not_applicable("F2", "§15", "a socket whose lock names a live process is refused with exit code 3",
                     not_served(Transport::unix_socket));
      not_applicable("F3", "§15", "a stale socket and lock left by a dead process are removed and the plugin starts",
                     not_served(Transport::unix_socket));
      return;
    }
    {
      ScratchDir dir;
      auto socket = (dir.path() / "plugin.sock").string();
      std::ofstream(socket + ".lock") << ::getpid() << "\n";  // a live owner: this process
      PluginSession session(plugin_, dir.path(), {.start_timeout = 5s});
      auto exit = session.wait_exit(5s);
      record("F2", "§15", "a socket whose lock names a live process is refused with exit code 3",
             exit && exit->code == 3 && exit->signal == 0 && !session.first_line(),
             (exit ? exit->describe() : "still running") +
                 (session.first_line() ? ", printed " + detail::quote(*session.first_line()) : ""));
    }
    {
      ScratchDir dir;
      auto socket = (dir.path() / "plugin.sock").string();
      pid_t dead = ::fork();
      if (dead == 0) ::_exit(0);
      ::waitpid(dead, nullptr, 0);
      // A socket nothing listens on, as a crashed plugin leaves it.
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
      if (fd >= 0) {
        ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::close(fd);
      }
      std::ofstream(socket + ".lock") << dead << "\n";
      PluginSession session(plugin_, dir.path(), {});
      std::string error;
      auto health = session.handshake().is_object() ? session.request("GET", "/healthz", "", "", "", error)
                                                    : std::nullopt;
      record("F3", "§15", "a stale socket and lock left by a dead process are removed and the plugin starts",
             health && health->status == 200,
             session.handshake().is_object()
                 ? describe(health, error)
                 : session.first_line()
                       ? "first line " + detail::quote(*session.first_line()) + ", not a handshake"
                       : "no handshake; stderr: " + detail::quote(session.child().stderr_tail()));
    }
    {
      // A user's file at the socket path, with a stale lock: never removed.
      ScratchDir dir;
      auto socket = (dir.path() / "plugin.sock").string();
      pid_t dead = ::fork();
      if (dead == 0) ::_exit(0);
      ::waitpid(dead, nullptr, 0);
      std::ofstream(socket) << "notes";
      std::ofstream(socket + ".lock") << dead << "\n";
      PluginSession session(plugin_, dir.path(), {.start_timeout = 5s});
      auto exit = session.wait_exit(5s);
      std::ifstream in(socket);
      std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      record("F7", "§15", "a regular file at the socket path is left as it is and the launch exits 3",
             exit && exit->code == 3 && exit->signal == 0 && !session.first_line() && kept == "notes",
             (exit ? exit->describe() : "still running after 5 s") +
                 (kept == "notes" ? ", the file kept" : ", the file was removed or changed"));
    }
  }

  fs::path plugin_;
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

}  // namespace

std::vector<CheckResult> check_conformance(const fs::path& plugin) { return Checker(plugin).run(); }

}  // namespace plugvisor::cli
