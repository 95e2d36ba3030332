// JSON Schema validator (contracts/include/plugvisor/detail/json_schema.hpp):
// hostile schemas and instances, invalid schemas, violation paths and messages.
// The keyword semantics are covered by the official suite (tests/json_schema/).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "plugvisor/detail/json_schema.hpp"

using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;
using plugvisor::JsonSchema;

namespace {

// The message of the Error that compiling `schema` throws ("" if it compiles).
std::string compile_error(const Json& schema) {
  try {
    JsonSchema compiled(schema);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::config);
    return e.what();
  }
  return "";
}

// [[[...[]...]]], `depth` arrays deep, built without recursion.
Json nested_arrays(std::size_t depth) {
  Json value = Json::array();
  for (std::size_t i = 1; i < depth; ++i) {
    Json outer = Json::array();
    outer.push_back(std::move(value));
    value = std::move(outer);
  }
  return value;
}

}  // namespace

TEST_CASE("a schema nesting deeper than 64 levels is rejected at compile time", "[unit][json_schema][hostile]") {
  auto nested = [](int depth) {
    Json schema = {{"type", "string"}};
    for (int i = 0; i < depth; ++i) schema = Json{{"properties", {{"a", std::move(schema)}}}};
    return schema;
  };
  CHECK(compile_error(nested(64)).empty());
  std::string error = compile_error(nested(65));
  CHECK_THAT(error, Catch::Contains("deeper than 64 levels"));
  CHECK_THAT(error, Catch::Contains("/properties/a/properties/a"));
}

