// plugvisor validate: check a plugin executable against docs/protocol.md.
#include <iostream>

#include "commands.hpp"
#include "conformance.hpp"
#include "plugvisor/contracts.hpp"

namespace plugvisor::cli {

namespace {

const char* status_word(const CheckResult& r) {
  if (r.status == CheckResult::pass) return "PASS";
  if (r.status == CheckResult::skip) return "SKIP";
  if (r.status == CheckResult::na) return "N/A";
  return r.weight == Weight::must ? "FAIL" : "WARN";
}

}  // namespace

void add_validate(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("validate", "Check a plugin executable, in any language, against the protocol");
  auto plugin = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("plugin", *plugin, "The plugin executable")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([plugin, json, &exit_code] {
    auto results = check_conformance(*plugin);
    int failed = 0, warned = 0, passed = 0, skipped = 0, not_applicable = 0;
    for (const auto& r : results) {
      if (r.status == CheckResult::pass) ++passed;
      if (r.status == CheckResult::skip) ++skipped;
      if (r.status == CheckResult::na) ++not_applicable;
      if (r.status == CheckResult::fail) (r.weight == Weight::must ? failed : warned) += 1;
    }
    if (*json) {
      Json out{{"plugin", *plugin}, {"passed", passed}, {"failed", failed}, {"warnings", warned},
               {"skipped", skipped}, {"notApplicable", not_applicable}, {"checks", Json::array()}};
      for (const auto& r : results) {
        out["checks"].push_back({{"id", r.id}, {"status", status_word(r)}, {"rule", r.rule},
                                 {"section", r.section}, {"must", r.weight == Weight::must}, {"saw", r.saw}});
      }
      std::cout << out.dump(2) << "\n";
    } else {
      for (const auto& r : results) {
        std::string word = status_word(r);
        std::cout << word << std::string(4 - word.size(), ' ') << "  " << r.id << std::string(r.id.size() < 4 ? 4 - r.id.size() : 0, ' ')
                  << "  " << r.rule << " [protocol.md " << r.section << "]\n";
        if (r.status != CheckResult::pass) std::cout << "           saw: " << r.saw << "\n";
      }
      std::cout << passed << " passed, " << failed << " failed, " << warned << " warnings, " << skipped
                << " skipped" << (not_applicable ? ", " + std::to_string(not_applicable) + " not applicable" : "")
                << "\n";
    }
    // A skipped check (the plugin did not even start) counts as a failure.
    exit_code = failed + skipped > 0 ? exit_failed : exit_ok;
  });
}

}  // namespace plugvisor::cli
