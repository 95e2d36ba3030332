// The mock contract package: auth composition, template tags, generator choice.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "plugvisor/contracts/mock.hpp"

using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;
namespace http = plugvisor::http;
namespace mock = plugvisor::mock;

namespace {

class FixedAuth final : public mock::Authenticator {
 public:
  FixedAuth(mock::AuthResult::Decision decision, std::string principal, Json claims = Json::object())
      : decision_(decision), principal_(std::move(principal)), claims_(std::move(claims)) {}
  mock::AuthResult authenticate(const mock::AuthRequest&) override {
    if (principal_ == "!fail") throw Error(ErrorCode::crashed, "plugin auth-x crashed");
    return {decision_, principal_, claims_, principal_ + " says so"};
  }

 private:
  mock::AuthResult::Decision decision_;
  std::string principal_;
  Json claims_;
};

class Functions final : public mock::TemplateFunctions {
 public:
  std::vector<mock::TemplateFunction> functions() override {
    return {{"upper", {{"text", "the text", true}}, "upper-cases"}, {"add", {{"a", "", true}, {"b", "", true}}, "adds"}};
  }
  Json call(const mock::TemplateCall& call) override {
    if (call.function == "upper") {
      if (call.arguments.size() != 1) throw Error(ErrorCode::invalid_input, "upper takes one argument");
      std::string out = call.arguments[0];
      for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return out;
    }
    return std::stoi(call.arguments.at(0)) + std::stoi(call.arguments.at(1));
  }
};

class Generator final : public mock::ResponseGenerator {
 public:
  Generator(bool can, int priority, std::string body) : can_(can), priority_(priority), body_(std::move(body)) {}
  mock::GeneratorOffer can_handle(const http::Request&) override { return {can_, priority_}; }
  http::Response generate(const http::Request&) override { return {200, {}, body_}; }

 private:
  bool can_;
  int priority_;
  std::string body_;
};

using Decision = mock::AuthResult::Decision;

}  // namespace

TEST_CASE("first-decisive auth skips abstentions and takes the first allow or deny", "[mock][auth]") {
  plugvisor::Registry registry;
  registry.add_internal<mock::Authenticator>("abstains", std::make_shared<FixedAuth>(Decision::abstain, "nobody"));
  registry.add_internal<mock::Authenticator>("allows", std::make_shared<FixedAuth>(Decision::allow, "ada", Json{{"role", "admin"}}));
  registry.add_internal<mock::Authenticator>("denies", std::make_shared<FixedAuth>(Decision::deny, "bob"));

  auto allowed = mock::AuthChain(registry, {"abstains", "allows", "denies"}, mock::AuthMode::first_decisive).authenticate({});
  CHECK(allowed.allowed);
  CHECK(allowed.principal == "ada");
  CHECK(allowed.claims["role"] == "admin");
  CHECK(allowed.decided_by == "allows");

  auto denied = mock::AuthChain(registry, {"denies", "allows"}, mock::AuthMode::first_decisive).authenticate({});
  CHECK_FALSE(denied.allowed);
  CHECK(denied.reason == "denies: bob says so");

  auto nobody = mock::AuthChain(registry, {"abstains"}, mock::AuthMode::first_decisive).authenticate({});
  CHECK_FALSE(nobody.allowed);
  CHECK_THAT(nobody.reason, Catch::Contains("no authenticator recognized the credentials: abstains"));
}

TEST_CASE("all-must-pass auth needs every allow and merges their claims", "[mock][auth]") {
  plugvisor::Registry registry;
  registry.add_internal<mock::Authenticator>("key", std::make_shared<FixedAuth>(Decision::allow, "key-1", Json{{"a", 1}}));
  registry.add_internal<mock::Authenticator>("jwt", std::make_shared<FixedAuth>(Decision::allow, "ada", Json{{"a", 2}, {"b", 3}}));
  registry.add_internal<mock::Authenticator>("abstains", std::make_shared<FixedAuth>(Decision::abstain, "x"));
  auto both = mock::AuthChain(registry, {"key", "jwt"}, mock::AuthMode::all_must_pass).authenticate({});
  CHECK(both.allowed);
  CHECK(both.principal == "key-1");
  CHECK(both.claims == Json{{"a", 1}, {"b", 3}});
  auto one_abstains = mock::AuthChain(registry, {"key", "abstains"}, mock::AuthMode::all_must_pass).authenticate({});
  CHECK_FALSE(one_abstains.allowed);
  CHECK_THAT(one_abstains.reason, Catch::Contains("abstains (x says so) did not recognize the credentials"));
}

