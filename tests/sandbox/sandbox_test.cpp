// Trust and isolation (docs/security.md): pinned executables, permissions
// declared in capabilities and granted by the host, and the kernel's
// enforcement of them, seen through a fixture plugin that tries what a
// malicious plugin would.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <thread>

#include "process/integrity.hpp"
#include "plugvisor/manager.hpp"
#include "process/process_reactor.hpp"
#include "test_support.hpp"

// AddressSanitizer and ThreadSanitizer reserve terabytes of shadow address
// space at start, which no memory rlimit admits (the plugin aborts before
// main). Built with them, the cases below leave the memory limit out; the
// plain build tests it.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool memory_limit_testable = false;
#else
constexpr bool memory_limit_testable = true;
#endif

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::Json;
using plugvisor::NetworkAccess;
using plugvisor::Permissions;

namespace {

// The fixture and its shared libraries live in the build tree.
const fs::path build_dir = fs::path(PLUGVISOR_FIXTURE_PATH).parent_path().parent_path().parent_path();

std::string rejection_of(const plugvisor::Manager& manager, const std::string& id) {
  for (const auto& r : manager.rejections()) {
    if (r.path.filename() == id) return r.reason;
  }
  return "";
}

// As root the manager runs a sandboxed plugin as nobody: a directory the
// test grants for writing must be nobody's, as it would be an administrator's job.
void writable_by_plugin(const fs::path& dir) {
  if (::geteuid() == 0) REQUIRE(::chown(dir.c_str(), 65534, 65534) == 0);
}

const plugvisor::SandboxMechanism* mechanism(const plugvisor::PluginStatus& status, const std::string& what) {
  for (const auto& m : status.sandbox) {
    if (m.what == what) return &m;
  }
  return nullptr;
}

// A directory with the "sandboxed" fixture declaring `declared`, granted
// `granted` (read access to the build tree added to both).
struct SandboxedFixture {
  plugvisor::test::TempDir dir;
  plugvisor::ManagerOptions options;
  SandboxedFixture(Json declared, Permissions granted, plugvisor::Enforcement enforce = plugvisor::Enforcement::best_effort) {
    dir.add_fixture("sandboxed", "sandboxed");
    declared["read"].push_back(build_dir.string());
    options = plugvisor::test::test_options(dir.path());
    auto& settings = options.per_plugin["sandboxed"];
    settings = options.defaults;
    settings.env["PLUGVISOR_FIXTURE_PERMISSIONS"] = declared.dump();
    granted.read.push_back(build_dir);
    settings.grant = granted;
    settings.enforce = enforce;
  }
};

}  // namespace

TEST_CASE("a pinned plugin whose digest differs is rejected, naming both digests", "[sandbox][integrity]") {
  plugvisor::test::TempDir dir;
  auto path = dir.add_fixture("pinned", "normal");
  const std::string actual = plugvisor::file_sha256(path);
  const std::string wrong(64, 'a');
  auto options = plugvisor::test::test_options(dir.path());
  options.per_plugin["pinned"] = options.defaults;
  options.per_plugin["pinned"].sha256 = wrong;
  plugvisor::Manager manager(options);
  CHECK(manager.plugins().empty());
  std::string reason = rejection_of(manager, "pinned");
  CHECK_THAT(reason, Contains("has SHA-256 " + actual) && Contains("but its pin is " + wrong));
}

TEST_CASE("a pinned plugin that matches runs, and its digest is shown", "[sandbox][integrity]") {
  plugvisor::test::TempDir dir;
  auto path = dir.add_fixture("pinned", "normal");
  auto options = plugvisor::test::test_options(dir.path());
  options.per_plugin["pinned"] = options.defaults;
  options.per_plugin["pinned"].sha256 = plugvisor::file_sha256(path);
  plugvisor::Manager manager(options);
  REQUIRE(manager.plugins().size() == 1);
  CHECK(manager.plugins()[0].sha256 == options.per_plugin["pinned"].sha256);
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("hi") == "hi");
  auto security = plugvisor::security_json(manager.plugins()[0]);
  CHECK(security["pinned"] == true);
  CHECK(security["sha256"] == options.per_plugin["pinned"].sha256);
}

