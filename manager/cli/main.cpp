// plugvisor: inspect and use plugins from the command line.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "plugvisor/contracts.hpp"

int main(int argc, char** argv) {
  CLI::App app{"plugvisor: a language-agnostic plugin supervisor"};
  app.require_subcommand(1);
  int verbosity = 0;
  app.add_flag("-v,--verbose", verbosity, "Log more to stderr (-v: plugin logs and info, -vv: debug)");
  int exit_code = plugvisor::cli::exit_ok;
  plugvisor::cli::add_list(app, exit_code);
  plugvisor::cli::add_call(app, exit_code);
  plugvisor::cli::add_validate(app, exit_code);
  plugvisor::cli::add_config(app, exit_code);
  plugvisor::cli::add_serve(app, exit_code);
  plugvisor::cli::add_inspect(app, exit_code);
  plugvisor::cli::add_daemon_commands(app, exit_code);
  plugvisor::cli::add_logs(app, exit_code);
  plugvisor::cli::add_keygen(app, exit_code);
  plugvisor::cli::add_sign(app, exit_code);
  plugvisor::cli::add_verify(app, exit_code);

  app.parse_complete_callback([&] {
    auto logger = spdlog::stderr_color_mt("plugvisor");
    logger->set_level(verbosity >= 2 ? spdlog::level::debug
                      : verbosity == 1 ? spdlog::level::info
                                       : spdlog::level::warn);
    logger->set_pattern("%^%l%$ [%n] %v");
    spdlog::set_default_logger(logger);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : plugvisor::cli::exit_usage;
  } catch (const plugvisor::Error& e) {
    std::fprintf(stderr, "plugvisor: %s: %s\n", std::string(plugvisor::to_string(e.code())).c_str(), e.what());
    return e.code() == plugvisor::ErrorCode::config ? plugvisor::cli::exit_usage : plugvisor::cli::exit_failed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plugvisor: %s\n", e.what());
    return plugvisor::cli::exit_failed;
  }
  return exit_code;
}
