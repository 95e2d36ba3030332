// The HTTP contract package: message JSON forms, the httpHandler description,
// and the first-success chain in the registry's rank order.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/detail/json_schema.hpp"

using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;
using plugvisor::ProviderKind;
namespace http = plugvisor::http;

namespace {

// A handler that answers a fixed status (0: null, "not mine"; -1: throws).
class Fixed final : public http::HttpHandler {
 public:
  Fixed(int status, std::string body) : status_(status), body_(std::move(body)) {}
  http::HandlerReply handle(const http::Request& request) override {
    ++calls;
    if (status_ == -1) throw Error(ErrorCode::timeout, "plugin slow: the call timed out");
    if (status_ == 0) return {};
    return {http::Response{status_, {{"x-path", request.path}}, body_}};
  }
  int calls = 0;

 private:
  int status_;
  std::string body_;
};

// An "external" provider as the manager registers it, reached through a channel.
plugvisor::ProviderEntry external(const std::string& type, const std::string& plugin, std::shared_ptr<Fixed> impl,
                                  int priority = 0) {
  auto description = plugvisor::describe<http::HttpHandler>();
  return plugvisor::ProviderEntry{
      plugvisor::ProviderInfo{"httpHandler", type, plugin, ProviderKind::external, priority, true, nullptr}, nullptr,
      std::make_shared<plugvisor::LocalChannel<http::HttpHandler>>(impl), description};
}

}  // namespace

TEST_CASE("a request round-trips through its JSON form with repeated fields and a binary body", "[http]") {
  http::Request request{"POST", "/items/7", {{"tag", "a"}, {"tag", "b"}, {"q", "x y"}},
                        {{"content-type", "application/octet-stream"}}, std::string("\x00\xff\x10", 3)};
  Json j = request;
  CHECK(j["query"]["tag"] == Json::array({"a", "b"}));
  CHECK(j["bodyBase64"] == "AP8Q");
  CHECK_FALSE(j.contains("body"));
  auto back = j.get<http::Request>();
  CHECK(back.method == "POST");
  // The JSON object keeps the order of one name's values, not of different names.
  CHECK(back.query == http::Fields{{"q", "x y"}, {"tag", "a"}, {"tag", "b"}});
  CHECK(back.body == request.body);
  CHECK(back.header("content-type") == "application/octet-stream");
}

TEST_CASE("a text body travels as body, header names are lower-cased", "[http]") {
  auto response = Json::parse(R"({"status": 201, "headers": {"Content-Type": "text/plain"}, "body": "héllo"})")
                      .get<http::Response>();
  CHECK(response.status == 201);
  CHECK(response.header("content-type") == "text/plain");
  CHECK(Json(response)["body"] == "héllo");
}

TEST_CASE("a response that would split the HTTP stream or has no valid status is refused", "[http]") {
  auto parse = [](const char* text) { return Json::parse(text).get<http::Response>(); };
  CHECK_THROWS_WITH(parse(R"({"status": 200, "headers": {"x": "a\r\nSet-Cookie: evil=1"}})"),
                    Catch::Contains("headers.x holds a byte a header value may not"));
  CHECK_THROWS_WITH(parse(R"({"status": 200, "headers": {"bad name": "v"}})"),
                    Catch::Contains("is not an HTTP token"));
  CHECK_THROWS_WITH(parse(R"({"status": 600})"), Catch::Contains("from 100 to 599"));
  CHECK_THROWS_WITH(parse(R"({"status": "200"})"), Catch::Contains("from 100 to 599"));
  CHECK_THROWS_WITH(parse(R"({"status": 200, "body": "a", "bodyBase64": "YQ=="})"), Catch::Contains("not both"));
  CHECK_THROWS_WITH(parse(R"({"status": 200, "bodyBase64": "YQ="})"), Catch::Contains("not base64"));
  CHECK_THROWS_WITH(parse(R"([1])"), Catch::Contains("must be a JSON object"));
}

