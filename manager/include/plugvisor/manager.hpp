// plugvisor manager: finds plugins, probes their capabilities, registers a
// typed wrapper for every type they provide, and supervises their processes
// (launch on first use, handshake, health, idle exit and relaunch, shutdown).
//
//   plugvisor::Manager manager({.plugin_dirs = {"build/plugins"}});
//   auto upper = manager.registry().get<plugvisor::DataProcessor>("uppercase");
//   std::string out = upper->process_data("hello");   // starts the plugin if needed
//
// Errors are thrown as plugvisor::Error (see contracts.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/fwd.h>

#include "plugvisor/contracts.hpp"
#include "plugvisor/registry.hpp"

namespace plugvisor {

using namespace std::chrono_literals;

/// How the manager reaches a plugin: a Unix socket or loopback TCP.
/// `automatic` is a setting only: the manager picks a transport the plugin
/// declares it serves, the Unix socket when it serves both.
enum class Transport { automatic, unix_socket, tcp };

/// Wire-style name of a transport: "auto", "unix" or "tcp".
std::string_view to_string(Transport transport) noexcept;

/// Optional resource limits for a plugin process, applied with setrlimit in
/// the child before exec. Zero means no limit.
struct ResourceLimits {
  /// Address space in bytes (RLIMIT_AS): allocation beyond it fails.
  std::size_t memory_bytes = 0;
  /// CPU time (RLIMIT_CPU): the kernel sends SIGXCPU when it is used up.
  std::chrono::seconds cpu_time{0};
  /// Open descriptors (RLIMIT_NOFILE).
  std::size_t open_files = 0;
  bool operator==(const ResourceLimits&) const = default;
};

/// Network access a plugin declares or is granted, from least to most.
enum class NetworkAccess {
  none,      ///< no network: a network namespace without interfaces
  loopback,  ///< its own loopback only: a network namespace with `lo` up
  outbound,  ///< the host's network
};

/// What a plugin may do (docs/security.md). A plugin declares what it needs
/// in its capabilities ("permissions"); the host grants at most this much per
/// plugin (PluginSettings::grant). Read implies execute; write implies read.
struct Permissions {
  NetworkAccess network = NetworkAccess::none;
  /// Absolute paths, each a file or a directory with everything below it.
  std::vector<std::filesystem::path> read;
  std::vector<std::filesystem::path> write;
  /// Address space in bytes (0: no limit of its own).
  std::size_t memory_bytes = 0;
  /// CPU time in whole seconds (0: no limit of its own).
  std::chrono::seconds cpu_time{0};
  /// Processes and threads (0: no limit of its own).
  std::size_t processes = 0;
  bool operator==(const Permissions&) const = default;
};

/// What happens when this kernel (or the manager's privileges) lacks a
/// mechanism a sandboxed plugin's grant needs.
enum class Enforcement {
  best_effort,  ///< start it, and report what is not enforced
  required,     ///< refuse to start it, naming the missing mechanism
};

/// One restriction of a sandboxed plugin and the kernel mechanism behind it.
struct SandboxMechanism {
  std::string what;       ///< "network none", "file system", "system calls", "memory"...
  std::string mechanism;  ///< "network namespace", "Landlock ABI 7", "seccomp-bpf", "RLIMIT_AS"...
  bool enforced = false;
  std::string note;       ///< why it is not enforced, empty when it is
  bool operator==(const SandboxMechanism&) const = default;
};

/// Whether the plugins of a directory must be signed (docs/security.md).
enum class SignaturePolicy {
  optional,  ///< unsigned plugins run; a signature present is still checked
  required,  ///< only plugins signed by a trusted key run
};

/// What a plugin's signature file (`EXECUTABLE.sig`) says about it.
enum class SignatureState {
  unsigned_plugin,  ///< there is no signature file
  trusted,          ///< signed by a trusted key, for this plugin and this content
  untrusted,        ///< signed by a key that is not trusted here (key_id names it)
  bad,              ///< malformed, for another plugin or other content, or not valid
};

/// A plugin's signature as checked against the trusted keys.
struct SignatureStatus {
  SignatureState state = SignatureState::unsigned_plugin;
  /// The signing key's id (16 hex digits), empty when unsigned or unreadable.
  std::string key_id;
  /// What was wrong and what to do; empty when unsigned or trusted.
  std::string note;
  bool operator==(const SignatureStatus&) const = default;
};

/// When a plugin is launched.
enum class StartPolicy {
  lazy,   ///< on its first call (the default)
  eager,  ///< when the manager starts, and again after a crash (with backoff)
};

/// How crashes are handled. A failure is a crash (an exit the manager did not
/// ask for, other than 0), a failed start, or a kill after a hang; an idle
/// exit never counts.
struct RestartPolicy {
  /// The wait before relaunching after the first failure; it doubles with
  /// each further failure in the window, up to max_backoff.
  std::chrono::milliseconds initial_backoff = 100ms;
  std::chrono::milliseconds max_backoff = 10s;
  /// This many failures within `window` open the circuit: the plugin is
  /// `failed` and calls fail at once until a manual restart or the cool-down.
  int max_failures = 5;
  std::chrono::milliseconds window = 60s;
  /// After this long a failed plugin may try once more (0: only by hand).
  std::chrono::milliseconds cool_down = 5min;
  bool operator==(const RestartPolicy&) const = default;
};

/// Settings that apply to one plugin (ManagerOptions::defaults for all).
struct PluginSettings {
  /// The transport to reach the plugin by. `automatic` (the default) picks
  /// one the plugin serves (capabilities "transports"), the Unix socket when
  /// it serves both; naming one rejects a plugin that does not serve it.
  Transport transport = Transport::automatic;
  /// The plugin exits by itself after this long without calls (0: never).
  std::chrono::milliseconds idle_timeout = 5min;
  /// Limit for `capabilities` to answer.
  std::chrono::milliseconds capabilities_timeout = 5s;
  /// Limit for launch: handshake plus the first healthy /healthz.
  std::chrono::milliseconds start_timeout = 10s;
  /// Deadline of a call when the caller sets none (DeadlineScope).
  std::chrono::milliseconds call_timeout = 30s;
  /// A stop asks first (POST /shutdown, stdin closed) and waits this long
  /// for the exit before it sends SIGTERM.
  std::chrono::milliseconds stop_grace = 5s;
  /// After SIGTERM, a stop waits this long before it sends SIGKILL.
  std::chrono::milliseconds term_grace = 5s;
  /// Largest request body the plugin accepts (it answers 413 above).
  std::size_t max_body_bytes = 64 * 1024 * 1024;
  /// Variables added to the plugin's scrubbed environment.
  std::map<std::string, std::string> env;
  ResourceLimits limits;
  StartPolicy start = StartPolicy::lazy;
  /// A required plugin that cannot start makes the Manager's constructor
  /// throw; an optional one is reported and skipped (eager starts only).
  bool required = false;
  RestartPolicy restart;
  /// Lines per second of the plugin's stdout/stderr forwarded to the log;
  /// lines beyond it (after a burst of twice as many) are counted and dropped.
  std::size_t log_lines_per_second = 500;
  /// false: the plugin is registered disabled (calls fail until enable()).
  bool enabled = true;
  /// Registry priority of the plugin's types: among plugins, the higher wins.
  int priority = 0;
  /// The executable's SHA-256 in lowercase hex (empty: not pinned). A file
  /// that does not match is not probed or launched.
  std::string sha256;
  /// The most this plugin may do; nullopt: no sandbox (it runs with the
  /// host's user, network and file system). With a grant, the plugin runs
  /// with what its capabilities declare, which must lie within the grant.
  std::optional<Permissions> grant;
  /// What happens when a mechanism of the sandbox is missing here.
  Enforcement enforce = Enforcement::best_effort;
  /// The user a sandboxed plugin (one with a grant) runs as when the manager
  /// runs as root: a name or a number. Empty: "nobody". Ignored without a
  /// grant; a manager that is not root runs every plugin as itself.
  std::string user;
  /// Its group: a name or a number. Empty: the user's primary group.
  std::string group;
  bool operator==(const PluginSettings&) const = default;
};

/// What a Manager is built from.
struct ManagerOptions {
  /// Directories searched for plugin executables, in order.
  std::vector<std::filesystem::path> plugin_dirs;
  /// Ed25519 public key files (PEM, `plugvisor keygen` writes them) whose
  /// signatures are trusted. Read when the Manager is built and on reload;
  /// a file that is not such a key is Error(config) naming it.
  std::vector<std::filesystem::path> trusted_keys;
  /// Per plugin directory (as listed in plugin_dirs): whether its plugins
  /// must be signed by a trusted key. A directory not listed: optional.
  std::map<std::filesystem::path, SignaturePolicy> signature_policies;
  PluginSettings defaults;
  /// Per-plugin settings (by plugin id, the file name), replacing `defaults`.
  std::map<std::string, PluginSettings> per_plugin;
  /// Config-type data by config-type name; each plugin receives only the
  /// types it declares in its capabilities.
  std::map<std::string, Json> config_types;
  /// Where the manager and the plugins' output log (default: spdlog's default logger).
  std::shared_ptr<spdlog::logger> logger;
  /// Parent of the private socket directory (default: $XDG_RUNTIME_DIR, else the temp dir).
  std::filesystem::path runtime_parent;
  /// Process-wide settings: the manager changes the host's process only when
  /// asked (docs/embedding.md, "The host's process"). Read when the Manager
  /// is constructed; reload() ignores them.
  ///
  /// true: when SIGPIPE is at its default disposition, set it to SIG_IGN for
  /// the whole process. The manager does not need it (it writes to plugins
  /// with MSG_NOSIGNAL and to their stdin with SIGPIPE blocked); a host whose
  /// own code writes to sockets or pipes that may close can ask for it here.
  bool ignore_sigpipe = false;
  /// true: tune glibc's allocator for the whole process, once (mallopt: mmap
  /// threshold 32 MiB, trim threshold 128 MiB, top pad 16 MiB), unless
  /// GLIBC_TUNABLES sets malloc tunables. Calls with bodies of 128 KiB or
  /// more then reuse heap memory instead of page-faulting fresh mappings in
  /// (several times faster on a small VM), at the price of up to 128 MiB of
  /// freed memory kept per arena. (`plugvisor serve` sets its own: docs/operations.md.)
  bool tune_malloc = false;
};

/// The life of an external plugin (see docs/architecture.md).
enum class PluginState {
  registered,  ///< probed, never launched
  starting,    ///< launched, waiting for the handshake and /healthz
  ready,       ///< serving calls
  idle,        ///< exited on its idle timeout; the next call relaunches it
  stopping,    ///< being stopped (ask, SIGTERM, SIGKILL)
  stopped,     ///< stopped by the manager or the host; the next call relaunches it
  crashed,     ///< died or failed to start; relaunched after the backoff
  failed,      ///< too many failures: the circuit is open (manual restart or cool-down)
  disabled,    ///< disabled by the host: calls fail until it is enabled
};

/// Wire-style name of a state ("ready", "idle", ...).
std::string_view to_string(PluginState state) noexcept;

/// A plugin file that discovery or the capabilities probe turned down.
struct Rejection {
  std::filesystem::path path;
  /// What was wrong and what to do, e.g. "capabilities exited with code 1: ...".
  std::string reason;
};

/// One contract type a plugin declares.
struct DeclaredType {
  std::string contract;
  std::string type;
  std::string description;
  Json json_schema;
};

/// What a plugin's `capabilities` said.
struct Capabilities {
  /// The transports the plugin serves, in the order it lists them, each
  /// once (never `automatic`). A plugin that declares none serves both.
  std::vector<Transport> transports{Transport::unix_socket, Transport::tcp};
  std::string name;
  std::string version;
  std::string description;
  std::vector<DeclaredType> types;
  std::vector<std::string> config_types;
  /// The JSON Schema of each config type's data, where the plugin declares
  /// one: data that breaks it is refused before launch.
  std::map<std::string, Json> config_schemas;
  /// The contracts the plugin describes (docs/contracts.md), by name; a
  /// plugin written before descriptions existed describes none.
  std::map<std::string, ContractDescription> contracts;
  /// What the plugin says it needs ("permissions"); nullopt when it says
  /// nothing, which under a grant means it needs nothing.
  std::optional<Permissions> permissions;
};

/// How a plugin's contract is described: by the plugin itself when it
/// publishes a description, else by `declared` (the host's declaration, or a
/// built-in contract when null is given and one has that name); nullopt when
/// neither exists.
std::optional<ContractDescription> describe_contract(const Capabilities& capabilities, std::string_view contract,
                                                     const ContractInfo* declared = nullptr);

/// Upper bounds, in seconds, of the call latency histogram's buckets (100 µs
/// to 10 s); a last, unbounded bucket follows them.
const std::vector<double>& latency_bucket_bounds() noexcept;

/// Latency quantiles over a plugin's or a type's most recent calls (up to 1024).
struct LatencyQuantiles {
  /// Seconds; nullopt before the first call.
  std::optional<double> p50, p90, p99;
};

/// Calls made through the manager to one contract type of a plugin.
struct TypeCallStats {
  std::string contract;
  std::string type;
  std::uint64_t calls = 0;
  /// Calls that ended in an Error.
  std::uint64_t errors = 0;
  /// errors by error code name ("timeout", "crashed", ...).
  std::map<std::string, std::uint64_t> errors_by_code;
  /// Calls per latency bucket (not cumulative): one per latency_bucket_bounds()
  /// entry, then one for longer calls.
  std::vector<std::uint64_t> buckets;
  /// Total latency of all calls, in seconds.
  double latency_sum = 0;
  LatencyQuantiles latency;
};

/// One line of a plugin's recent log: its output, or the manager's events about it.
struct LogLine {
  /// Increases by one per line of a plugin, across its restarts.
  std::uint64_t seq = 0;
  std::chrono::system_clock::time_point time;
  /// "stdout", "stderr" or "event" (a state change).
  std::string stream;
  std::string text;
};

/// How one contract a plugin provides fits the host's declaration of it.
struct ContractFit {
  std::string contract;
  /// The version the plugin describes (1 if it describes none).
  int version = 1;
  /// False while the host has not declared the contract (no typed objects).
  bool declared = false;
  Compatibility compatibility;
};

/// A snapshot of one registered plugin, for inspection.
struct PluginStatus {
  std::string id;
  std::filesystem::path path;
  Capabilities capabilities;
  PluginState state = PluginState::registered;
  /// The running process, 0 if none.
  int pid = 0;
  /// Launches so far.
  int starts = 0;
  /// Why the last process ended ("idle", "asked", "exited with code 1", ...), empty if none did.
  std::string last_exit;
  /// The last error (start failure, crash), empty if none.
  std::string last_error;
  /// Connections opened to the plugin over all launches (reuse keeps this low).
  std::uint64_t connections = 0;
  /// Launches that followed a failure.
  int restarts = 0;
  /// Failures within the restart window.
  int recent_failures = 0;
  /// When the running process started (zero if none runs).
  std::chrono::system_clock::time_point started_at{};
  /// Log lines dropped by the rate limit, over all launches.
  std::uint64_t dropped_log_lines = 0;
  /// Exits on the idle timeout.
  int idle_exits = 0;
  /// Failures: crashes, failed starts, kills after a hang.
  int crashes = 0;
  /// The settings the plugin runs with.
  PluginSettings settings;
  /// The transport the manager reaches the plugin by (settings.transport
  /// resolved against capabilities.transports; never `automatic`).
  Transport transport = Transport::unix_socket;
  /// Calls by declared type, in the order of capabilities.types.
  std::vector<TypeCallStats> calls;
  /// Each contract the plugin provides, against the host's declaration.
  std::vector<ContractFit> contracts;
  /// Over all types.
  LatencyQuantiles latency;
  /// The SHA-256 of the executable as probed, lowercase hex.
  std::string sha256;
  /// Its signature as checked at registration, and its directory's policy.
  SignatureStatus signature;
  SignaturePolicy signature_policy = SignaturePolicy::optional;
  /// What the plugin runs with under its grant (declared, narrowed by the
  /// grant); nullopt when it has no grant and so no sandbox.
  std::optional<Permissions> effective;
  /// The sandbox's restrictions and what enforces each; empty without a grant.
  std::vector<SandboxMechanism> sandbox;
};

/// What Manager::reload did, by plugin id.
struct ReloadResult {
  std::vector<std::string> added, removed, changed, unchanged;
  /// Files turned down after the reload.
  std::size_t rejected = 0;
};

/// Called on every state change of a plugin, from whichever thread caused it
/// (a caller, a manager thread); it must not block or call back into the
/// manager. Exceptions it throws are logged and dropped.
using StateListener = std::function<void(const std::string& plugin_id, PluginState from, PluginState to)>;

/// Discovers, registers and supervises plugins. Constructing it discovers and
/// probes (plugins are launched lazily, on first use); destroying it stops
/// every plugin and removes its private socket directory. Thread-safe.
class Manager {
 public:
  /// Discovers the plugins in options.plugin_dirs and registers their types.
  /// Plugins that fail discovery or the probe are listed in rejections() and
  /// skipped. Throws Error(config) if the socket directory cannot be made.
  explicit Manager(ManagerOptions options);
  /// Stops every plugin (see shutdown()).
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  /// The registry: external providers registered by this manager, and any
  /// internal ones the host adds.
  Registry& registry() noexcept;

