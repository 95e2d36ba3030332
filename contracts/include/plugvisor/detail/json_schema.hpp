// A JSON Schema validator, dialect draft-07 (the newest draft Debian 12's
// json-schema-test-suite 2.0.0 ships; see docs/json-schema.md for the keywords,
// the pass rate on the official suite and the limits).
//
// The manager checks plugin configuration against the schema a plugin
// declares; hosts may check JSON method inputs. Schemas come from untrusted
// plugins, so compiling bounds the schema's nesting and rejects $ref cycles
// that make no progress, and validation bounds its depth and the length of
// strings matched against a pattern: hostile input yields an Error or a
// violation, never a crash or a hang on the stack.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "plugvisor/contracts.hpp"

namespace plugvisor {

/// One way an instance fails a schema.
struct SchemaViolation {
  std::string instance_path;  ///< JSON Pointer into the checked document ("" = root, "/a/0")
  std::string schema_path;    ///< JSON Pointer into the schema of the failing keyword ("/properties/a/type")
  std::string message;        ///< what is wrong, for a person: "must be a string, not 3"
};

namespace detail::json_schema {
struct Compiled;
}

/// A compiled JSON Schema (draft-07). Immutable once built: copies share the
/// compiled form, and any number of threads may validate with one object (or
/// its copies) at the same time. A moved-from object may only be assigned or
/// destroyed.
class JsonSchema {
 public:
  /// The deepest nesting of subschemas a schema may have.
  static constexpr std::size_t max_schema_depth = 64;
  /// How deep validation follows an instance (and $refs) before it reports a violation.
  static constexpr std::size_t max_validation_depth = 256;
  /// The longest string (in bytes) matched against a "pattern" or "patternProperties" regex;
  /// a longer one is a violation (matching time grows with the length times the pattern's size).
  static constexpr std::size_t max_pattern_subject = 64 * 1024;

  /// Compiles `schema`. Throws Error(ErrorCode::config, ...) if it is not a valid
  /// JSON Schema (a keyword whose value has the wrong type, an unresolvable or
  /// remote "$ref", a "$ref" cycle that makes no progress, a bad regex, nesting
  /// past max_schema_depth), naming the schema path and what is wrong.
  explicit JsonSchema(const Json& schema);

  /// The violations of `instance`, at most `max` of them (in schema order); empty when valid.
  /// With max = 1 validation stops at the first violation.
  std::vector<SchemaViolation> validate(const Json& instance, std::size_t max = 1) const;
  /// Whether `instance` is valid (validate(instance).empty(), without building messages).
  bool valid(const Json& instance) const;
  /// "at /a/0: must be a string, not 3 (schema /properties/a/items/type)": one line for error messages.
  static std::string describe(const SchemaViolation& v);

 private:
  std::shared_ptr<const detail::json_schema::Compiled> compiled_;
};

}  // namespace plugvisor
