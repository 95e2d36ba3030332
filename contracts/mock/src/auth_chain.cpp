// AuthChain: several authenticators composed, first decisive or all must pass.
#include "plugvisor/contracts/mock.hpp"

namespace plugvisor::mock {

AuthChain::AuthChain(const Registry& registry, std::vector<std::string> types, AuthMode mode)
    : registry_(registry), types_(std::move(types)), mode_(mode) {}

std::optional<AuthMode> auth_mode_from_string(std::string_view text) noexcept {
  if (text == "first") return AuthMode::first_decisive;
  if (text == "all") return AuthMode::all_must_pass;
  return std::nullopt;
}

AuthVerdict AuthChain::authenticate(const AuthRequest& request) const {
  std::vector<Provided<Authenticator>> chain;
  if (types_.empty()) {
    chain = registry_.ranked<Authenticator>();
  } else {
    for (const auto& type : types_) {
      auto object = registry_.get<Authenticator>(type);  // Error(not_found) names the types there are
      auto info = registry_.active("authenticator", type);
      chain.push_back(Provided<Authenticator>{type, info ? info->provider : "internal", std::move(object)});
    }
  }
  AuthVerdict verdict;
  std::vector<std::string> abstained;
  for (const auto& auth : chain) {
    AuthResult result;
    try {
      result = auth.object->authenticate(request);
    } catch (const Error& e) {
      throw Error(e.code(), "authenticator type '" + auth.type + "' of " + auth.provider + " failed: " + e.what());
    }
    using Decision = AuthResult::Decision;
    if (result.decision == Decision::allow) {
      if (verdict.principal.empty()) verdict.principal = result.principal;
      for (const auto& [key, value] : result.claims.items()) {
        if (!verdict.claims.contains(key)) verdict.claims[key] = value;
      }
      verdict.decided_by = auth.type;
      if (mode_ == AuthMode::first_decisive) {
        verdict.allowed = true;
        return verdict;
      }
      continue;
    }
    if (result.decision == Decision::deny) {
      return AuthVerdict{false, "", Json::object(),
                         auth.type + ": " + (result.reason.empty() ? std::string("denied") : result.reason), auth.type};
    }
    abstained.push_back(auth.type + (result.reason.empty() ? "" : " (" + result.reason + ")"));
    if (mode_ == AuthMode::all_must_pass) {
      return AuthVerdict{false, "", Json::object(), abstained.back() + " did not recognize the credentials", auth.type};
    }
  }
  if (mode_ == AuthMode::all_must_pass && !chain.empty()) {
    verdict.allowed = true;
    return verdict;
  }
  std::string reason = chain.empty() ? "no authenticator is available" : "no authenticator recognized the credentials";
  for (std::size_t i = 0; i < abstained.size(); ++i) reason += (i ? ", " : ": ") + abstained[i];
  return AuthVerdict{false, "", Json::object(), reason, ""};
}

}  // namespace plugvisor::mock
