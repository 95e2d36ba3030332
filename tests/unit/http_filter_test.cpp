// The httpFilter contract's pure parts (JSON forms, applying changes, the
// batch, path patterns) and FilterChain's rules with in-process filters.
// The same chain with real plugin processes: tests/integration/proxy_test.cpp.
#include <atomic>

#include <catch2/catch.hpp>

#include "plugvisor/contracts/http.hpp"

using namespace plugvisor;
using namespace plugvisor::http;

namespace {

FilterResult parse(std::string_view text) { return Json::parse(text).get<FilterResult>(); }

// An in-process filter that counts its calls and does what it is told.
class Scripted final : public HttpFilterPlugin {
 public:
  std::atomic<int> calls{0};
  std::function<FilterResult(Hook, const FilterInput&)> on;

  FilterResult request_headers(const FilterInput& in) override { return run(Hook::request_headers, in); }
  FilterResult request_body(const FilterInput& in) override { return run(Hook::request_body, in); }
  FilterResult generate_response(const FilterInput& in) override { return run(Hook::generate_response, in); }
  FilterResult response_headers(const FilterInput& in) override { return run(Hook::response_headers, in); }
  FilterResult response_body(const FilterInput& in) override { return run(Hook::response_body, in); }

 private:
  FilterResult run(Hook hook, const FilterInput& in) {
    ++calls;
    return on ? on(hook, in) : FilterResult{};
  }
};

FilterInput input_for(std::string path) {
  FilterInput input;
  input.request.path = std::move(path);
  input.request.headers = {{"host", "example"}, {"x-a", "1"}};
  input.request.body = "body";
  return input;
}

}  // namespace

TEST_CASE("a filter result round-trips through JSON and an empty one is {}", "[http][filter]") {
  FilterResult result;
  result.request.headers.set = {{"x-a", "1"}};
  result.request.headers.remove = {"x-b"};
  result.response.status = 201;
  result.response.body = std::string("\xff\x00", 2);
  Json j = result;
  CHECK(j["response"].contains("bodyBase64"));
  FilterResult back = j.get<FilterResult>();
  CHECK(back.request.headers.set == result.request.headers.set);
  CHECK(back.request.headers.remove == result.request.headers.remove);
  CHECK(back.response.status == 201);
  CHECK(back.response.body == result.response.body);
  CHECK(Json(FilterResult{}).dump() == "{}");
  CHECK_FALSE(parse("null").respond);
}

TEST_CASE("malformed filter results are refused with a message naming the member", "[http][filter]") {
  CHECK_THROWS_WITH(parse(R"({"request": 5})"), Catch::Contains("request must be an object"));
  CHECK_THROWS_WITH(parse(R"({"requests": {}})"), Catch::Contains("no member \"requests\""));
  CHECK_THROWS_WITH(parse(R"({"response": {"status": 99}})"), Catch::Contains("from 100 to 599"));
  CHECK_THROWS_WITH(parse(R"({"request": {"headers": {"set": {"x-a": "1\r\nInjected: yes"}}}})"),
                    Catch::Contains("request.headers.set.x-a"));
  CHECK_THROWS_WITH(parse(R"({"request": {"headers": {"remove": ["bad name"]}}})"),
                    Catch::Contains("not an HTTP header name"));
  CHECK_THROWS_WITH(parse(R"({"response": {"body": "a", "bodyBase64": "YQ=="}})"), Catch::Contains("not both"));
  CHECK_THROWS_WITH(parse(R"({"respond": {"status": 1000}})"), Catch::Contains("status"));
}

TEST_CASE("a result may change only what its hooks may", "[http][filter]") {
  FilterResult body_change;
  body_change.response.body = "x";
  CHECK_THROWS_WITH(check_result_fits(body_change, {Hook::response_headers}), Catch::Contains("only responseBody"));
  CHECK_NOTHROW(check_result_fits(body_change, {Hook::response_body}));
  FilterResult respond;
  respond.respond = Response{};
  CHECK_THROWS_AS(check_result_fits(respond, {Hook::request_headers}), Error);
  CHECK_NOTHROW(check_result_fits(respond, {Hook::request_headers, Hook::generate_response}));
}

