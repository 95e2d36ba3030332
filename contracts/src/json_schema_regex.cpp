// Regexes of "pattern" and "patternProperties": compiled once, bounded in
// size, and matched breadth-first so that neither time nor stack depends
// exponentially (or per character) on the subject.
#include <algorithm>
#include <cctype>

#include "json_schema_compiled.hpp"
#include "plugvisor/detail/json_schema.hpp"

namespace plugvisor::detail::json_schema {

namespace {

// A regex source longer than this is refused (std::regex compiles recursively),
// and so is one whose automaton would be larger than max_pattern_size states
// (matching costs time in proportion to subject length times that size).
constexpr std::size_t max_pattern_source = 1024;
constexpr std::size_t max_pattern_size = 1000;

// An estimate of the NFA's size: counted repetitions multiply what they repeat.
std::size_t regex_size(std::string_view p) {
  std::vector<std::size_t> groups{0};  // the size so far of each open group
  std::size_t last = 0;                // the size of the last atom (what a quantifier repeats)
  auto saturate = [](std::size_t v) { return std::min<std::size_t>(v, 1u << 30); };
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\') {
      ++i;
      last = 1;
    } else if (c == '[') {
      for (++i; i < p.size() && p[i] != ']'; ++i) i += p[i] == '\\';
      last = 2;
    } else if (c == '(') {
      groups.push_back(0);
      last = 0;
      continue;
    } else if (c == ')' && groups.size() > 1) {
      last = groups.back() + 2;
      groups.pop_back();
    } else if (c == '{') {
      std::size_t n = 0, m = 0;
      bool comma = false;
      for (++i; i < p.size() && p[i] != '}'; ++i) {
        if (p[i] == ',') {
          comma = true;
        } else if (std::isdigit(static_cast<unsigned char>(p[i]))) {
          (comma ? m : n) = saturate((comma ? m : n) * 10 + static_cast<std::size_t>(p[i] - '0'));
        }
      }
      groups.back() = saturate(groups.back() + last * (std::max(n, m) + 1));
      last = 0;
      continue;
    } else {
      last = 1;
    }
    groups.back() = saturate(groups.back() + last);
  }
  std::size_t total = 0;
  for (auto g : groups) total = saturate(total + g);
  return total;
}

[[noreturn]] void invalid(const std::string& path, const std::string& what) {
  throw Error(ErrorCode::config, "invalid JSON Schema at " + path + ": " + what);
}

}  // namespace

Regex compile_regex(const std::string& source, const std::string& path) {
  if (source.size() > max_pattern_source) {
    invalid(path, "the regex is longer than " + std::to_string(max_pattern_source) + " bytes");
  }
  if (std::size_t size = regex_size(source); size > max_pattern_size) {
    invalid(path, "the regex is too large (about " + std::to_string(size) + " states once its repetitions are "
                  "expanded; the limit is " + std::to_string(max_pattern_size) + ")");
  }
  // __polynomial (libstdc++) matches breadth-first: time linear in the
  // subject, no recursion per character, no catastrophic backtracking; it
  // refuses back-references. regex_match of [\s\S]*(?:P)[\s\S]* is
  // regex_search of P in one pass (a search restarts at every offset).
  constexpr auto flags = std::regex::ECMAScript | std::regex::optimize | std::regex_constants::__polynomial;
  try {
    std::regex alone(source, flags);  // P must be a regex by itself ("a)|(b" must not pass once wrapped)
    return {source, std::make_shared<const std::regex>("[\\s\\S]*(?:" + source + ")[\\s\\S]*", flags)};
  } catch (const std::regex_error& e) {
    invalid(path, "not a regex this validator accepts (" + std::string(e.what()) + "): " + preview(Json(source)));
  }
}

std::string regex_match_problem(const Regex& re, const std::string& s) {
  if (s.size() > JsonSchema::max_pattern_subject) {
    return "is too long to match against the pattern " + preview(Json(re.source)) + " (" + std::to_string(s.size()) +
           " bytes; the limit is " + std::to_string(JsonSchema::max_pattern_subject) + ")";
  }
  try {
    if (std::regex_match(s, *re.re)) return {};
  } catch (const std::regex_error&) {
    return "could not be matched against the pattern " + preview(Json(re.source)) + " (too complex)";
  }
  return "must match the pattern " + preview(Json(re.source)) + ", not " + preview(Json(s));
}

}  // namespace plugvisor::detail::json_schema
