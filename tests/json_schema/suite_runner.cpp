// Runs the official JSON Schema test suite (one draft's directory of *.json
// files) against plugvisor::JsonSchema and compares with a list of expected
// failures, one "file.json: group description / test description" a line.
//
// Exit 1 if a case fails that is not listed, or a listed case passes (so the
// list stays honest). Prints the pass rate per keyword file.
//
//   json-schema-suite SUITE_DIR EXPECTED_FAILURES [--markdown] [--list-failures]
//   json-schema-suite --bench          (ns per validation of a small object)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "plugvisor/detail/json_schema.hpp"

namespace fs = std::filesystem;
using plugvisor::Json;
using plugvisor::JsonSchema;

namespace {

struct FileResult {
  std::size_t cases = 0;
  std::size_t passed = 0;
  std::size_t expected_failures = 0;
};

std::set<std::string> read_list(const fs::path& path) {
  std::set<std::string> names;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(line);
  }
  return names;
}

// Whether the case passes: the schema compiles, and valid(), validate() with
// max 1 and with many violations all agree with the expected outcome.
bool run_case(const std::optional<JsonSchema>& schema, const Json& data, bool expect_valid, std::string& why) {
  if (!schema) return false;
  bool valid = schema->valid(data);
  auto one = schema->validate(data, 1);
  auto many = schema->validate(data, 100);
  if (valid != one.empty() || valid != many.empty() || (!valid && one.front().message != many.front().message)) {
    why = "valid() and validate() disagree";
    return false;
  }
  if (valid != expect_valid) {
    why = valid ? "accepted" : "rejected: " + JsonSchema::describe(one.front());
    return false;
  }
  return true;
}

int bench() {
  JsonSchema schema(Json::parse(R"({"type":"object","properties":{"name":{"type":"string","minLength":1},
      "age":{"type":"integer","minimum":0},"tags":{"type":"array","items":{"type":"string"}}},"required":["name"]})"));
  Json instance = Json::parse(R"({"name":"x","age":3})");
  std::vector<double> runs;
  constexpr int n = 200000;
  for (int run = 0; run < 5; ++run) {
    auto start = std::chrono::steady_clock::now();
    std::size_t ok = 0;
    for (int i = 0; i < n; ++i) ok += schema.valid(instance);
    auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n;
    if (ok != n) return 1;
    runs.push_back(ns);
  }
  std::sort(runs.begin(), runs.end());
  std::printf("valid({\"name\":\"x\",\"age\":3}) against a 3-property schema: median %.0f ns (runs:", runs[2]);
  for (double r : runs) std::printf(" %.0f", r);
  std::printf(")\n");
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) (void)schema.validate(instance);
  std::printf("validate() of the same: %.0f ns\n",
              std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n);

  // The costliest patterns the limits admit, against the longest string matched.
  for (const char* pattern : {"(?:a?){150}b", "(a|b|c|d){100}e", "^[a-z]+$"}) {
    JsonSchema p(Json{{"pattern", pattern}});
    Json subject = std::string(JsonSchema::max_pattern_subject, 'a');
    start = std::chrono::steady_clock::now();
    bool ok = p.valid(subject);
    std::printf("pattern %s against %zu bytes: %s in %.1f ms\n", pattern, JsonSchema::max_pattern_subject,
                ok ? "match" : "no match",
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--bench") return bench();
  if (args.size() < 2) {
    std::cerr << "usage: json-schema-suite SUITE_DIR EXPECTED_FAILURES [--markdown] [--list-failures]\n";
    return 2;
  }
  bool markdown = std::find(args.begin(), args.end(), "--markdown") != args.end();
  bool list_failures = std::find(args.begin(), args.end(), "--list-failures") != args.end();
  auto expected = read_list(args[1]);

  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(args[0])) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());

  std::map<std::string, FileResult> results;
  std::vector<std::string> unexpected_failures, unexpected_passes;
  std::set<std::string> seen;
  auto started = std::chrono::steady_clock::now();
  for (const auto& file : files) {
    std::ifstream in(file);
    Json groups = Json::parse(in);
    std::string name = file.filename().string();
    FileResult& result = results[name];
    for (const auto& group : groups) {
      std::optional<JsonSchema> schema;
      std::string compile_error;
      try {
        schema.emplace(group.at("schema"));
      } catch (const plugvisor::Error& e) {
        compile_error = e.what();
      }
      for (const auto& test : group.at("tests")) {
        std::string id = name + ": " + group.at("description").get<std::string>() + " / " +
                         test.at("description").get<std::string>();
        seen.insert(id);
        std::string why = compile_error;
        bool pass = run_case(schema, test.at("data"), test.at("valid").get<bool>(), why);
        bool listed = expected.contains(id);
        ++result.cases;
        result.passed += pass;
        result.expected_failures += listed;
        if (!pass && !listed) unexpected_failures.push_back(id + "  [" + why + "]");
        if (pass && listed) unexpected_passes.push_back(id);
        if (!pass && list_failures) std::cout << id << "\n";
      }
    }
  }
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  if (list_failures) return 0;

  FileResult total;
  if (markdown) std::cout << "| file | cases | passed | expected failures |\n|---|---:|---:|---:|\n";
  for (const auto& [name, r] : results) {
    total.cases += r.cases;
    total.passed += r.passed;
    total.expected_failures += r.expected_failures;
    if (markdown) {
      std::cout << "| " << name << " | " << r.cases << " | " << r.passed << " | " << r.expected_failures << " |\n";
    } else {
      std::printf("%-28s %4zu cases %4zu passed %3zu expected failures\n", name.c_str(), r.cases, r.passed,
                  r.expected_failures);
    }
  }
  if (markdown) {
    std::cout << "| **total** | " << total.cases << " | " << total.passed << " | " << total.expected_failures << " |\n";
  } else {
    std::printf("%-28s %4zu cases %4zu passed %3zu expected failures (%.1f%% pass, %.0f ms)\n", "total", total.cases,
                total.passed, total.expected_failures, 100.0 * total.passed / std::max<std::size_t>(total.cases, 1),
                ms);
  }
  for (const auto& id : expected) {
    if (!seen.contains(id)) unexpected_passes.push_back(id + "  [listed but no such case]");
  }
  for (const auto& id : unexpected_failures) std::cout << "UNEXPECTED FAILURE: " << id << "\n";
  for (const auto& id : unexpected_passes) {
    std::cout << "LISTED AS EXPECTED FAILURE BUT PASSES (remove it from the list): " << id << "\n";
  }
  return unexpected_failures.empty() && unexpected_passes.empty() ? 0 : 1;
}