TEST_CASE("header changes apply in the order remove, set, add", "[http][filter]") {
  Request request;
  request.headers = {{"x-a", "1"}, {"x-a", "2"}, {"x-b", "b"}, {"x-c", "c"}};
  RequestChanges changes;
  changes.headers.remove = {"x-c"};
  changes.headers.set = {{"x-a", "only"}};
  changes.headers.add = {{"x-b", "b2"}};
  changes.body = "new";
  apply(changes, request);
  CHECK(request.headers == Fields{{"x-b", "b"}, {"x-a", "only"}, {"x-b", "b2"}});
  CHECK(request.body == "new");
}

TEST_CASE("batch runs hooks in order, each on the result of the one before, and combines the changes", "[http][filter]") {
  Scripted filter;
  filter.on = [](Hook hook, const FilterInput& in) {
    FilterResult result;
    if (hook == Hook::request_headers) result.request.headers.add = {{"x-step", "1"}};
    if (hook == Hook::request_body) {
      // Sees the first hook's change.
      result.request.body = in.request.body + (in.request.header("x-step") ? "+saw-step" : "+blind");
      result.request.headers.remove = {"x-a"};
    }
    return result;
  };
  FilterInput input = input_for("/");
  input.hooks = {"requestHeaders", "requestBody"};
  FilterResult combined = filter.batch(input);
  Request request = input.request;
  apply(combined.request, request);
  CHECK(request.body == "body+saw-step");
  CHECK(request.header("x-step") == "1");
  CHECK_FALSE(request.header("x-a"));
}

TEST_CASE("path patterns match with * and ? and never backtrack exponentially", "[http][filter]") {
  CHECK(path_matches("/api/*", "/api/users/1"));
  CHECK(path_matches("*", "/"));
  CHECK(path_matches("/v?/x", "/v1/x"));
  CHECK_FALSE(path_matches("/api/*", "/apx/users"));
  CHECK_FALSE(path_matches("/a", "/ab"));
  CHECK(path_matches("/*.js", "/static/app.js"));
  CHECK_FALSE(path_matches("/*a*a*a*a*a*a*a*a*b", std::string(5000, 'a')));
}

TEST_CASE("filter_description lists only the declared hooks, with ping and batch", "[http][filter]") {
  auto description = filter_description({Hook::generate_response});
  std::vector<std::string> names;
  for (const auto& method : description.methods) names.push_back(method.name);
  CHECK(names == std::vector<std::string>{"ping", "generateResponse", "batch"});
  CHECK(HookSet{Hook::request_body, Hook::response_headers}.names() == "requestBody, responseHeaders");
}

TEST_CASE("a request no filter selects costs no filter call", "[http][filter][chain]") {
  Registry registry;
  auto api = std::make_shared<Scripted>();
  registry.add_internal<HttpFilter>("api-only", api);
  FilterChain chain(registry, {FilterSpec{.type = "api-only", .paths = {"/api/*"}}});
  FilterSelection selection = chain.select("/static/x");
  CHECK(selection.empty());
  FilterInput input = input_for("/static/x");
  chain.on_request(selection, input);
  Response response;
  chain.on_response(selection, input, response);
  CHECK(api->calls == 0);
  CHECK_FALSE(chain.select("/api/x").empty());
}

TEST_CASE("filters run by priority in the request phase and in reverse in the response phase", "[http][filter][chain]") {
  Registry registry;
  std::vector<std::string> order;
  std::mutex mutex;
  auto make = [&](std::string name) {
    auto filter = std::make_shared<Scripted>();
    filter->on = [&, name](Hook hook, const FilterInput&) {
      std::lock_guard lock(mutex);
      order.push_back(name + ":" + std::string(to_string(hook)));
      return FilterResult{};
    };
    return filter;
  };
  registry.add_internal<HttpFilter>("low", make("low"));
  registry.add_internal<HttpFilter>("high", make("high"));
  FilterChain chain(registry, {FilterSpec{.type = "low", .priority = 1, .hooks = HookSet{Hook::request_headers, Hook::response_headers}},
                               FilterSpec{.type = "high", .priority = 9, .hooks = HookSet{Hook::request_headers, Hook::response_headers}}});
  FilterInput input = input_for("/");
  auto selection = chain.select("/");
  chain.on_request(selection, input);
  Response response;
  chain.on_response(selection, input, response);
  CHECK(order == std::vector<std::string>{"high:requestHeaders", "low:requestHeaders", "low:responseHeaders",
                                          "high:responseHeaders"});
}