TEST_CASE("an authenticator that fails or does not exist never allows: the error names it", "[mock][auth]") {
  plugvisor::Registry registry;
  registry.add_internal<mock::Authenticator>("broken", std::make_shared<FixedAuth>(Decision::allow, "!fail"));
  mock::AuthChain chain(registry, {"broken"}, mock::AuthMode::first_decisive);
  CHECK_THROWS_WITH(chain.authenticate({}), Catch::Contains("authenticator type 'broken' of internal failed"));
  mock::AuthChain missing(registry, {"nope"}, mock::AuthMode::first_decisive);
  CHECK_THROWS_AS(missing.authenticate({}), Error);
  CHECK(mock::auth_mode_from_string("all") == mock::AuthMode::all_must_pass);
  CHECK_FALSE(mock::auth_mode_from_string("any"));
}

TEST_CASE("template tags call functions with quoted arguments and keep literal text", "[mock][templates]") {
  plugvisor::Registry registry;
  registry.add_internal<mock::TemplateFunctions>("text", std::make_shared<Functions>());
  mock::Templates templates(registry);
  CHECK(templates.render(R"(Hi {{upper "ada lovelace"}}, {{ add 2 3 }}! {{{{literal}})") == "Hi ADA LOVELACE, 5! {{literal}}");
  CHECK(templates.render_json(Json{{"n", "{{add 1 1}}"}, {"s", "n={{add 1 1}}"}}) == Json{{"n", 2}, {"s", "n=2"}});
  auto calls = mock::Templates::parse(R"(a {{upper "x \"y\""}} b)");
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].arguments == std::vector<std::string>{"x \"y\""});
}

TEST_CASE("a tag naming an unknown function, with bad arguments or malformed says which", "[mock][templates]") {
  plugvisor::Registry registry;
  registry.add_internal<mock::TemplateFunctions>("text", std::make_shared<Functions>());
  mock::Templates templates(registry);
  CHECK_THROWS_WITH(templates.render("x {{nope 1}}"),
                    Catch::Contains("template tag {{nope 1}}: no template function 'nope' (known: add (text), upper (text))"));
  CHECK_THROWS_WITH(templates.render("{{upper}}"),
                    Catch::Contains("function 'upper' of templateFunctions type 'text' (internal) refused its arguments: "
                                    "upper takes one argument"));
  CHECK_THROWS_WITH(templates.render("{{upper \"open"), Catch::Contains("a quoted argument is not closed"));
  CHECK_THROWS_WITH(templates.render("{{upper x"), Catch::Contains("no closing }}"));
  CHECK_THROWS_WITH(templates.render("{{ }}"), Catch::Contains("no function name"));
}

TEST_CASE("the generator with the highest offer generates, ties by rank order", "[mock][generator]") {
  plugvisor::Registry registry;
  registry.add_internal<mock::ResponseGenerator>("low", std::make_shared<Generator>(true, 1, "low"));
  registry.add_internal<mock::ResponseGenerator>("cannot", std::make_shared<Generator>(false, 99, "cannot"));
  registry.add_internal<mock::ResponseGenerator>("high", std::make_shared<Generator>(true, 5, "high"));
  registry.add_internal<mock::ResponseGenerator>("high-later", std::make_shared<Generator>(true, 5, "later"));
  auto outcome = mock::GeneratorChain(registry).generate({});
  REQUIRE(outcome.response);
  CHECK(outcome.response->body == "high");
  CHECK(outcome.type == "high");
}

TEST_CASE("the mock contracts describe themselves with valid schemas", "[mock]") {
  CHECK(plugvisor::describe<mock::Authenticator>().name == "authenticator");
  CHECK(plugvisor::describe<mock::TemplateFunctions>().method("call") != nullptr);
  CHECK(plugvisor::describe<mock::ResponseGenerator>().method("canHandle") != nullptr);
  CHECK(plugvisor::describe<mock::DataSource>().method("query")->input_schema.is_object());
  // Round trip of the description through its JSON form checks every schema.
  for (const auto& d : {plugvisor::describe<mock::Authenticator>(), plugvisor::describe<mock::TemplateFunctions>(),
                        plugvisor::describe<mock::ResponseGenerator>(), plugvisor::describe<mock::DataSource>()}) {
    CHECK(plugvisor::ContractDescription::from_json(d.name, d.to_json()) == d);
  }
}
