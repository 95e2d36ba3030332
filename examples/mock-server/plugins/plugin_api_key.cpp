// plugin-api-key: an authenticator for API keys (X-Api-Key header, or the
// header a route's auth settings name). Keys come from config type
// mock.apiKeys ({"keys": {"KEY": "principal"}}); the manager checks the data
// against the schema below before the plugin starts.
//
// Abstains when the request carries no key (another authenticator may
// decide); denies an unknown key; allows a known one with its principal.
#include <map>
#include <memory>

#include "plugvisor/contracts/mock.hpp"
#include "plugvisor/sdk.hpp"

namespace {

namespace mock = plugvisor::mock;

// Compares in time that depends on the lengths only, not on where they differ.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

class ApiKeys final : public mock::Authenticator {
 public:
  explicit ApiKeys(std::map<std::string, std::string> keys) : keys_(std::move(keys)) {}

  mock::AuthResult authenticate(const mock::AuthRequest& request) override {
    std::string header = "x-api-key";
    if (auto it = request.settings.find("header"); it != request.settings.end() && it->is_string()) {
      header = it->get<std::string>();
      for (auto& c : header) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    auto key = request.request.header(header);
    if (!key) return {mock::AuthResult::Decision::abstain, "", plugvisor::Json::object(), "no " + header + " header"};
    for (const auto& [known, principal] : keys_) {
      if (same_secret(*key, known)) {
        return {mock::AuthResult::Decision::allow, principal, {{"authenticatedBy", "apiKey"}}, ""};
      }
    }
    return {mock::AuthResult::Decision::deny, "", plugvisor::Json::object(), "unknown API key in " + header};
  }

 private:
  std::map<std::string, std::string> keys_;
};

}  // namespace

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin({.name = "api-key", .version = "1.0.0", .description = "API-key authenticator"});
  plugin.config_type("mock.apiKeys", plugvisor::Json::parse(R"({"type": "object", "required": ["keys"],
      "properties": {"keys": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1},
                              "propertyNames": {"minLength": 8}}},
      "additionalProperties": false})"));
  plugin.provide<mock::Authenticator>(
      "apiKey",
      [](const plugvisor::sdk::Config& config) {
        std::map<std::string, std::string> keys;
        const auto& data = config.data("mock.apiKeys");
        if (data.is_object() && data.contains("keys")) data.at("keys").get_to(keys);
        return std::make_shared<ApiKeys>(std::move(keys));
      },
      {.description = "API keys from config type mock.apiKeys, in X-Api-Key (or the header settings.header names)"});
  return plugin.run(argc, argv);
}