TEST_CASE("a failing filter is skipped fail-open, answers 502 fail-closed, and its circuit opens after the threshold", "[http][filter][chain]") {
  Registry registry;
  auto broken = std::make_shared<Scripted>();
  broken->on = [](Hook, const FilterInput&) -> FilterResult { throw Error(ErrorCode::crashed, "it died"); };
  registry.add_internal<HttpFilter>("broken", broken);
  FilterChain chain(registry, {FilterSpec{.type = "broken", .hooks = HookSet{Hook::request_headers}, .paths = {"/open/*"}},
                               FilterSpec{.type = "broken", .hooks = HookSet{Hook::request_headers}, .paths = {"/closed/*"},
                                          .failure = FailureMode::fail_closed, .breaker_failures = 2,
                                          .breaker_cool_down = std::chrono::hours(1)}});
  FilterInput open = input_for("/open/x");
  auto verdict = chain.on_request(chain.select("/open/x"), open);
  CHECK_FALSE(verdict.respond);
  REQUIRE(verdict.failures.size() == 1);
  CHECK(verdict.failures[0].code == ErrorCode::crashed);

  for (int i = 0; i < 2; ++i) {
    FilterInput closed = input_for("/closed/x");
    auto v = chain.on_request(chain.select("/closed/x"), closed);
    REQUIRE(v.respond);
    CHECK(v.respond->status == 502);
    CHECK(v.closed);
    CHECK_THAT(v.respond->body, Catch::Contains("filter 'broken' (fail-closed) failed (crashed): it died"));
  }
  int before = broken->calls;
  FilterInput closed = input_for("/closed/x");
  auto v = chain.on_request(chain.select("/closed/x"), closed);
  REQUIRE(v.respond);
  CHECK(v.respond->status == 503);
  CHECK(v.respond->header("retry-after"));
  CHECK(broken->calls == before);  // the open circuit made no call
}

TEST_CASE("a chain refuses a hook its provider does not implement, naming both", "[http][filter][chain]") {
  Registry registry;
  CHECK_THROWS_WITH(FilterChain(registry, {FilterSpec{.type = "nope"}}), Catch::Contains("no httpFilter provider of type 'nope'"));
  registry.add_internal<HttpFilter>("any", std::make_shared<Scripted>());
  CHECK_THROWS_WITH(FilterChain(registry, {FilterSpec{.type = "any", .paths = {"api"}}}), Catch::Contains("must start with '/'"));
  CHECK_THROWS_WITH(FilterChain(registry, {FilterSpec{.type = "any", .timeout = std::chrono::milliseconds(0)}}),
                    Catch::Contains("timeout must be above zero"));
}

TEST_CASE("select() picks the filters whose patterns match, exactly as path_matches does", "[http][filter][chain]") {
  Registry registry;
  registry.add_internal<HttpFilter>("any", std::make_shared<Scripted>());
  const std::vector<std::string> patterns{"/exact", "/api/*", "*", "/v?/x", "/*.js", "/a*b*c", "*/end", "/"};
  const std::vector<std::string> paths{"/",        "/exact",    "/exact/",   "/exac",       "/api/",  "/api",
                                       "/api/x/y", "/v1/x",     "/v12/x",    "/static/a.js", "/a.jsx", "/abc",
                                       "/axbyc",   "/a/b/c/d",  "/x/end",    "/end",        ""};
  for (const auto& pattern : patterns) {
    FilterChain chain(registry, {FilterSpec{.type = "any", .paths = {pattern}}});
    for (const auto& path : paths) {
      INFO("pattern " << pattern << ", path " << path);
      CHECK(chain.select(path).empty() == !path_matches(pattern, path));
    }
  }
}

