// How a plugin's integrity and sandbox are shown: one JSON for `list --json`,
// the admin API and the dashboard.
#include "plugvisor/manager.hpp"

namespace plugvisor {

Json sandbox_json(const std::vector<SandboxMechanism>& mechanisms) {
  Json out = Json::array();
  for (const auto& m : mechanisms) {
    out.push_back({{"what", m.what}, {"mechanism", m.mechanism}, {"enforced", m.enforced}, {"note", m.note}});
  }
  return out;
}

Json security_json(const PluginStatus& status) {
  auto or_null = [](const std::optional<Permissions>& p) { return p ? permissions_json(*p) : Json(nullptr); };
  return {{"sha256", status.sha256},
          {"pinned", !status.settings.sha256.empty()},
          {"signature", [&] {
             Json signature = signature_json(status.signature);
             signature["policy"] = std::string(to_string(status.signature_policy));
             return signature;
           }()},
          {"sandboxed", status.settings.grant.has_value()},
          {"enforce", std::string(to_string(status.settings.enforce))},
          {"declared", or_null(status.capabilities.permissions)},
          {"granted", or_null(status.settings.grant)},
          {"effective", or_null(status.effective)},
          {"mechanisms", sandbox_json(status.sandbox)}};
}

}  // namespace plugvisor
