// Private to the JSON Schema validator: the compiled form of a schema, shared
// by the compiler (json_schema_compile.cpp) and the validator
// (json_schema_validate.cpp).
//
// Every subschema becomes one Node in a flat vector; subschemas refer to each
// other by index, so a "$ref" is an index resolved once at compile time and
// recursive schemas need no pointers that could dangle when copied.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "plugvisor/contracts.hpp"

namespace plugvisor::detail::json_schema {

using NodeId = std::int32_t;
inline constexpr NodeId none = -1;

/// Bits of Node::types.
enum TypeBit : std::uint8_t {
  type_null = 1,
  type_boolean = 2,
  type_object = 4,
  type_array = 8,
  type_number = 16,
  type_integer = 32,
  type_string = 64,
};

struct Regex {
  std::string source;
  std::shared_ptr<const std::regex> re;  // shared: copies of a schema share it; matching is const
};

struct Dependency {
  std::string property;
  std::vector<std::string> required;  // the array form
  NodeId schema = none;                // the schema form
};

/// Numbers are held as long double: on x86-64 its 64-bit mantissa holds every
/// int64, uint64 and double exactly, so comparisons are exact across kinds.
using Number = long double;

struct Node {
  std::string path;  // JSON Pointer of this subschema ("" = root; a URI prefix for the metaschema)

  // A boolean schema (true accepts everything, false nothing), or a "$ref"
  // (draft-07: its siblings are ignored).
  std::optional<bool> boolean;
  NodeId ref = none;

  std::uint8_t types = 0;  // 0: no "type" keyword
  std::optional<std::vector<Json>> enum_values;
  std::optional<Json> const_value;

  std::optional<Number> multiple_of, minimum, maximum, exclusive_minimum, exclusive_maximum;

  std::optional<std::uint64_t> min_length, max_length;
  std::optional<Regex> pattern;

  std::optional<std::uint64_t> min_items, max_items;
  bool unique_items = false;
  NodeId items = none;                // "items" as one schema for every item
  std::vector<NodeId> tuple_items;    // "items" as an array
  bool has_tuple_items = false;
  NodeId additional_items = none;
  NodeId contains = none;

  std::optional<std::uint64_t> min_properties, max_properties;
  std::vector<std::string> required;
  std::vector<std::pair<std::string, NodeId>> properties;  // sorted by name
  std::vector<std::pair<Regex, NodeId>> pattern_properties;
  NodeId additional_properties = none;
  NodeId property_names = none;
  std::vector<Dependency> dependencies;

  std::vector<NodeId> all_of, any_of, one_of;
  NodeId not_ = none;
  NodeId if_ = none, then_ = none, else_ = none;
};

struct Compiled {
  std::vector<Node> nodes;  // nodes[0] is the root
};

/// Builds the compiled form; throws Error(config) naming the path of what is wrong.
Compiled compile(const Json& schema);

/// The draft-07 metaschema (http://json-schema.org/draft-07/schema), so that a
/// schema may "$ref" it without fetching anything.
const Json& draft07_metaschema();
inline constexpr const char* draft07_metaschema_uri = "http://json-schema.org/draft-07/schema";

/// Compiles the regex of a "pattern" (or a "patternProperties" name) at schema
/// path `path`; throws Error(config) if it is invalid or too large.
Regex compile_regex(const std::string& source, const std::string& path);
/// "" if `subject` contains a match of `re`; else what is wrong, for a violation message.
std::string regex_match_problem(const Regex& re, const std::string& subject);

/// A short rendering of a value for messages: scalars as JSON (long strings
/// cut), containers as "an array" / "an object" (never a deep dump).
std::string preview(const Json& value);

}  // namespace plugvisor::detail::json_schema