TEST_CASE("base64 and UTF-8 checks follow RFC 4648 and RFC 3629", "[http]") {
  for (std::string text : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    CHECK(http::base64_decode(http::base64_encode(text)) == text);
  }
  CHECK(http::base64_encode("foobar") == "Zm9vYmFy");
  CHECK_THROWS_AS(http::base64_decode("Zm9=YmFy"), std::invalid_argument);
  CHECK_THROWS_AS(http::base64_decode("Zm9v!"), std::invalid_argument);
  CHECK(http::valid_utf8("\xe2\x82\xac"));
  CHECK_FALSE(http::valid_utf8("\xc0\xaf"));           // overlong
  CHECK_FALSE(http::valid_utf8("\xed\xa0\x80"));       // surrogate
  CHECK_FALSE(http::valid_utf8("\xe2\x82"));           // truncated
}

TEST_CASE("the httpHandler description carries valid schemas for request and reply", "[http]") {
  auto description = plugvisor::describe<http::HttpHandler>();
  CHECK(description.name == "httpHandler");
  const auto& handle = description.require_method("handle", "test");
  CHECK(handle.input == plugvisor::Encoding::json);
  plugvisor::JsonSchema input(handle.input_schema);
  plugvisor::JsonSchema output(handle.output_schema);
  CHECK(input.validate(Json(http::Request{})).empty());
  CHECK(output.validate(nullptr).empty());
  CHECK(output.validate(Json(http::Response{204, {}, ""})).empty());
  CHECK_FALSE(output.validate(Json::parse(R"({"status": 700})")).empty());
}

TEST_CASE("the chain follows priority then load order and the first 1xx-2xx answer wins", "[http][chain]") {
  plugvisor::Registry registry;
  auto declines = std::make_shared<Fixed>(0, "");
  auto not_found = std::make_shared<Fixed>(404, "nope");
  auto fails = std::make_shared<Fixed>(-1, "");
  auto late = std::make_shared<Fixed>(200, "late");
  auto winner = std::make_shared<Fixed>(200, "winner");
  // Registered in this (load) order; "zz" and "aa" by name would reverse them.
  registry.add(external("zz-declines", "plugin-a", declines, 5));
  registry.add(external("aa-late", "plugin-b", late));
  registry.add(external("mm-404", "plugin-c", not_found, 5));
  registry.add(external("bb-fails", "plugin-d", fails, 5));
  registry.add(external("cc-winner", "plugin-e", winner, 1));

  auto ranked = registry.ranked<http::HttpHandler>();
  REQUIRE(ranked.size() == 5);
  CHECK(ranked[0].type == "zz-declines");
  CHECK(ranked[1].type == "mm-404");
  CHECK(ranked[2].type == "bb-fails");
  CHECK(ranked[3].type == "cc-winner");
  CHECK(ranked[4].type == "aa-late");

  http::HandlerChain chain(registry);
  auto outcome = chain.handle(http::Request{"GET", "/x", {}, {}, ""});
  REQUIRE(outcome.response);
  CHECK(outcome.response->body == "winner");
  CHECK(outcome.handled_by == "plugin-e");
  CHECK(outcome.declined == std::vector<std::string>{"zz-declines: null", "mm-404: 404"});
  REQUIRE(outcome.failures.size() == 1);
  CHECK(outcome.failures[0].provider == "plugin-d");
  CHECK(late->calls == 0);
  CHECK_FALSE(http::failure_response(outcome));
}

TEST_CASE("a chain where nobody answers gives 502 naming the failed plugin, or nothing when none failed", "[http][chain]") {
  plugvisor::Registry registry;
  registry.add(external("declines", "plugin-a", std::make_shared<Fixed>(0, "")));
  http::HandlerChain chain(registry);
  auto quiet = chain.handle(http::Request{});
  CHECK_FALSE(quiet.response);
  CHECK_FALSE(http::failure_response(quiet));

  registry.add(external("slow", "plugin-slow", std::make_shared<Fixed>(-1, "")));
  auto outcome = chain.handle(http::Request{});
  auto failed = http::failure_response(outcome);
  REQUIRE(failed);
  CHECK(failed->status == 504);
  CHECK_THAT(failed->body, Catch::Contains("type 'slow' of plugin-slow (timeout)"));
}
