// Validating an instance against a compiled schema, and the JsonSchema class.
//
// The instance path is a linked list of frames on the stack, turned into a
// JSON Pointer only when a violation is reported: a valid instance costs no
// allocation. Sub-checks whose violations are not reported (anyOf, oneOf, not,
// if, contains) run "quietly" and stop at their first failure.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "json_schema_compiled.hpp"
#include "json_schema_uri.hpp"
#include "plugvisor/detail/json_schema.hpp"

namespace plugvisor::detail::json_schema {

namespace {

/// One step of the instance path: a property name or an array index.
struct PathFrame {
  const PathFrame* parent;
  const std::string* key;  // null: an array index
  std::size_t index;
};

std::string to_pointer(const PathFrame* frame) {
  std::vector<const PathFrame*> frames;
  for (; frame; frame = frame->parent) frames.push_back(frame);
  std::string pointer;
  for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
    if ((*it)->key) {
      append_pointer_token(pointer, *(*it)->key);
    } else {
      pointer += '/' + std::to_string((*it)->index);
    }
  }
  return pointer;
}

/// Thrown when the instance (or a chain of "$ref"s) goes deeper than
/// max_validation_depth; caught by JsonSchema and reported as a violation.
struct TooDeep {
  SchemaViolation violation;
};

Number to_number(const Json& v) {
  if (v.is_number_unsigned()) return static_cast<Number>(v.get<std::uint64_t>());
  if (v.is_number_integer()) return static_cast<Number>(v.get<std::int64_t>());
  return static_cast<Number>(v.get<double>());
}

bool is_integer(const Json& v) {
  if (v.is_number_integer()) return true;  // signed or unsigned
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::trunc(d) == d;
}

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string number_text(Number n) {
  Json j;
  if (std::trunc(n) == n && std::fabs(n) < 9.2e18L) {
    j = static_cast<std::int64_t>(n);
  } else {
    j = static_cast<double>(n);
  }
  return j.dump();
}

std::string type_names(std::uint8_t mask) {
  static constexpr std::pair<std::uint8_t, const char*> names[] = {
      {type_null, "null"},          {type_boolean, "a boolean"}, {type_object, "an object"}, {type_array, "an array"},
      {type_number, "a number"},    {type_integer, "an integer"}, {type_string, "a string"}};
  std::vector<const char*> listed;
  for (const auto& [bit, name] : names) {
    if (mask & bit) listed.push_back(name);
  }
  std::string text;
  for (std::size_t i = 0; i < listed.size(); ++i) {
    if (i) text += i + 1 == listed.size() ? " or " : ", ";
    text += listed[i];
  }
  return text;
}

bool type_matches(std::uint8_t mask, const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return mask & type_null;
    case Json::value_t::boolean: return mask & type_boolean;
    case Json::value_t::object: return mask & type_object;
    case Json::value_t::array: return mask & type_array;
    case Json::value_t::string: return mask & type_string;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return mask & (type_number | type_integer);
    case Json::value_t::number_float: return (mask & type_number) || ((mask & type_integer) && is_integer(v));
    default: return false;
  }
}

class Validator {
 public:
  Validator(const Compiled& compiled, std::vector<SchemaViolation>* out, std::size_t max)
      : nodes_(compiled.nodes), out_(out), max_(max) {}

  bool check(NodeId id, const Json& v, const PathFrame* path) {
    const Node& n = nodes_[static_cast<std::size_t>(id)];
    if (++depth_ > JsonSchema::max_validation_depth) {
      throw TooDeep{{to_pointer(path), n.path,
                     "is nested too deeply to validate (more than " +
                         std::to_string(JsonSchema::max_validation_depth) + " levels of subschemas)"}};
    }
    bool ok = evaluate(n, v, path);
    --depth_;
    return ok;
  }

 private:
  // Whether to stop checking further keywords after a failure.
  bool done() const { return out_ == nullptr || out_->size() >= max_; }

  bool fail(const Node& n, const char* keyword, const PathFrame* path, std::string message) {
    if (out_ && out_->size() < max_) {
      std::string schema_path = n.path;
      if (keyword) schema_path += std::string("/") + keyword;
      out_->push_back({to_pointer(path), std::move(schema_path), std::move(message)});
    }
    return false;
  }