TEST_CASE("what was hashed is what runs: a file replaced after the check does not run", "[sandbox][integrity]") {
  plugvisor::test::TempDir dir;
  auto run = [](const fs::path& path, std::shared_ptr<const plugvisor::detail::OpenedExecutable> executable) {
    plugvisor::detail::ProcessReactor reactor;
    plugvisor::detail::SpawnSpec spec;
    spec.path = path.string();
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.stdout_mode = plugvisor::detail::StdoutMode::capture;
    spec.executable = std::move(executable);
    auto child = reactor.spawn(std::move(spec));
    auto status = child->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    REQUIRE(status);
    return std::make_pair(child->captured().first, status->code);
  };
  SECTION("a #! script (its interpreter reads /dev/fd/4)") {
    auto path = dir.add_file("plugin", "#!/bin/sh\necho original\n");
    auto checked = plugvisor::detail::OpenedExecutable::open(path, true);
    CHECK(checked->sha256() == plugvisor::file_sha256(path));
    fs::rename(dir.add_file(".evil", "#!/bin/sh\necho replaced\n"), path);  // the window
    CHECK(run(path, checked).first == "original\n");
    CHECK(run(path, nullptr).first == "replaced\n");  // by path, the replacement would have run
  }
  SECTION("an executable file") {
    auto path = dir.path() / "plugin";
    fs::copy_file("/bin/true", path);
    auto checked = plugvisor::detail::OpenedExecutable::open(path, true);
    fs::copy_file("/bin/false", dir.path() / ".evil");
    fs::rename(dir.path() / ".evil", path);
    CHECK(run(path, checked).second == 0);
    CHECK(run(path, nullptr).second == 1);
  }
}

TEST_CASE("a pinned plugin replaced after registration is not launched", "[sandbox][integrity]") {
  plugvisor::test::TempDir dir;
  auto path = dir.add_fixture("pinned", "normal");
  auto options = plugvisor::test::test_options(dir.path());
  options.per_plugin["pinned"] = options.defaults;
  options.per_plugin["pinned"].sha256 = plugvisor::file_sha256(path);
  plugvisor::Manager manager(options);
  REQUIRE(manager.plugins().size() == 1);
  // Replaced between the probe and the launch, by a rename as an attacker would.
  auto evil = dir.add_file(".evil", "#!/bin/sh\necho pwned > " + (dir.path() / "ran").string() + "\n");
  fs::rename(evil, path);
  CHECK_THROWS_WITH(manager.start("pinned"), Contains("but its pin is " + options.per_plugin["pinned"].sha256));
  CHECK_FALSE(fs::exists(dir.path() / "ran"));
}

TEST_CASE("a plugin asking for more than its grant is not started, the reason lists the difference",
          "[sandbox][permissions]") {
  Permissions granted;
  granted.network = NetworkAccess::loopback;
  granted.write = {"/tmp/plugvisor-granted"};
  Json declared{{"network", "outbound"}, {"write", {"/var/lib/x"}}};
  if (memory_limit_testable) {
    granted.memory_bytes = 1 << 30;
    declared["memoryBytes"] = 2LL << 30;
  }
  SandboxedFixture fixture(declared, granted);
  plugvisor::Manager manager(fixture.options);
  CHECK(manager.plugins().empty());
  std::string reason = rejection_of(manager, "sandboxed");
  CHECK_THAT(reason, Contains("ask for more than its grant"));
  CHECK_THAT(reason, Contains("network outbound (granted: loopback)"));
  CHECK_THAT(reason, Contains("write /var/lib/x (granted: /tmp/plugvisor-granted)"));
  if (memory_limit_testable) CHECK_THAT(reason, Contains("memoryBytes 2147483648 bytes (granted: 1073741824 bytes)"));
}

TEST_CASE("a capabilities document with malformed permissions is rejected naming the key", "[sandbox][permissions]") {
  SandboxedFixture fixture({{"network", "everything"}}, Permissions{});
  plugvisor::Manager manager(fixture.options);
  CHECK_THAT(rejection_of(manager, "sandboxed"),
             Contains("\"network\" must be \"none\", \"loopback\" or \"outbound\", not \"everything\""));
  SandboxedFixture relative({{"read", {"etc"}}}, Permissions{});
  plugvisor::Manager manager2(relative.options);
  CHECK_THAT(rejection_of(manager2, "sandboxed"), Contains("is not absolute"));
}

