// Signed plugins (docs/security.md, "Signatures"): Ed25519 keys, PLUGIN.sig
// beside the executable, trusted keys and a policy per plugin directory,
// checked on the descriptor that is executed.
#include <catch2/catch.hpp>
#include <fstream>

#include "plugvisor/daemon.hpp"
#include "plugvisor/manager.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::SignaturePolicy;
using plugvisor::SignatureState;

namespace {

std::string rejection_of(const plugvisor::Manager& manager, const std::string& id) {
  for (const auto& r : manager.rejections()) {
    if (r.path.filename() == id) return r.reason;
  }
  return "";
}

// A plugin directory with one fixture plugin "signed-one", and two key pairs
// in a directory of their own: "trusted" (listed in trusted_keys) and "other".
struct SigningFixture {
  plugvisor::test::TempDir plugins, keys;
  fs::path plugin;
  std::string trusted_id, other_id;
  plugvisor::ManagerOptions options;
  explicit SigningFixture(SignaturePolicy policy) {
    plugin = plugins.add_fixture("signed-one", "normal");
    trusted_id = plugvisor::generate_signing_key(key("trusted.key"), key("trusted.pub"));
    other_id = plugvisor::generate_signing_key(key("other.key"), key("other.pub"));
    options = plugvisor::test::test_options(plugins.path());
    options.trusted_keys = {key("trusted.pub")};
    options.signature_policies[plugins.path()] = policy;
  }
  fs::path key(const std::string& name) const { return keys.path() / name; }
  fs::path signature() const { return plugin.string() + ".sig"; }
};

void append(const fs::path& file, const std::string& text) { std::ofstream(file, std::ios::app) << text; }

}  // namespace

TEST_CASE("a plugin signed by a trusted key runs, and its status names the key", "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::required);
  CHECK(plugvisor::sign_plugin(f.plugin, f.key("trusted.key")) == f.trusted_id);
  plugvisor::Manager manager(f.options);
  REQUIRE(rejection_of(manager, "signed-one").empty());
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("signed") == "signed");
  auto status = manager.plugin("signed-one");
  REQUIRE(status);
  CHECK(status->signature.state == SignatureState::trusted);
  CHECK(status->signature.key_id == f.trusted_id);
  auto json = plugvisor::security_json(*status);
  CHECK(json["signature"]["status"] == "signed");
  CHECK(json["signature"]["keyId"] == f.trusted_id);
  CHECK(json["signature"]["policy"] == "required");
  // The signature file itself is not taken for a plugin.
  CHECK(manager.rejections().empty());
}

TEST_CASE("a binary changed after signing is refused, naming the plugin, the key and both digests",
          "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::optional);  // a bad signature is refused under either policy
  plugvisor::sign_plugin(f.plugin, f.key("trusted.key"));
  const std::string signed_digest = plugvisor::file_sha256(f.plugin);
  append(f.plugin, "# tampered\n");
  plugvisor::Manager manager(f.options);
  CHECK(manager.plugins().empty());
  std::string reason = rejection_of(manager, "signed-one");
  CHECK_THAT(reason, Contains(f.plugin.string()) && Contains("key " + f.trusted_id) && Contains(signed_digest) &&
                         Contains(plugvisor::file_sha256(f.plugin)) && Contains("changed after it was signed") &&
                         Contains("plugvisor sign"));
  CHECK(plugvisor::verify_plugin(f.plugin, {f.key("trusted.pub")}).state == SignatureState::bad);
}

TEST_CASE("a signed plugin changed after registration is not launched", "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::required);
  plugvisor::sign_plugin(f.plugin, f.key("trusted.key"));
  plugvisor::Manager manager(f.options);
  REQUIRE(manager.plugins().size() == 1);
  append(f.plugin, "# changed while registered\n");
  CHECK_THROWS_WITH(manager.registry().get<DataProcessor>("echo")->process_data("x"),
                    Contains("changed after it was signed") && Contains("key " + f.trusted_id));
}

TEST_CASE("a signature by an untrusted key is shown under optional and refused under required", "[sandbox][signing]") {
  SECTION("optional: it runs, shown as untrusted with the key's id") {
    SigningFixture f(SignaturePolicy::optional);
    plugvisor::sign_plugin(f.plugin, f.key("other.key"));
    plugvisor::Manager manager(f.options);
    auto status = manager.plugin("signed-one");
    REQUIRE(status);
    CHECK(status->signature.state == SignatureState::untrusted);
    CHECK(status->signature.key_id == f.other_id);
    CHECK(manager.registry().get<DataProcessor>("echo")->process_data("x") == "x");
  }
  SECTION("required: it is not started, and the reason says how to trust the key") {
    SigningFixture f(SignaturePolicy::required);
    plugvisor::sign_plugin(f.plugin, f.key("other.key"));
    plugvisor::Manager manager(f.options);
    CHECK(manager.plugins().empty());
    CHECK_THAT(rejection_of(manager, "signed-one"), Contains("key " + f.other_id) && Contains("not a trusted key") &&
                                                        Contains("trustedKeys") && Contains("requires a signature"));
  }
}