  // `id` against `v` without reporting: only whether it matches.
  bool quiet(NodeId id, const Json& v, const PathFrame* path) {
    auto* saved = out_;
    out_ = nullptr;
    bool ok = check(id, v, path);
    out_ = saved;
    return ok;
  }

  bool evaluate(const Node& n, const Json& v, const PathFrame* path) {
    if (n.boolean) return *n.boolean || fail(n, nullptr, path, "is not allowed here (the schema is false)");
    if (n.ref != none) return check(n.ref, v, path);

    bool ok = true;
    auto stop = [&](bool result) {
      ok = ok && result;
      return !result && done();
    };
    if (n.types && !type_matches(n.types, v)) {
      if (stop(fail(n, "type", path, "must be " + type_names(n.types) + ", not " + preview(v)))) return false;
    }
    if (n.enum_values && stop(check_enum(n, v, path))) return false;
    if (n.const_value && !equal(*n.const_value, v, 0, n, path)) {
      std::string expected = n.const_value->is_structured() ? "equal to the \"const\" value" : preview(*n.const_value);
      if (stop(fail(n, "const", path, "must be " + expected + ", not " + preview(v)))) return false;
    }
    switch (v.type()) {
      case Json::value_t::number_integer:
      case Json::value_t::number_unsigned:
      case Json::value_t::number_float:
        if (stop(check_number(n, v, path))) return false;
        break;
      case Json::value_t::string:
        if (stop(check_string(n, v, path))) return false;
        break;
      case Json::value_t::array:
        if (stop(check_array(n, v, path))) return false;
        break;
      case Json::value_t::object:
        if (stop(check_object(n, v, path))) return false;
        break;
      default: break;
    }
    if (stop(check_combinators(n, v, path))) return false;
    return ok;
  }

  bool check_enum(const Node& n, const Json& v, const PathFrame* path) {
    for (const auto& e : *n.enum_values) {
      if (equal(e, v, 0, n, path)) return true;
    }
    std::string listed;
    for (std::size_t i = 0; i < n.enum_values->size() && i < 5; ++i) listed += (i ? ", " : "") + preview((*n.enum_values)[i]);
    if (n.enum_values->size() > 5) listed += ", ...";
    return fail(n, "enum", path, "must be one of " + listed + ", not " + preview(v));
  }

  bool check_number(const Node& n, const Json& v, const PathFrame* path) {
    Number x = to_number(v);
    bool ok = true;
    auto bound = [&](const std::optional<Number>& limit, const char* keyword, bool pass, const char* op) {
      if (!limit || pass) return false;
      ok = fail(n, keyword, path, std::string("must be ") + op + " " + number_text(*limit) + ", not " + preview(v));
      return done();
    };
    if (n.multiple_of && !is_multiple(x, *n.multiple_of)) {
      ok = fail(n, "multipleOf", path, "must be a multiple of " + number_text(*n.multiple_of) + ", not " + preview(v));
      if (done()) return false;
    }
    if (bound(n.minimum, "minimum", n.minimum && x >= *n.minimum, ">=")) return false;
    if (bound(n.maximum, "maximum", n.maximum && x <= *n.maximum, "<=")) return false;
    if (bound(n.exclusive_minimum, "exclusiveMinimum", n.exclusive_minimum && x > *n.exclusive_minimum, ">")) return false;
    if (bound(n.exclusive_maximum, "exclusiveMaximum", n.exclusive_maximum && x < *n.exclusive_maximum, "<")) return false;
    return ok;
  }

  static bool is_multiple(Number x, Number m) {
    if (!std::isfinite(x)) return false;
    Number r = std::fmod(x, m);  // exact for the integers a long double holds
    if (r == 0) return true;
    // Decimal fractions (0.01) are not exact in binary: accept a quotient
    // within a relative 1e-9 of an integer.
    Number q = x / m;
    // Past 2^52 a double quotient has no fraction bits left to be "close":
    // the exact remainder above decides (1e308 is no multiple of 0.123456789).
    if (!std::isfinite(q) || std::fabs(q) > 0x1p52L) return false;
    return std::fabs(q - std::round(q)) <= 1e-9L * std::max<Number>(1, std::fabs(q));
  }