TEST_CASE("a sandboxed plugin serves calls but cannot reach the network, other files or the kernel's dangerous calls",
          "[sandbox][enforcement]") {
  plugvisor::test::TempDir outside;  // neither readable nor writable for the plugin
  plugvisor::test::TempDir writable;
  writable_by_plugin(writable.path());
  std::ofstream(outside.path() / "secret") << "secret";
  Permissions granted;
  granted.write = {writable.path()};
  Json declared{{"network", "none"}, {"write", {writable.path().string()}}};
  if (memory_limit_testable) {
    granted.memory_bytes = 512ULL << 20;
    declared["memoryBytes"] = 512LL << 20;
  }
  SandboxedFixture fixture(declared, granted);
  plugvisor::Manager manager(fixture.options);
  REQUIRE(rejection_of(manager, "sandboxed").empty());
  auto attempt = manager.registry().get<DataProcessor>("attempt");
  // The protocol works inside: Unix socket, handshake, token, calls.
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("inside") == "inside");

  // Landlock's TCP rules refuse first; the empty network namespace is behind them.
  CHECK_THROWS_WITH(attempt->process_data("connect 127.0.0.1 22"), Contains("connect 127.0.0.1 22: Permission denied"));
  CHECK_THROWS_WITH(attempt->process_data("resolve example.com"), Contains("resolve example.com: "));
  CHECK_THROWS_WITH(attempt->process_data("read /etc/shadow"), Contains("Permission denied"));
  CHECK_THROWS_WITH(attempt->process_data("read " + (outside.path() / "secret").string()), Contains("Permission denied"));
  CHECK_THROWS_WITH(attempt->process_data("write " + (outside.path() / "dropped").string()),
                    Contains("Permission denied"));
  CHECK_FALSE(fs::exists(outside.path() / "dropped"));
  CHECK(attempt->process_data("write " + (writable.path() / "allowed").string()) == "ok wrote");
  CHECK(fs::exists(writable.path() / "allowed"));
  CHECK_THROWS_WITH(attempt->process_data("ptrace"), Contains("Operation not permitted"));
  CHECK_THROWS_WITH(attempt->process_data("mount"), Contains("Operation not permitted"));
  CHECK_THROWS_WITH(attempt->process_data("bpf"), Contains("Operation not permitted"));
  CHECK_THROWS_WITH(attempt->process_data("kill " + std::to_string(::getpid())), Contains("Operation not permitted"));
  if (memory_limit_testable) {
    CHECK_THROWS_WITH(attempt->process_data("alloc 1073741824"), Contains("Cannot allocate memory"));
    CHECK(attempt->process_data("alloc 1048576") == "ok allocated");
  }

  auto status = manager.plugin("sandboxed");
  REQUIRE(status);
  for (const char* what : {"privileges", "network none", "file system", "system calls", "memory"}) {
    INFO(what);
    if (!memory_limit_testable && std::string(what) == "memory") continue;
    REQUIRE(mechanism(*status, what));
    CHECK(mechanism(*status, what)->enforced);
  }
  // Still healthy after every refusal.
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("still") == "still");
}

TEST_CASE("a plugin granted loopback has a loopback of its own, not the host's", "[sandbox][enforcement]") {
  // A port the host listens on, reachable from here.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  socklen_t size = sizeof address;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &size);
  const std::string port = std::to_string(ntohs(address.sin_port));

  Permissions granted;
  granted.network = NetworkAccess::loopback;
  SandboxedFixture fixture({{"network", "loopback"}}, granted);
  plugvisor::Manager manager(fixture.options);
  auto attempt = manager.registry().get<DataProcessor>("attempt");
  CHECK_THROWS_WITH(attempt->process_data("connect 127.0.0.1 " + port), Contains("Connection refused"));
  CHECK_THROWS_WITH(attempt->process_data("connect 10.0.0.1 80"), Contains("Network is unreachable"));
  CHECK_THROWS_WITH(attempt->process_data("resolve example.com"), Contains("resolve example.com: "));

  // The same plugin with outbound reaches the host's port.
  Permissions open;
  open.network = NetworkAccess::outbound;
  SandboxedFixture outbound({{"network", "outbound"}}, open);
  plugvisor::Manager open_manager(outbound.options);
  CHECK(open_manager.registry().get<DataProcessor>("attempt")->process_data("connect 127.0.0.1 " + port) ==
        "ok connected");
  ::close(listener);
}

TEST_CASE("a symbolic link planted in a permitted path does not widen the sandbox", "[sandbox][enforcement]") {
  plugvisor::test::TempDir writable;
  writable_by_plugin(writable.path());
  Permissions granted;
  granted.write = {writable.path()};
  const fs::path link = writable.path() / "data";
  SandboxedFixture fixture({{"read", {link.string()}}, {"write", {writable.path().string()}}}, granted);
  plugvisor::Manager manager(fixture.options);
  auto attempt = manager.registry().get<DataProcessor>("attempt");
  CHECK_THROWS_WITH(attempt->process_data("read /etc/passwd"), Contains("Permission denied"));
  // What a plugin could do from inside: a link to /etc where it declared a path.
  fs::create_directory_symlink("/etc", link);
  manager.stop("sandboxed");
  CHECK_THROWS_WITH(attempt->process_data("read /etc/passwd"),
                    Contains("resolves to /etc, outside its grant (a symbolic link?)"));
  fs::remove(link);
  fs::create_directory(link);
  writable_by_plugin(link);
  CHECK(attempt->process_data("write " + (link / "ok").string()) == "ok wrote");
}

