// plugvisor call: start the provider of a type, call one method, print the result.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "admin_client.hpp"
#include "jsonc.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::cli {

namespace {

struct CallArgs {
  std::vector<std::string> dirs;
  std::string contract, type, method;
  std::optional<std::string> data;
  std::optional<std::string> data_file;
  std::string timeout = "30s";
  bool tcp = false;
  bool json = false;
  std::vector<std::string> config_types;
  AdminTarget admin;  // without -d: the daemon to call through
};

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string read_input(const CallArgs& args) {
  if (args.data) return *args.data;
  if (args.data_file) {
    std::ifstream in(*args.data_file, std::ios::binary);
    if (!in) throw Error(ErrorCode::config, "cannot read --data-file " + *args.data_file);
    return read_all(in);
  }
  // Nothing piped in: an empty input (a method that takes none does not wait on a terminal).
  if (::isatty(STDIN_FILENO)) return {};
  return read_all(std::cin);
}

// The wire encoding of the method's input: from the contract's description
// (the provider's own, or the built-in one) when there is one, else bytes
// (or JSON with --json-input).
Encoding input_encoding(const CallArgs& args, const std::optional<ContractDescription>& contract,
                        std::string_view provider) {
  if (contract) return contract->require_method(args.method, provider).input;
  return args.json ? Encoding::json : Encoding::bytes;
}

Payload read_payload(const CallArgs& args, Encoding encoding) {
  Payload input{encoding, "{}"};
  if (encoding != Encoding::none) {
    input.body = read_input(args);
    if (encoding == Encoding::json && !Json::accept(input.body)) {
      throw Error(ErrorCode::config, args.contract + " " + args.method + " takes JSON, and the input is not JSON");
    }
  }
  return input;
}

void print_output(const std::string& body) {
  std::cout << body;
  if (::isatty(STDOUT_FILENO) && !body.empty() && body.back() != '\n') std::cout << "\n";
  std::cout.flush();
}

// Without -d: through the call broker of a running daemon (POST /v1/call/...).
void call_through_daemon(const CallArgs& args, const Payload& input, std::chrono::milliseconds timeout) {
  if (args.tcp || !args.config_types.empty()) {
    throw Error(ErrorCode::config, "--tcp and --config-type apply when the plugin is started here (-d DIR); "
                                   "a daemon runs its plugins with its own configuration");
  }
  AdminClient client(resolve_endpoint(args.admin, current_environment()));
  std::map<std::string, std::string> headers;
  // The daemon enforces the deadline; the wait for its answer only outlasts it.
  std::chrono::seconds wait = std::chrono::hours(24 * 365);
  if (timeout.count() != 0) {
    headers[std::string(protocol::deadline_header)] = std::to_string(timeout.count());
    wait = std::chrono::duration_cast<std::chrono::seconds>(timeout) + std::chrono::seconds(30);
  }
  const std::string path =
      "/v1/call/" + url_segment(args.contract) + "/" + url_segment(args.type) + "/" + url_segment(args.method);
  const std::string content_type = input.encoding == Encoding::json ? "application/json" : "application/octet-stream";
  auto answer = client.post_raw(path, input.encoding == Encoding::none ? "" : input.body, content_type,
                                wait, headers);
  print_output(answer.body);
}

// The JSON of --config-type NAME=JSON, by the configuration file's parser:
// every error (a number out of range included) with its column.
Json config_type_json(const std::string& name, const std::string& text) {
  try {
    return detail::parse_jsonc(text).value;
  } catch (const detail::JsoncError& e) {
    throw Error(ErrorCode::config, "--config-type " + name + "=" + text + ": column " +
                                       std::to_string(e.position().column) + " of the JSON: " + e.what());
  }
}

void run_call(const CallArgs& args, int& exit_code) {
  auto timeout = protocol::parse_duration(args.timeout);
  if (args.dirs.empty()) {
    // The daemon reads the provider's description; the built-in ones are known here too.
    const ContractInfo* builtin = find_builtin_contract(args.contract);
    std::optional<ContractDescription> contract;
    if (builtin) contract = builtin->description;
    Payload input = read_payload(args, input_encoding(args, contract, args.type));
    run_admin_command(exit_code, [&] { call_through_daemon(args, input, timeout); });
    return;
  }
  if (!args.admin.admin.empty() || !args.admin.config.empty() || !args.admin.token.empty()) {
    throw Error(ErrorCode::config, "--admin, --config and --token choose a daemon to call through; with -d DIR the "
                                   "plugin is started here instead: give one or the other");
  }
  ManagerOptions options = manager_options(args.dirs);
  options.defaults.call_timeout = timeout.count() == 0 ? std::chrono::hours(24 * 365) : timeout;  // 0: no deadline
  if (args.tcp) options.defaults.transport = Transport::tcp;
  for (const auto& entry : args.config_types) {
    auto eq = entry.find('=');
    if (eq == std::string::npos) throw Error(ErrorCode::config, "--config-type takes NAME=JSON, not " + entry);
    options.config_types[entry.substr(0, eq)] = config_type_json(entry.substr(0, eq), entry.substr(eq + 1));
  }
  Manager manager(std::move(options));
  auto contract = manager.describe(args.contract, args.type);
  auto active = manager.registry().active(args.contract, args.type);
  std::string provider = active ? "plugin " + active->provider : args.contract + " type " + args.type;
  Payload input = read_payload(args, input_encoding(args, contract, provider));
  print_output(manager.registry().channel(args.contract, args.type)->call(args.method, input).body);
  exit_code = exit_ok;
}

}  // namespace

void add_call(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("call",
                                 "Call METHOD of CONTRACT TYPE and print the result: with -d, starting the provider "
                                 "here; without, through a running daemon");
  auto args = std::make_shared<CallArgs>();
  cmd->add_option("-d,--dir", args->dirs, "A plugin directory (repeatable); without it the call goes through the daemon")
      ->allow_extra_args(false);
  add_admin_options(cmd, args->admin);
  cmd->add_option("contract", args->contract, "The contract, e.g. dataProcessor")->required();
  cmd->add_option("type", args->type, "The type, e.g. uppercase")->required();
  cmd->add_option("method", args->method, "The method, e.g. processData")->required();
  auto* data = cmd->add_option("--data", args->data, "The input as text (default: standard input)");
  cmd->add_option("--data-file", args->data_file, "Read the input from FILE")->excludes(data);
  cmd->add_option("--timeout", args->timeout, "Deadline of the call, e.g. 500ms, 10s (0: none)")->capture_default_str();
  cmd->add_flag("--tcp", args->tcp, "Reach the plugin over loopback TCP instead of a Unix socket");
  cmd->add_flag("--json-input", args->json,
                "Send the input as JSON (for contracts this build does not know; --json means \"print JSON\" elsewhere)");
  cmd->add_option("--config-type", args->config_types, "Config-type data for the plugin, NAME=JSON (repeatable)")
      ->allow_extra_args(false);
  cmd->callback([args, &exit_code] { run_call(*args, exit_code); });
}

}  // namespace plugvisor::cli
