// Checks of the socket and lock files (A5, F: protocol §9, §15).
#include "conformance/checker.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "process/environment.hpp"

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

namespace {

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  return dead;
}

}  // namespace

// A5, F1: the files of a Unix socket.
void Checker::check_socket_files(PluginSession& session) {
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

// F4 and F5: socket paths the plugin cannot use.
void Checker::check_socket_paths() {
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
    return run_plain({"--config", config.dump()}, detail::plugin_environment({}), 5s, true);
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

// F2: a lock that names a live process.
void Checker::check_live_lock() {
  if (!serves(Transport::unix_socket)) {
    not_applicable("F2", "§15", "a socket whose lock names a live process is refused with exit code 3",
                   not_served(Transport::unix_socket));
    return;
  }
  ScratchDir dir;
  auto socket = (dir.path() / "plugin.sock").string();
  std::ofstream(socket + ".lock") << ::getpid() << "\n";  // a live owner: this process
  auto started = start_session(dir, {.start_timeout = 5s});
  auto& session = *started;
  auto exit = session.wait_exit(5s);
  record("F2", "§15", "a socket whose lock names a live process is refused with exit code 3",
         exit && exit->code == 3 && exit->signal == 0 && !session.first_line(),
         (exit ? exit->describe() : "still running") +
             (session.first_line() ? ", printed " + detail::quote(*session.first_line()) : ""));
}

// F3: a stale socket and lock, as a crashed plugin leaves them.
void Checker::check_stale_lock() {
  if (!serves(Transport::unix_socket)) {
    not_applicable("F3", "§15", "a stale socket and lock left by a dead process are removed and the plugin starts",
                   not_served(Transport::unix_socket));
    return;
  }
  ScratchDir dir;
  auto socket = (dir.path() / "plugin.sock").string();
  // A socket nothing listens on, as a crashed plugin leaves it.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
  if (fd >= 0) {
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::close(fd);
  }
  std::ofstream(socket + ".lock") << dead_pid() << "\n";
  auto started = start_session(dir, {});
  auto& session = *started;
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

// F7: a user's file at the socket path, with a stale lock: never removed.
void Checker::check_file_at_socket() {
  if (!serves(Transport::unix_socket)) return;
  ScratchDir dir;
  auto socket = (dir.path() / "plugin.sock").string();
  std::ofstream(socket) << "notes";
  std::ofstream(socket + ".lock") << dead_pid() << "\n";
  auto started = start_session(dir, {.start_timeout = 5s});
  auto& session = *started;
  auto exit = session.wait_exit(5s);
  std::ifstream in(socket);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  record("F7", "§15", "a regular file at the socket path is left as it is and the launch exits 3",
         exit && exit->code == 3 && exit->signal == 0 && !session.first_line() && kept == "notes",
         (exit ? exit->describe() : "still running after 5 s") +
             (kept == "notes" ? ", the file kept" : ", the file was removed or changed"));
}

}  // namespace plugvisor::cli::conformance