TEST_CASE("a malformed or truncated signature file is refused, saying what is wrong", "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::optional);
  plugvisor::sign_plugin(f.plugin, f.key("trusted.key"));
  std::string text;
  {
    std::ifstream in(f.signature());
    text.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::vector<std::pair<std::string, std::string>> cases{
      {text.substr(0, text.size() / 2), "truncated?"},
      {"", "first line"},
      {"hello\n", "first line"},
      {text.substr(0, text.size() - 3) + "zz\n", "128 lowercase hex digits"},
      {std::string(5000, 'x'), "larger than 4 KiB"}};
  for (const auto& [content, expected] : cases) {
    INFO(expected);
    std::ofstream(f.signature(), std::ios::trunc) << content;
    plugvisor::Manager manager(f.options);
    CHECK(manager.plugins().empty());
    CHECK_THAT(rejection_of(manager, "signed-one"),
               Contains("signature file " + f.signature().string() + " is malformed") && Contains(expected) &&
                   Contains("Sign the plugin again"));
  }
}

TEST_CASE("a signature cannot be moved to another plugin", "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::required);
  plugvisor::sign_plugin(f.plugin, f.key("trusted.key"));
  // The same content under another name, with the first one's signature.
  auto copy = f.plugins.add_fixture("other-one", "normal");
  fs::copy_file(f.signature(), copy.string() + ".sig");
  plugvisor::Manager manager(f.options);
  REQUIRE(manager.plugins().size() == 1);
  CHECK_THAT(rejection_of(manager, "other-one"), Contains("is for plugin signed-one, not other-one"));
}

TEST_CASE("an unsigned plugin in a directory that requires signatures is not started", "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::required);
  plugvisor::Manager manager(f.options);
  CHECK(manager.plugins().empty());
  CHECK_THAT(rejection_of(manager, "signed-one"),
             Contains(f.plugin.string() + " is not signed") && Contains("plugvisor sign --key"));
  // Under the optional policy it runs, shown as unsigned.
  f.options.signature_policies.clear();
  plugvisor::Manager lax(f.options);
  auto status = lax.plugin("signed-one");
  REQUIRE(status);
  CHECK(status->signature.state == SignatureState::unsigned_plugin);
}

TEST_CASE("a trusted key file that is not a public key is an error naming the file", "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::optional);
  SECTION("not a key at all") {
    std::ofstream(f.key("junk.pub")) << "hello\n";
    f.options.trusted_keys = {f.key("junk.pub")};
    CHECK_THROWS_WITH(plugvisor::Manager(f.options),
                      Contains(f.key("junk.pub").string()) && Contains("holds no PEM key") && Contains("keygen"));
  }
  SECTION("the private key instead of the public one") {
    f.options.trusted_keys = {f.key("trusted.key")};
    CHECK_THROWS_WITH(plugvisor::Manager(f.options),
                      Contains("holds a private key") && Contains("list the public key (the .pub file)"));
  }
  SECTION("a missing file") {
    f.options.trusted_keys = {f.key("absent.pub")};
    CHECK_THROWS_WITH(plugvisor::Manager(f.options), Contains("cannot read the key file " + f.key("absent.pub").string()));
  }
  SECTION("in a configuration file, with its line") {
    std::ofstream(f.key("junk.pub")) << "hello\n";
    std::string text = "{\n  \"pluginDirs\": [\"" + f.plugins.path().string() + "\"],\n  \"trustedKeys\": [\"" +
                       f.key("junk.pub").string() + "\"]\n}\n";
    CHECK_THROWS_WITH(plugvisor::parse_configuration(text, "c.jsonc", f.keys.path(), {}),
                      Contains("c.jsonc:3:") && Contains("trustedKeys[0]") && Contains("holds no PEM key"));
  }
  SECTION("a signing key that is a public key") {
    CHECK_THROWS_WITH(plugvisor::sign_plugin(f.plugin, f.key("trusted.pub")),
                      Contains("holds a public key, not an Ed25519 private key"));
  }
}

TEST_CASE("the configuration reads trusted keys and a signature policy per plugin directory", "[sandbox][signing]") {
  SigningFixture f(SignaturePolicy::optional);
  std::string text = "{\n  \"pluginDirs\": [\"" + f.plugins.path().string() + "\"],\n  \"trustedKeys\": [\"trusted.pub\"],\n"
                     "  \"signatures\": {\"" + f.plugins.path().string() + "\": \"required\"}\n}\n";
  auto config = plugvisor::parse_configuration(text, "c.jsonc", f.keys.path(), {});
  CHECK(config.manager.trusted_keys == std::vector<fs::path>{f.key("trusted.pub")});
  CHECK(config.manager.signature_policies.at(f.plugins.path()) == SignaturePolicy::required);
  auto json = plugvisor::configuration_json(config);
  CHECK(json["signatures"][f.plugins.path().string()] == "required");

  std::string unknown = "{\n  \"pluginDirs\": [\"" + f.plugins.path().string() + "\"],\n"
                        "  \"signatures\": {\"/nowhere\": \"required\"}\n}\n";
  CHECK_THROWS_WITH(plugvisor::parse_configuration(unknown, "c.jsonc", f.keys.path(), {}),
                    Contains("c.jsonc:3:") && Contains("/nowhere is not a plugin directory"));
  std::string bad = "{\n  \"pluginDirs\": [\"" + f.plugins.path().string() + "\"],\n"
                    "  \"signatures\": {\"" + f.plugins.path().string() + "\": \"always\"}\n}\n";
  CHECK_THROWS_WITH(plugvisor::parse_configuration(bad, "c.jsonc", f.keys.path(), {}),
                    Contains("must be \"optional\" or \"required\", not \"always\""));
}