TEST_CASE("a sandboxed plugin forking past its process limit gets the kernel's refusal", "[sandbox][enforcement]") {
  // As root the plugin runs as nobody, whose processes (other plugins' too) count.
  Permissions granted;
  granted.processes = 256;
  SandboxedFixture fixture({{"processes", 256}}, granted);
  plugvisor::Manager manager(fixture.options);
  auto status = manager.plugin("sandboxed");
  REQUIRE(status);
  const auto* processes = mechanism(*status, "processes");
  REQUIRE(processes);
  CHECK(processes->enforced);
  auto attempt = manager.registry().get<DataProcessor>("attempt");
  CHECK_THROWS_WITH(attempt->process_data("fork 100000"), Contains("Resource temporarily unavailable"));
}

TEST_CASE("enforce required refuses a plugin whose sandbox lacks a mechanism, naming it", "[sandbox][enforcement]") {
  // Over tcp the plugin must share the host's loopback: no network namespace.
  SandboxedFixture fixture({{"network", "none"}}, Permissions{}, plugvisor::Enforcement::required);
  fixture.options.per_plugin["sandboxed"].transport = plugvisor::Transport::tcp;
  plugvisor::Manager manager(fixture.options);
  CHECK(manager.plugins().empty());
  std::string reason = rejection_of(manager, "sandboxed");
  CHECK_THAT(reason, Contains("network none needs network namespace") && Contains("use the unix transport"));

  SandboxedFixture lax({{"network", "none"}}, Permissions{}, plugvisor::Enforcement::best_effort);
  lax.options.per_plugin["sandboxed"].transport = plugvisor::Transport::tcp;
  plugvisor::Manager started(lax.options);
  auto status = started.plugin("sandboxed");
  REQUIRE(status);
  REQUIRE(mechanism(*status, "network none"));
  CHECK_FALSE(mechanism(*status, "network none")->enforced);
  CHECK(started.registry().get<DataProcessor>("echo")->process_data("tcp") == "tcp");
}

