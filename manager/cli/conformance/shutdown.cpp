// Checks of the shutdown (S, protocol §13): /shutdown, end of file on stdin,
// SIGTERM with a call in flight.
#include "conformance/checker.hpp"

#include <signal.h>

#include <thread>

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_shutdown_endpoint() {
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

void Checker::check_stdin_eof(bool on_stdin) {
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

void Checker::check_sigterm() {
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
  auto connection = RawConnection::open(session->endpoint(), error);
  std::optional<RawConnection> kept_for_call, kept_for_shutdown;
  std::optional<RawResponse> answer, late_call, second_shutdown;
  bool socket_gone = false;
  if (connection) {
    std::string body(16 * 1024 * 1024, 'a');
    connection->send(http_request(session->endpoint(), "POST", "/v1/dataProcessor/" + target->second + "/processData", body,
                                  "application/octet-stream", session->token()));
    connection->wait_readable(10s);  // the first bytes of the answer
    // Opened now, not before the call: a plugin may close a connection idle
    // for 5 s (§12), and a 16 MiB call on a loaded machine can take that long.
    kept_for_call = idle_open();
    kept_for_shutdown = idle_open();
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

}  // namespace plugvisor::cli::conformance