  /// How the active provider of (contract, type) describes the contract: a
  /// plugin's own description, else the host's declaration (built-in or
  /// declared in the registry); nullopt when neither exists (a plugin that
  /// describes nothing, of a contract the host does not know). Throws
  /// Error(not_found) when no provider of (contract, type) is active.
  std::optional<ContractDescription> describe(std::string_view contract, std::string_view type) const;

  /// Every registered plugin, in discovery order.
  std::vector<PluginStatus> plugins() const;
  /// One plugin by id; nullopt if unknown.
  std::optional<PluginStatus> plugin(const std::string& id) const;
  /// Files that were turned down, with the reason.
  std::vector<Rejection> rejections() const;

  /// Starts a plugin now instead of on first use. Throws Error(start_failed)
  /// with the reason, Error(not_found) for an unknown id, Error(unavailable)
  /// after shutdown, Error(timeout) if a start or stop in progress outlasts it.
  void start(const std::string& id);
  /// Stops a plugin (ask, SIGTERM, SIGKILL, each after the grace); it starts
  /// again on the next call. Safe to call on a stopped plugin.
  void stop(const std::string& id);
  /// Stops the plugin, forgets its failures (closing an open circuit) and
  /// starts it again. Throws like start().
  void restart(const std::string& id);
  /// Stops the plugin; calls fail with Error(unavailable) until enable().
  void disable(const std::string& id);
  /// Allows calls again (and starts an eager plugin). Safe on an enabled one.
  void enable(const std::string& id);