TEST_CASE("a $ref cycle that never descends into the instance is rejected at compile time", "[unit][json_schema][hostile]") {
  CHECK_THAT(compile_error({{"$ref", "#"}}), Catch::Contains("cycle"));
  CHECK_THAT(compile_error(Json::parse(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},
                                           "$ref":"#/definitions/a",
                                           "definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/a"}}})")),
             Catch::Contains("cycle"));
  CHECK_THAT(compile_error(Json::parse(R"({"allOf":[{"not":{"$ref":"#"}}]})")), Catch::Contains("cycle"));
  // Refs into a location draft-07 does not know ("$defs") still resolve by JSON Pointer.
  CHECK_THAT(compile_error(Json::parse(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})")),
             Catch::Contains("#/$defs/a -> #/$defs/b -> #/$defs/a"));
  // Through an applicator that descends, recursion is fine.
  CHECK(compile_error(Json::parse(R"({"properties":{"child":{"$ref":"#"}}})")).empty());
}

TEST_CASE("an instance deeper than validation follows is a violation, not a crash", "[unit][json_schema][hostile]") {
  JsonSchema schema(Json::parse(R"({"type":"array","items":{"$ref":"#"}})"));
  CHECK(schema.valid(nested_arrays(100)));
  Json deep = nested_arrays(5000);
  CHECK_FALSE(schema.valid(deep));
  auto violations = schema.validate(deep);
  REQUIRE(violations.size() == 1);
  CHECK_THAT(violations[0].message, Catch::Contains("nested too deeply"));

  // A long acyclic chain of $refs is bounded the same way.
  Json chain = {{"$ref", "#/definitions/d0"}, {"definitions", Json::object()}};
  for (int i = 0; i < 2000; ++i) chain["definitions"]["d" + std::to_string(i)] = {{"$ref", "#/definitions/d" + std::to_string(i + 1)}};
  chain["definitions"]["d2000"] = {{"type", "string"}};
  CHECK_FALSE(JsonSchema(chain).valid("x"));
}

TEST_CASE("uniqueItems, enum and const compare deep values without overflowing the stack", "[unit][json_schema][hostile]") {
  Json pair = Json::array();
  pair.push_back(nested_arrays(5000));
  pair.push_back(nested_arrays(5000));
  auto violations = JsonSchema(Json{{"uniqueItems", true}}).validate(pair);
  REQUIRE(violations.size() == 1);
  CHECK_THAT(violations[0].message, Catch::Contains("nested too deeply"));
  CHECK_THAT(compile_error({{"const", nested_arrays(300)}}), Catch::Contains("/const"));
  CHECK_THAT(compile_error({{"enum", Json::array({nested_arrays(300)})}}), Catch::Contains("/enum"));

  // Many items: duplicates found by hash, not by comparing every pair.
  Json many = Json::array();
  for (int i = 0; i < 100000; ++i) many.push_back(i);
  CHECK(JsonSchema(Json{{"uniqueItems", true}}).valid(many));
  many.push_back(5.0);
  auto dup = JsonSchema(Json{{"uniqueItems", true}}).validate(many);
  REQUIRE(dup.size() == 1);
  CHECK(dup[0].message == "must have unique items, but items 5 and 100000 are equal");
}

TEST_CASE("patterns match long strings in linear time and bounded stack", "[unit][json_schema][hostile]") {
  JsonSchema alternation(Json{{"pattern", "^(a|b)*$"}});
  CHECK(alternation.valid(std::string(60000, 'a')));  // std::regex's default matcher overflows the stack here

  auto started = std::chrono::steady_clock::now();
  CHECK_FALSE(JsonSchema(Json{{"pattern", "(a*)*b"}}).valid(std::string(60000, 'a')));  // exponential when backtracking
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));

  auto violations = alternation.validate(std::string(JsonSchema::max_pattern_subject + 1, 'a'));
  REQUIRE(violations.size() == 1);
  CHECK_THAT(violations[0].message, Catch::Contains("is too long to match against the pattern"));
  CHECK(violations[0].schema_path == "/pattern");

  JsonSchema keys(Json{{"patternProperties", {{"^x", {{"type", "integer"}}}}}});
  CHECK_FALSE(keys.valid({{std::string(JsonSchema::max_pattern_subject + 1, 'x'), 1}}));
}

TEST_CASE("invalid regexes and oversized ones make an invalid schema", "[unit][json_schema][invalid]") {
  CHECK_THAT(compile_error({{"pattern", "("}}), Catch::Contains("at /pattern: not a regex"));
  CHECK_THAT(compile_error({{"pattern", "(a)\\1"}}), Catch::Contains("/pattern"));  // back-references
  CHECK_THAT(compile_error({{"pattern", "a)|(b"}}), Catch::Contains("/pattern"));
  CHECK_THAT(compile_error({{"pattern", "((a|b){100}){100}"}}), Catch::Contains("too large"));
  CHECK_THAT(compile_error({{"patternProperties", {{"[", true}}}}), Catch::Contains("/patternProperties/["));
}

TEST_CASE("a schema with a keyword of the wrong type is rejected, naming its path", "[unit][json_schema][invalid]") {
  CHECK_THAT(compile_error({{"type", 3}}), Catch::Contains("at /type: must be a type name"));
  CHECK_THAT(compile_error({{"type", "strin"}}), Catch::Contains("not \"strin\""));
  CHECK_THAT(compile_error({{"required", "x"}}), Catch::Contains("at /required: must be an array of strings"));
  CHECK_THAT(compile_error({{"minimum", "a"}}), Catch::Contains("at /minimum: must be a number, not \"a\""));
  CHECK_THAT(compile_error({{"minLength", -1}}), Catch::Contains("at /minLength: must be a non-negative integer"));
  CHECK_THAT(compile_error({{"multipleOf", 0}}), Catch::Contains("at /multipleOf: must be greater than 0"));
  CHECK_THAT(compile_error({{"multipleOf", -2}}), Catch::Contains("/multipleOf"));
  CHECK_THAT(compile_error({{"properties", {{"a", {{"items", 3}}}}}}), Catch::Contains("at /properties/a/items:"));
  CHECK_THAT(compile_error({{"allOf", Json::array()}}), Catch::Contains("at /allOf:"));
  CHECK_THAT(compile_error({{"definitions", {{"x", {{"maxItems", "2"}}}}}}), Catch::Contains("/definitions/x/maxItems"));
  CHECK_THAT(compile_error(3), Catch::Contains("must be an object or a boolean"));
}

TEST_CASE("a $ref that cannot be resolved makes an invalid schema", "[unit][json_schema][invalid]") {
  CHECK_THAT(compile_error({{"$ref", "#/definitions/nope"}}), Catch::Contains("at /$ref: cannot resolve \"#/definitions/nope\""));
  CHECK_THAT(compile_error({{"$ref", "#nope"}}), Catch::Contains("/$ref"));
  CHECK_THAT(compile_error({{"$ref", "#/a~2"}}), Catch::Contains("not a valid JSON Pointer"));
  CHECK_THAT(compile_error({{"properties", {{"a", {{"$ref", "http://localhost:1234/x.json"}}}}}}),
             Catch::Contains("at /properties/a/$ref: cannot resolve \"http://localhost:1234/x.json\": remote"));
}

TEST_CASE("ids and plain-name fragments resolve within the document, and the draft-07 metaschema is built in",
          "[unit][json_schema]") {
  JsonSchema by_id(Json::parse(R"({"$id":"http://example.com/root.json","properties":{"a":{"$ref":"item.json"},
      "b":{"$ref":"#num"}},"definitions":{"item":{"$id":"item.json","type":"string"},"n":{"$id":"#num","type":"number"}}})"));
  CHECK(by_id.valid({{"a", "x"}, {"b", 1}}));
  CHECK_FALSE(by_id.valid({{"a", 1}}));
  CHECK_FALSE(by_id.valid({{"b", "x"}}));

  JsonSchema meta(Json{{"$ref", "http://json-schema.org/draft-07/schema#"}});
  CHECK(meta.valid({{"type", "string"}}));
  auto violations = meta.validate({{"type", 3}});
  REQUIRE(violations.size() == 1);
  CHECK(violations[0].instance_path == "/type");
}

TEST_CASE("violations name the instance path, the schema path and what is wrong", "[unit][json_schema]") {
  JsonSchema schema(Json::parse(R"({"properties":{"a":{"items":{"type":"string"}},"a/b":{"type":"integer"}},
      "required":["name"],"additionalProperties":false,"patternProperties":{"^a":true}})"));
  auto v = schema.validate({{"a", {"x", 3}}, {"name", "n"}, {"a/b", 1.5}, {"zz", 1}}, 10);
  REQUIRE(v.size() == 4);
  CHECK(v[0].instance_path == "/a/1");
  CHECK(v[0].schema_path == "/properties/a/items/type");
  CHECK(v[0].message == "must be a string, not 3");
  CHECK(JsonSchema::describe(v[0]) == "at /a/1: must be a string, not 3 (schema /properties/a/items/type)");
  CHECK(v[1].instance_path == "/a~1b");
  CHECK(v[1].message == "must be an integer, not 1.5");
  CHECK(v[2].message == "has unexpected property \"name\"");
  CHECK(v[3].message == "has unexpected property \"zz\"");
  CHECK(v[3].schema_path == "/additionalProperties");

  auto missing = schema.validate(Json::object());
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].instance_path.empty());
  CHECK(missing[0].message == "is missing required property \"name\"");
  CHECK(JsonSchema::describe(missing[0]) == "at the root: is missing required property \"name\" (schema /required)");

  CHECK(JsonSchema(Json{{"type", {"string", "null"}}}).validate(3)[0].message == "must be null or a string, not 3");
  CHECK(JsonSchema(Json{{"minimum", 5}}).validate(3)[0].message == "must be >= 5, not 3");
  CHECK(JsonSchema(Json{{"enum", {"a", 1}}}).validate(true)[0].message == "must be one of \"a\", 1, not true");
  CHECK(JsonSchema(Json{{"oneOf", {true, true}}}).validate(1)[0].message ==
        "must match exactly one of the \"oneOf\" schemas, but matches both 0 and 1");
  CHECK(JsonSchema(false).validate(1)[0].message == "is not allowed here (the schema is false)");
}

TEST_CASE("validate stops at `max` violations", "[unit][json_schema]") {
  JsonSchema schema(Json{{"required", {"a", "b", "c"}}});
  CHECK(schema.validate(Json::object()).size() == 1);
  CHECK(schema.validate(Json::object(), 2).size() == 2);
  CHECK(schema.validate(Json::object(), 10).size() == 3);
  CHECK(schema.validate(Json::object(), 0).empty());
  CHECK(schema.validate({{"a", 1}, {"b", 1}, {"c", 1}}, 10).empty());
}

TEST_CASE("numbers: 1.0 is an integer, multipleOf tolerates decimal fractions", "[unit][json_schema]") {
  JsonSchema integer(Json{{"type", "integer"}});
  CHECK(integer.valid(1.0));
  CHECK(integer.valid(18446744073709551615ULL));
  CHECK_FALSE(integer.valid(1.5));
  JsonSchema cents(Json{{"multipleOf", 0.01}});
  CHECK(cents.valid(0.07));
  CHECK(cents.valid(19.99));
  CHECK_FALSE(cents.valid(0.075));
  CHECK(JsonSchema(Json{{"multipleOf", 3}}).valid(9007199254740993LL * 3));
  CHECK_FALSE(JsonSchema(Json{{"multipleOf", 0.123456789}}).valid(1e308));
}

TEST_CASE("string lengths count Unicode code points, not bytes", "[unit][json_schema]") {
  JsonSchema five(Json{{"maxLength", 5}, {"minLength", 5}});
  CHECK(five.valid("h\u00e9llo"));        // 6 bytes
  CHECK(five.valid("\U0001F600\U0001F600\U0001F600ab"));  // 14 bytes
  CHECK_FALSE(five.valid("hello!"));
}

TEST_CASE("a compiled schema can be copied and used from several threads at once", "[unit][json_schema]") {
  std::optional<JsonSchema> original(std::in_place, Json::parse(R"({"properties":{"n":{"type":"integer","pattern":"x"}},
      "patternProperties":{"^s":{"type":"string","pattern":"^[a-z]+$"}}})"));
  JsonSchema copy = *original;
  original.reset();
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        wrong += !copy.valid({{"n", i}, {"s1", "abc"}});
        wrong += copy.valid({{"s2", "ABC"}});
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
}
