// plugin-text-tools: an example C++ plugin providing several dataProcessor
// types. Build it, then run `build/plugins/plugin-text-tools capabilities`.
#include <cctype>
#include <sstream>

#include "plugvisor/sdk.hpp"

namespace {

using plugvisor::Bytes;
using plugvisor::Json;

/// uppercase: ASCII letters to upper case, every other byte unchanged.
class Uppercase final : public plugvisor::DataProcessor {
 public:
  Bytes process_data(Bytes input) override {
    // The input is ours: changed in place and handed back, with no copy.
    for (char& c : input) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return input;
  }
  std::vector<std::string> supported_formats() override { return {"text/plain"}; }
};

/// prefix: puts the configured prefix before every line. The prefix comes
/// from the config type "text-tools.prefix" ({"prefix": "..."}), default "> ".
class Prefix final : public plugvisor::DataProcessor {
 public:
  explicit Prefix(std::string prefix) : prefix_(std::move(prefix)) {}
  Bytes process_data(Bytes input) override {
    Bytes out;
    out.reserve(input.size() + prefix_.size());
    bool line_start = true;
    for (char c : input) {
      if (line_start) out += prefix_;
      out.push_back(c);
      line_start = c == '\n';
    }
    return out;
  }
  std::vector<std::string> supported_formats() override { return {"text/plain"}; }

 private:
  std::string prefix_;
};

/// word-count: counts lines, words and bytes, like wc, answered as JSON.
class WordCount final : public plugvisor::DataProcessor {
 public:
  Bytes process_data(Bytes input) override {
    std::size_t lines = 0, words = 0;
    bool in_word = false;
    for (char c : input) {
      if (c == '\n') ++lines;
      bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
      if (!space && !in_word) ++words;
      in_word = !space;
    }
    return Json{{"lines", lines}, {"words", words}, {"bytes", input.size()}}.dump();
  }
  std::vector<std::string> supported_formats() override { return {"text/plain"}; }
};

/// json-pretty: re-indents a JSON document; rejects input that is not JSON.
class JsonPretty final : public plugvisor::DataProcessor {
 public:
  Bytes process_data(Bytes input) override {
    try {
      return Json::parse(input).dump(2) + "\n";
    } catch (const Json::parse_error& e) {
      throw plugvisor::Error(plugvisor::ErrorCode::invalid_input, std::string("input is not JSON: ") + e.what());
    }
  }
  std::vector<std::string> supported_formats() override { return {"application/json"}; }
};

}  // namespace

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin({.name = "text-tools", .version = "1.0.0",
                                 .description = "Text transformations: uppercase, prefix, word-count, json-pretty"});
  plugin.config_type("text-tools.prefix");
  plugin.provide<plugvisor::DataProcessor>("uppercase", std::make_shared<Uppercase>(),
                                           {.description = "ASCII letters to upper case"});
  plugin.provide<plugvisor::DataProcessor>(
      "prefix",
      [](const plugvisor::sdk::Config& config) {
        const Json& data = config.data("text-tools.prefix");
        std::string prefix = data.is_object() ? data.value("prefix", "> ") : "> ";
        return std::make_shared<Prefix>(prefix);
      },
      {.json_schema = Json::parse(R"({"type":"object","properties":{"prefix":{"type":"string"}}})"),
       .description = "prefixes every line; config type text-tools.prefix"});
  plugin.provide<plugvisor::DataProcessor>("word-count", std::make_shared<WordCount>(),
                                           {.description = "line, word and byte counts as JSON"});
  plugin.provide<plugvisor::DataProcessor>("json-pretty", std::make_shared<JsonPretty>(),
                                           {.description = "re-indents a JSON document"});
  return plugin.run(argc, argv);
}