  /// Up to `limit` lines of a plugin's recent log (the last 1000 kept) with a
  /// seq above `after`, oldest first. Throws Error(not_found) for an unknown id.
  std::vector<LogLine> logs(const std::string& id, std::uint64_t after = 0, std::size_t limit = 1000) const;
  /// Like logs(), but waits up to `timeout` for a line above `after` to come.
  /// Returns early (possibly empty) when the manager shuts down; throws
  /// Error(not_found) once the plugin is no longer registered.
  std::vector<LogLine> wait_logs(const std::string& id, std::uint64_t after, std::chrono::milliseconds timeout) const;

  /// Applies new options (their runtime_parent and logger are ignored):
  /// discovers again, registers new plugins, stops and unregisters vanished
  /// ones, and replaces the ones whose executable, settings or config-type
  /// data changed (their log and call statistics carry over); the rest keep
  /// running untouched. Eager plugins among the new and changed are started.
  /// Reloads are serialized. Throws Error(unavailable) after shutdown.
  ReloadResult reload(ManagerOptions options);

  /// Adds a listener for state changes; listeners live as long as the manager.
  void on_state_change(StateListener listener);

  /// The private directory holding the plugins' sockets.
  const std::filesystem::path& runtime_dir() const noexcept;

  /// Stops every plugin, in parallel, and unregisters them. Calls made
  /// afterwards fail with Error(unavailable). Safe to call twice.
  void shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// "none", "loopback" or "outbound".
std::string_view to_string(NetworkAccess network) noexcept;
/// "best-effort" or "required".
std::string_view to_string(Enforcement enforce) noexcept;
/// Permissions in the format of capabilities and the configuration file:
/// {"network", "read", "write", "memoryBytes", "cpuTime", "processes"}.
Json permissions_json(const Permissions& permissions);
/// Reads that format (every key optional). Throws Error(config) naming the
/// key, what was wrong and what is allowed.
Permissions parse_permissions(const Json& doc);
/// A signature status as {"status", "keyId", "note"} (plus "policy" when given).
Json signature_json(const SignatureStatus& status);
/// Mechanisms as [{"what", "mechanism", "enforced", "note"}].
Json sandbox_json(const std::vector<SandboxMechanism>& mechanisms);
/// A plugin's integrity and sandbox as shown by `list --json`, the admin API
/// and the dashboard: {"sha256", "pinned", "signature", "sandboxed",
/// "enforce", "declared", "granted", "effective", "mechanisms"} (docs/security.md).
Json security_json(const PluginStatus& status);
/// What this machine would enforce, and by which mechanism, for a plugin
/// granted `permissions` over `transport` (measured once per process).
std::vector<SandboxMechanism> sandbox_mechanisms(const Permissions& permissions,
                                                 Transport transport = Transport::unix_socket);
/// The SHA-256 of a file's content, lowercase hex. Throws Error(start_failed)
/// if it cannot be read.
std::string file_sha256(const std::filesystem::path& path);
/// "optional" or "required".
std::string_view to_string(SignaturePolicy policy) noexcept;
/// "unsigned", "signed", "untrusted" or "bad".
std::string_view to_string(SignatureState state) noexcept;
/// A new Ed25519 key pair: the private key to `private_key` (PEM PKCS#8,
/// mode 0600, never overwritten), the public key to `public_key` (PEM).
/// Returns the key id. Throws Error(config) naming the file that failed.
std::string generate_signing_key(const std::filesystem::path& private_key, const std::filesystem::path& public_key);
/// Signs the executable at `path` with the Ed25519 private key in
/// `private_key` (PEM; `openssl genpkey -algorithm ed25519` makes one too):
/// writes `PATH.sig` (replacing one there), binding the file's SHA-256 and
/// its plugin id (the file name). Returns the key id. Throws Error(config).
std::string sign_plugin(const std::filesystem::path& path, const std::filesystem::path& private_key);
/// Checks `PATH.sig` against the executable at `path` and the public keys in
/// `trusted_keys`. Throws Error(config) for a key file that is not an
/// Ed25519 public key, Error(start_failed) if `path` cannot be read.
SignatureStatus verify_plugin(const std::filesystem::path& path,
                              const std::vector<std::filesystem::path>& trusted_keys);

/// Runs `path capabilities` (with the scrubbed environment plus `env`, stdin
/// at /dev/null) and parses the answer, as the manager does for each plugin.
/// Throws Error(start_failed) saying what was wrong.
Capabilities probe_capabilities(const std::filesystem::path& path, std::chrono::milliseconds timeout,
                                const std::map<std::string, std::string>& env = {});

}  // namespace plugvisor