  bool check_string(const Node& n, const Json& v, const PathFrame* path) {
    const auto& s = v.get_ref<const std::string&>();
    bool ok = true;
    if (n.min_length || n.max_length) {
      std::size_t length = code_points(s);
      if (n.min_length && length < *n.min_length) {
        ok = fail(n, "minLength", path, "must be at least " + std::to_string(*n.min_length) + " characters long, not " +
                                            std::to_string(length));
        if (done()) return false;
      }
      if (n.max_length && length > *n.max_length) {
        ok = fail(n, "maxLength", path, "must be at most " + std::to_string(*n.max_length) + " characters long, not " +
                                            std::to_string(length));
        if (done()) return false;
      }
    }
    if (n.pattern) {
      std::string problem = regex_match_problem(*n.pattern, s);
      if (!problem.empty()) ok = fail(n, "pattern", path, problem);
    }
    return ok;
  }

  struct CountRule {
    const char* min_keyword;
    const char* max_keyword;
    const char* noun;
  };
  // minItems/maxItems and minProperties/maxProperties: one rule for a count.
  // False if it fails and no more violations are wanted.
  bool check_count(const Node& n, std::size_t count, const std::optional<std::uint64_t>& min,
                   const std::optional<std::uint64_t>& max, CountRule rule, const PathFrame* path) {
    bool ok = true;
    if (min && count < *min) {
      ok = fail(n, rule.min_keyword, path,
                "must have at least " + std::to_string(*min) + " " + rule.noun + ", not " + std::to_string(count));
      if (done()) return false;
    }
    if (max && count > *max) {
      ok = fail(n, rule.max_keyword, path,
                "must have at most " + std::to_string(*max) + " " + rule.noun + ", not " + std::to_string(count)) && ok;
    }
    return ok;
  }

  bool check_array(const Node& n, const Json& v, const PathFrame* path) {
    bool ok = true;
    auto stop = [&](bool result) {
      ok = ok && result;
      return !result && done();
    };
    if (stop(check_count(n, v.size(), n.min_items, n.max_items, {"minItems", "maxItems", "items"}, path))) {
      return false;
    }
    if (n.unique_items && stop(check_unique(n, v, path))) return false;
    for (std::size_t i = 0; i < v.size(); ++i) {
      NodeId item = n.has_tuple_items ? (i < n.tuple_items.size() ? n.tuple_items[i] : n.additional_items) : n.items;
      if (item == none) continue;
      PathFrame frame{path, nullptr, i};
      if (stop(check(item, v[i], &frame))) return false;
    }
    if (n.contains != none) {
      bool found = false;
      for (std::size_t i = 0; i < v.size() && !found; ++i) {
        PathFrame frame{path, nullptr, i};
        found = quiet(n.contains, v[i], &frame);
      }
      if (!found && stop(fail(n, "contains", path, "must contain an item that matches the \"contains\" schema"))) {
        return false;
      }
    }
    return ok;
  }

