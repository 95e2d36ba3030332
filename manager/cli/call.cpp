// plugvisor call: start the provider of a type, call one method, print the result.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

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
  return read_all(std::cin);
}

// The wire encoding of the method's input: from the contract's declaration
// when this build knows it, else bytes (or JSON with --json).
Encoding input_encoding(const CallArgs& args) {
  if (const ContractInfo* contract = find_contract(args.contract)) {
    for (const auto& method : contract->methods) {
      if (method.name == args.method) return method.input;
    }
    std::string names;
    for (const auto& method : contract->methods) names += (names.empty() ? "" : ", ") + std::string(method.name);
    throw Error(ErrorCode::not_found, args.contract + " has no method '" + args.method + "' (methods: " + names + ")");
  }
  return args.json ? Encoding::json : Encoding::bytes;
}

void run_call(const CallArgs& args) {
  Encoding encoding = input_encoding(args);
  Payload input{encoding, "{}"};
  if (encoding != Encoding::none) {
    input.body = read_input(args);
    if (encoding == Encoding::json && !Json::accept(input.body)) {
      throw Error(ErrorCode::config, args.contract + " " + args.method + " takes JSON, and the input is not JSON");
    }
  }
  ManagerOptions options = manager_options(args.dirs);
  auto timeout = protocol::parse_duration(args.timeout);
  options.defaults.call_timeout = timeout.count() == 0 ? std::chrono::hours(24 * 365) : timeout;  // 0: no deadline
  if (args.tcp) options.defaults.transport = Transport::tcp;
  for (const auto& entry : args.config_types) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || !Json::accept(entry.substr(eq + 1))) {
      throw Error(ErrorCode::config, "--config-type takes NAME=JSON, not " + entry);
    }
    options.config_types[entry.substr(0, eq)] = Json::parse(entry.substr(eq + 1));
  }
  Manager manager(std::move(options));
  Payload output = manager.registry().channel(args.contract, args.type)->call(args.method, input);
  std::cout << output.body;
  if (::isatty(STDOUT_FILENO) && !output.body.empty() && output.body.back() != '\n') std::cout << "\n";
  std::cout.flush();
}

}  // namespace

void add_call(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("call", "Start the provider of CONTRACT TYPE, call METHOD and print the result");
  auto args = std::make_shared<CallArgs>();
  cmd->add_option("-d,--dir", args->dirs, "A plugin directory (repeatable)")->required()->allow_extra_args(false);
  cmd->add_option("contract", args->contract, "The contract, e.g. dataProcessor")->required();
  cmd->add_option("type", args->type, "The type, e.g. uppercase")->required();
  cmd->add_option("method", args->method, "The method, e.g. processData")->required();
  auto* data = cmd->add_option("--data", args->data, "The input as text (default: standard input)");
  cmd->add_option("--data-file", args->data_file, "Read the input from FILE")->excludes(data);
  cmd->add_option("--timeout", args->timeout, "Deadline of the call, e.g. 500ms, 10s (0: none)")->capture_default_str();
  cmd->add_flag("--tcp", args->tcp, "Reach the plugin over loopback TCP instead of a Unix socket");
  cmd->add_flag("--json", args->json, "Send the input as JSON (for contracts this build does not know)");
  cmd->add_option("--config-type", args->config_types, "Config-type data for the plugin, NAME=JSON (repeatable)")
      ->allow_extra_args(false);
  cmd->callback([args, &exit_code] {
    run_call(*args);
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