TEST_CASE("the example plugins in C++, Python, Node and Go work inside the sandbox, idle timeout and stdin EOF included",
          "[sandbox][languages]") {
  plugvisor::test::TempDir dir;
  std::vector<std::pair<std::string, std::string>> plugins{
      {"plugin-text-tools", "uppercase"}, {"plugin-py-stats", "stats"}, {"plugin-node-text", "slugify"}};
  if (fs::exists(fs::path(PLUGVISOR_PLUGIN_DIR) / "plugin-go-text")) plugins.emplace_back("plugin-go-text", "reverse");
  auto options = plugvisor::test::test_options(PLUGVISOR_PLUGIN_DIR);
  options.defaults.idle_timeout = std::chrono::seconds(1) * plugvisor::test::timing_scale;
  Permissions granted;
  granted.read = {PLUGVISOR_SOURCE_DIR, build_dir};
  options.defaults.grant = granted;
  options.defaults.enforce = plugvisor::Enforcement::required;
  // As root the plugins run as nobody. An interpreter nobody cannot reach
  // (pyenv's under a 0700 /root) is the one thing that keeps a plugin at
  // root: then it runs as root, best-effort, and says so.
  std::string shebang;
  std::getline(std::ifstream(fs::path(PLUGVISOR_PLUGIN_DIR) / "plugin-py-stats"), shebang);
  const bool python_unreachable = ::geteuid() == 0 && shebang.starts_with("#!/root/") &&
                                  (fs::status("/root").permissions() & fs::perms::others_exec) == fs::perms::none;
  if (python_unreachable) {
    auto& py = options.per_plugin["plugin-py-stats"] = options.defaults;
    py.user = "root";
    py.enforce = plugvisor::Enforcement::best_effort;
  }
  plugvisor::Manager manager(options);
  for (const auto& [id, type] : plugins) {
    INFO(id);
    auto status = manager.plugin(id);
    REQUIRE(status);
    CHECK(status->settings.grant.has_value());
    for (const auto& m : status->sandbox) {
      INFO(m.what);
      CHECK((m.enforced || (python_unreachable && id == "plugin-py-stats" && m.what == "user")));
    }
  }
  for (const auto& [id, type] : plugins) {
    INFO(id);
    auto processor = manager.registry().get<DataProcessor>(type);
    processor->ping();
    CHECK(manager.plugin(id)->pid > 0);
  }
  // The idle timeout works inside: each exits by itself.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10) * plugvisor::test::timing_scale;
  for (const auto& [id, type] : plugins) {
    INFO(id);
    while (manager.plugin(id)->state != plugvisor::PluginState::idle && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    CHECK(manager.plugin(id)->state == plugvisor::PluginState::idle);
  }
  // Relaunched on the next call, then stopped through stdin EOF and /shutdown.
  for (const auto& [id, type] : plugins) {
    INFO(id);
    manager.registry().get<DataProcessor>(type)->ping();
    manager.stop(id);
    CHECK_THAT(manager.plugin(id)->last_exit, Contains("asked (exited normally"));
  }
}

TEST_CASE("as root a sandboxed plugin runs as nobody or its configured user, and root-only files stay closed",
          "[sandbox][enforcement][user]") {
  if (::geteuid() != 0) {
    // Not root: plugins run as the manager's user; there is nothing to switch.
    SandboxedFixture fixture(Json::object(), Permissions{});
    plugvisor::Manager manager(fixture.options);
    CHECK(manager.registry().get<DataProcessor>("attempt")->process_data("ids").starts_with(
        "uid " + std::to_string(::getuid()) + "/"));
    return;
  }
  // A root-only file (0600, owned by root) in a directory the plugin is granted.
  plugvisor::test::TempDir granted_dir;
  ::chmod(granted_dir.path().c_str(), 0755);
  const fs::path secret = granted_dir.path() / "root-only";
  std::ofstream(secret) << "secret";
  ::chmod(secret.c_str(), 0600);
  Permissions granted;
  granted.read = {granted_dir.path()};

  SECTION("by default: nobody, with no supplementary groups") {
    SandboxedFixture fixture({{"read", {granted_dir.path().string()}}}, granted, plugvisor::Enforcement::required);
    plugvisor::Manager manager(fixture.options);
    REQUIRE(rejection_of(manager, "sandboxed").empty());
    auto attempt = manager.registry().get<DataProcessor>("attempt");
    CHECK(attempt->process_data("ids") == "uid 65534/65534 gid 65534/65534 groups 65534");
    CHECK_THROWS_WITH(attempt->process_data("read " + secret.string()), Contains("Permission denied"));
    // Landlock allows the directory; only the owner check refuses the file: a world-readable one is read.
    ::chmod(secret.c_str(), 0644);
    CHECK(attempt->process_data("read " + secret.string()) == "ok read 6 bytes");
    auto status = manager.plugin("sandboxed");
    REQUIRE(status);
    REQUIRE(mechanism(*status, "user"));
    CHECK(mechanism(*status, "user")->enforced);
    CHECK_THAT(mechanism(*status, "user")->mechanism, Contains("nobody (65534:65534)"));
  }
  SECTION("a configured user and group, by number") {
    SandboxedFixture fixture({{"read", {granted_dir.path().string()}}}, granted);
    fixture.options.per_plugin["sandboxed"].user = "12345";
    fixture.options.per_plugin["sandboxed"].group = "23456";
    plugvisor::Manager manager(fixture.options);
    REQUIRE(rejection_of(manager, "sandboxed").empty());
    CHECK(manager.registry().get<DataProcessor>("attempt")->process_data("ids") ==
          "uid 12345/12345 gid 23456/23456 groups 23456");
  }
  SECTION("root by choice is reported, and refused under enforce required") {
    SandboxedFixture fixture(Json::object(), Permissions{}, plugvisor::Enforcement::required);
    fixture.options.per_plugin["sandboxed"].user = "root";
    plugvisor::Manager manager(fixture.options);
    CHECK_THAT(rejection_of(manager, "sandboxed"), Contains("user needs a user other than root"));
  }
  SECTION("a user that does not exist is refused, naming it") {
    SandboxedFixture fixture(Json::object(), Permissions{});
    fixture.options.per_plugin["sandboxed"].user = "no-such-user-here";
    plugvisor::Manager manager(fixture.options);
    CHECK_THAT(rejection_of(manager, "sandboxed"), Contains("no user \"no-such-user-here\" on this machine"));
  }
}