  bool check_unique(const Node& n, const Json& v, const PathFrame* path) {
    auto duplicate = [&](std::size_t i, std::size_t j) {
      return fail(n, "uniqueItems", path,
                  "must have unique items, but items " + std::to_string(i) + " and " + std::to_string(j) + " are equal");
    };
    if (v.size() <= 8) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        for (std::size_t j = i + 1; j < v.size(); ++j) {
          if (equal(v[i], v[j], 0, n, path)) return duplicate(i, j);
        }
      }
      return true;
    }
    // Large arrays: sort by hash and compare only items whose hashes collide.
    std::vector<std::pair<std::size_t, std::size_t>> hashes;
    hashes.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) hashes.emplace_back(hash(v[i], 0, n, path), i);
    std::sort(hashes.begin(), hashes.end());
    for (std::size_t a = 0; a < hashes.size(); ++a) {
      for (std::size_t b = a + 1; b < hashes.size() && hashes[b].first == hashes[a].first; ++b) {
        if (equal(v[hashes[a].second], v[hashes[b].second], 0, n, path)) {
          return duplicate(std::min(hashes[a].second, hashes[b].second), std::max(hashes[a].second, hashes[b].second));
        }
      }
    }
    return true;
  }

  bool check_object(const Node& n, const Json& v, const PathFrame* path) {
    bool ok = true;
    auto stop = [&](bool result) {
      ok = ok && result;
      return !result && done();
    };
    if (stop(check_count(n, v.size(), n.min_properties, n.max_properties,
                         {"minProperties", "maxProperties", "properties"}, path))) {
      return false;
    }
    for (const auto& name : n.required) {
      if (!v.contains(name) && stop(fail(n, "required", path, "is missing required property " + preview(Json(name))))) {
        return false;
      }
    }
    for (const auto& d : n.dependencies) {
      if (!v.contains(d.property)) continue;
      for (const auto& name : d.required) {
        if (!v.contains(name) && stop(fail(n, "dependencies", path,
                                           "has property " + preview(Json(d.property)) + ", so it must also have " +
                                               preview(Json(name))))) {
          return false;
        }
      }
      if (d.schema != none && stop(check(d.schema, v, path))) return false;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (stop(check_member(n, it.key(), it.value(), path))) return false;
    }
    return ok;
  }

  bool check_member(const Node& n, const std::string& key, const Json& value, const PathFrame* path) {
    PathFrame frame{path, &key, 0};
    bool ok = true;
    auto stop = [&](bool result) {
      ok = ok && result;
      return !result && done();
    };
    bool matched = false;
    auto prop = std::lower_bound(n.properties.begin(), n.properties.end(), key,
                                 [](const auto& p, const std::string& k) { return p.first < k; });
    if (prop != n.properties.end() && prop->first == key) {
      matched = true;
      if (stop(check(prop->second, value, &frame))) return false;
    }
    for (const auto& [re, id] : n.pattern_properties) {
      std::string problem = regex_match_problem(re, key);
      if (problem.empty()) {
        matched = true;
        if (stop(check(id, value, &frame))) return false;
      } else if (key.size() > JsonSchema::max_pattern_subject) {
        if (stop(fail(n, "patternProperties", &frame, "the property name " + problem))) return false;
      }
    }
    if (!matched && n.additional_properties != none) {
      const Node& extra = nodes_[static_cast<std::size_t>(n.additional_properties)];
      if (extra.boolean == false) {
        if (stop(fail(n, "additionalProperties", path, "has unexpected property " + preview(Json(key))))) return false;
      } else if (stop(check(n.additional_properties, value, &frame))) {
        return false;
      }
    }
    if (n.property_names != none) {
      Json name(key);
      if (stop(check(n.property_names, name, &frame))) return false;
    }
    return ok;
  }

  bool check_combinators(const Node& n, const Json& v, const PathFrame* path) {
    bool ok = true;
    auto stop = [&](bool result) {
      ok = ok && result;
      return !result && done();
    };
    for (NodeId id : n.all_of) {
      if (stop(check(id, v, path))) return false;
    }
    if (!n.any_of.empty()) {
      bool any = std::any_of(n.any_of.begin(), n.any_of.end(), [&](NodeId id) { return quiet(id, v, path); });
      if (!any && stop(fail(n, "anyOf", path, "must match at least one of the \"anyOf\" schemas"))) return false;
    }
    if (!n.one_of.empty()) {
      std::vector<std::size_t> matching;
      for (std::size_t i = 0; i < n.one_of.size() && matching.size() < 2; ++i) {
        if (quiet(n.one_of[i], v, path)) matching.push_back(i);
      }
      if (matching.size() != 1) {
        std::string which = matching.empty() ? "none" : "both " + std::to_string(matching[0]) + " and " +
                                                            std::to_string(matching[1]);
        if (stop(fail(n, "oneOf", path, "must match exactly one of the \"oneOf\" schemas, but matches " + which))) {
          return false;
        }
      }
    }
    if (n.not_ != none && quiet(n.not_, v, path)) {
      if (stop(fail(n, "not", path, "must not match the \"not\" schema"))) return false;
    }
    if (n.if_ != none) {
      NodeId branch = quiet(n.if_, v, path) ? n.then_ : n.else_;
      if (branch != none && stop(check(branch, v, path))) return false;
    }
    return ok;
  }

  // JSON equality as the spec defines it (1 == 1.0), with a depth bound.
  bool equal(const Json& a, const Json& b, std::size_t depth, const Node& n, const PathFrame* path) const {
    if (depth > JsonSchema::max_validation_depth) too_deep_value(n, path);
    if (a.is_number() && b.is_number()) return to_number(a) == to_number(b);
    if (a.type() != b.type()) return false;
    if (a.is_array()) {
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (!equal(a[i], b[i], depth + 1, n, path)) return false;
      }
      return true;
    }
    if (a.is_object()) {
      if (a.size() != b.size()) return false;
      for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {  // both sorted by key
        if (i.key() != j.key() || !equal(i.value(), j.value(), depth + 1, n, path)) return false;
      }
      return true;
    }
    return a == b;
  }

  // A hash consistent with equal().
  std::size_t hash(const Json& v, std::size_t depth, const Node& n, const PathFrame* path) const {
    if (depth > JsonSchema::max_validation_depth) too_deep_value(n, path);
    auto mix = [](std::size_t h, std::size_t x) { return h ^ (x + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); };
    std::size_t h = static_cast<std::size_t>(v.is_number() ? Json::value_t::number_float : v.type());
    switch (v.type()) {
      case Json::value_t::number_integer:
      case Json::value_t::number_unsigned:
      case Json::value_t::number_float: {
        double d = static_cast<double>(to_number(v));
        if (d == 0) d = 0;  // -0.0 equals 0
        return mix(h, std::hash<double>{}(d));
      }
      case Json::value_t::string: return mix(h, std::hash<std::string>{}(v.get_ref<const std::string&>()));
      case Json::value_t::boolean: return mix(h, v.get<bool>());
      case Json::value_t::array:
        for (const auto& e : v) h = mix(h, hash(e, depth + 1, n, path));
        return h;
      case Json::value_t::object:
        for (auto it = v.begin(); it != v.end(); ++it) {
          h = mix(mix(h, std::hash<std::string>{}(it.key())), hash(it.value(), depth + 1, n, path));
        }
        return h;
      default: return h;
    }
  }

  [[noreturn]] static void too_deep_value(const Node& n, const PathFrame* path) {
    throw TooDeep{{to_pointer(path), n.path,
                   "is nested too deeply to compare (more than " + std::to_string(JsonSchema::max_validation_depth) +
                       " levels)"}};
  }

  const std::vector<Node>& nodes_;
  std::vector<SchemaViolation>* out_;
  std::size_t max_;
  std::size_t depth_ = 0;
};

}  // namespace