TEST_CASE("a header hook is sent no body, and the request keeps its body whether the filter succeeds or fails", "[http][filter][chain]") {
  Registry registry;
  auto tagger = std::make_shared<Scripted>();
  std::vector<std::string> bodies_seen;
  bool fail = false;
  tagger->on = [&](Hook hook, const FilterInput& in) {
    bodies_seen.push_back(in.request.body + "|" + (in.response ? in.response->body : "-"));
    if (fail) throw Error(ErrorCode::crashed, "it died");
    FilterResult result;
    if (hook == Hook::request_headers) result.request.headers.set.emplace_back("x-tag", "on");
    if (hook == Hook::response_headers) result.response.headers.set.emplace_back("x-seen", "yes");
    return result;
  };
  registry.add_internal<HttpFilter>("tagger", tagger);
  FilterChain chain(registry, {FilterSpec{.type = "tagger", .hooks = HookSet{Hook::request_headers, Hook::response_headers}}});
  for (bool failing : {false, true}) {
    fail = failing;
    bodies_seen.clear();
    FilterInput input = input_for("/x");
    auto verdict = chain.on_request(chain.select("/x"), input);
    Response response{200, {{"content-type", "text/plain"}}, "upstream body"};
    auto failures = chain.on_response(chain.select("/x"), input, response);
    CHECK(bodies_seen == std::vector<std::string>{"|-", "|"});  // neither body travels to a header hook
    CHECK(input.request.body == "body");
    CHECK(response.body == "upstream body");
    CHECK(response.status == 200);
    CHECK(input.request.header("x-tag").has_value() == !failing);
    CHECK(response.header("x-seen").has_value() == !failing);
    CHECK(response.header("content-type") == std::optional<std::string_view>("text/plain"));
    CHECK(verdict.failures.size() + failures.size() == (failing ? 2u : 0u));
  }
}

TEST_CASE("a body hook is sent the body and its replacement is kept", "[http][filter][chain]") {
  Registry registry;
  auto upper = std::make_shared<Scripted>();
  upper->on = [](Hook hook, const FilterInput& in) {
    FilterResult result;
    if (hook == Hook::request_body) result.request.body = in.request.body + "!";
    if (hook == Hook::response_body) result.response.body = in.response->body + "?";
    return result;
  };
  registry.add_internal<HttpFilter>("bodies", upper);
  FilterChain chain(registry, {FilterSpec{.type = "bodies", .hooks = HookSet{Hook::request_body, Hook::response_body}}});
  FilterInput input = input_for("/x");
  chain.on_request(chain.select("/x"), input);
  CHECK(input.request.body == "body!");
  Response response{200, {}, "answer"};
  chain.on_response(chain.select("/x"), input, response);
  CHECK(response.body == "answer?");
}

TEST_CASE("a request or response part that is not UTF-8 is answered 400 or 502 naming it, and no filter is called", "[http][filter][chain]") {
  // The JSON forms carry heads as strings: such a part cannot reach a plugin.
  Registry registry;
  auto tagger = std::make_shared<Scripted>();
  registry.add_internal<HttpFilter>("tagger", tagger);
  FilterChain chain(registry, {FilterSpec{.type = "tagger", .hooks = HookSet{Hook::request_headers, Hook::response_headers},
                                          .paths = {"/f/*"}}});
  struct Case {
    std::function<void(Request&)> spoil;
    std::string named;
  };
  const std::vector<Case> cases{{[](Request& r) { r.headers.emplace_back("x-latin", "caf\xe9"); }, "header 'x-latin'"},
                                {[](Request& r) { r.headers.emplace_back("x-\xff", "v"); }, "a header name"},
                                {[](Request& r) { r.path = "/f/\xc3"; }, "the path"},
                                {[](Request& r) { r.query.emplace_back("q", "\xed\xa0\x80"); }, "query parameter 'q'"}};
  for (const auto& c : cases) {
    FilterInput input = input_for("/f/x");
    c.spoil(input.request);
    auto verdict = chain.on_request(chain.select("/f/x"), input);
    REQUIRE(verdict.respond);
    CHECK(verdict.closed);
    CHECK(verdict.respond->status == 400);
    CHECK_THAT(verdict.respond->body, Catch::Contains(c.named) && Catch::Contains("not UTF-8"));
  }
  CHECK(tagger->calls == 0);

  // The same bytes on a path no filter selects pass untouched (the bypass).
  FilterInput bypassed = input_for("/other");
  bypassed.request.headers.emplace_back("x-latin", "caf\xe9");
  CHECK_FALSE(chain.on_request(chain.select("/other"), bypassed).respond);

  // An upstream's header: 502 before any response hook; then a good one is filtered again.
  FilterInput input = input_for("/f/x");
  Response response{200, {{"x-upstream", "\xfe"}}, "body"};
  CHECK(chain.on_response(chain.select("/f/x"), input, response).empty());
  CHECK(response.status == 502);
  CHECK_THAT(response.body, Catch::Contains("header 'x-upstream'"));
  CHECK(tagger->calls == 0);
  Response good{200, {{"x-upstream", "ok"}}, "body"};
  chain.on_response(chain.select("/f/x"), input, good);
  CHECK(good.status == 200);
  CHECK(tagger->calls == 1);
}
