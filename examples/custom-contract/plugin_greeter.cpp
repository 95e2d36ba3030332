// plugin-greeter: a C++ plugin for the host-defined greeter contract. Built
// twice from this file: plugin-greeter (the current contract: formal and
// cheerful) and, with GREETER_FIRST_RELEASE, plugin-greeter-classic, as a
// plugin built against the contract's first release (no farewell) would be.
#include <memory>

#include "greeter.hpp"
#include "plugvisor/sdk.hpp"

namespace {

using greetings::Greeting;
using greetings::Person;

class BookGreeter final : public greetings::Greeter {
 public:
  explicit BookGreeter(std::string style) : book_(std::move(style)) {}
  Greeting greet(const Person& person) override { return book_.hello(person); }
  std::vector<std::string> languages() override { return greetings::PhraseBook::known_languages(); }
  plugvisor::Bytes banner(plugvisor::BytesView text) override { return greetings::PhraseBook::framed(text); }
#ifndef GREETER_FIRST_RELEASE
  Greeting farewell(const Person& person) override { return book_.goodbye(person); }
#endif

 private:
  greetings::PhraseBook book_;
};

}  // namespace

int main(int argc, char** argv) {
#ifdef GREETER_FIRST_RELEASE
  plugvisor::sdk::Plugin plugin({.name = "greeter", .version = "1.0.0", .description = "greeter, first release"});
  plugin.provide<greetings::Greeter>("classic", std::make_shared<BookGreeter>("."),
                                     {.description = "greets with a full stop (built against the first release)"});
#else
  plugvisor::sdk::Plugin plugin({.name = "greeter", .version = "2.0.0", .description = "greeter, second release"});
  plugin.provide<greetings::Greeter>("formal", std::make_shared<BookGreeter>("."),
                                     {.description = "greets with a full stop"});
  // The cheerful type's mark comes from config type greeter.cheerful; the
  // manager checks its data against the schema before launching the plugin.
  plugin.config_type("greeter.cheerful", plugvisor::Json::parse(R"({"type": "object",
      "properties": {"mark": {"type": "string", "maxLength": 3}}, "additionalProperties": false})"));
  plugin.provide<greetings::Greeter>(
      "cheerful",
      [](const plugvisor::sdk::Config& config) {
        const auto& data = config.data("greeter.cheerful");
        return std::make_shared<BookGreeter>(data.is_object() ? data.value("mark", "!") : "!");
      },
      {.description = "greets with a mark from config type greeter.cheerful (default !)"});
#endif
  return plugin.run(argc, argv);
}