std::string preview(const Json& value) {
  switch (value.type()) {
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      constexpr std::size_t limit = 60;
      if (s.size() <= limit) return value.dump(-1, ' ', false, Json::error_handler_t::replace);
      std::size_t cut = limit;
      while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 sequence
      return Json(s.substr(0, cut)).dump(-1, ' ', false, Json::error_handler_t::replace) + "...";
    }
    default: return value.dump();
  }
}

}  // namespace plugvisor::detail::json_schema

namespace plugvisor {

namespace js = detail::json_schema;

JsonSchema::JsonSchema(const Json& schema) : compiled_(std::make_shared<const js::Compiled>(js::compile(schema))) {}

std::vector<SchemaViolation> JsonSchema::validate(const Json& instance, std::size_t max) const {
  std::vector<SchemaViolation> violations;
  if (max == 0) return violations;
  js::Validator validator(*compiled_, &violations, max);
  try {
    validator.check(0, instance, nullptr);
  } catch (js::TooDeep& e) {
    if (violations.size() >= max) violations.pop_back();
    violations.push_back(std::move(e.violation));
  }
  return violations;
}

bool JsonSchema::valid(const Json& instance) const {
  js::Validator validator(*compiled_, nullptr, 0);
  try {
    return validator.check(0, instance, nullptr);
  } catch (const js::TooDeep&) {
    return false;
  }
}

std::string JsonSchema::describe(const SchemaViolation& v) {
  std::string where = v.instance_path.empty() ? "the root" : v.instance_path;
  std::string schema = v.schema_path.empty() ? "the root" : v.schema_path;
  return "at " + where + ": " + v.message + " (schema " + schema + ")";
}

}  // namespace plugvisor
