// The greeter contract: an extension point the host application defines
// itself, outside plugvisor. This header is all a C++ host and a C++ plugin
// share; greeter.json is the same contract as a description, for plugins in
// other languages (the host prints it with --describe).
//
// Its history shows how a contract evolves. The first release had greet,
// languages and banner; the second added farewell. Adding a method is not a
// breaking change, so the version stays 1: a plugin built against the first
// release (compiled with GREETER_FIRST_RELEASE) still registers, as partial,
// and hosts ask supports() before calling farewell. Removing a method or
// changing what one takes would be version 2.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "plugvisor/contracts.hpp"

namespace greetings {

/// Whom to greet.
struct Person {
  std::string name;
  /// "en", "fr", "de"...; the provider's default when absent.
  std::optional<std::string> language;
  /// "Dr", "Captain"...
  std::vector<std::string> titles;
};

/// What a greeter answers.
struct Greeting {
  std::string text;
  std::string language;
  int words = 0;
};

void to_json(plugvisor::Json& j, const Person& p);
void from_json(const plugvisor::Json& j, Person& p);
void to_json(plugvisor::Json& j, const Greeting& g);
void from_json(const plugvisor::Json& j, Greeting& g);

PLUGVISOR_JSON_SCHEMA(Person, R"({"type": "object", "required": ["name"], "properties": {
  "name": {"type": "string", "minLength": 1},
  "language": {"type": "string", "pattern": "^[a-z]{2}$"},
  "titles": {"type": "array", "items": {"type": "string"}}}})")
PLUGVISOR_JSON_SCHEMA(Greeting, R"({"type": "object", "required": ["text", "language", "words"], "properties": {
  "text": {"type": "string"}, "language": {"type": "string"}, "words": {"type": "integer", "minimum": 0}}})")

/// Greets people by name, in several languages.
class Greeter : public plugvisor::PluginBase {
 public:
  /// Greets `person`.
  virtual Greeting greet(const Person& person) = 0;
  /// The languages greet (and farewell) speak.
  virtual std::vector<std::string> languages() = 0;
  /// Frames text in a box of stars (bytes in, bytes out).
  virtual plugvisor::Bytes banner(plugvisor::BytesView text) = 0;
#ifndef GREETER_FIRST_RELEASE
  /// Says goodbye to `person` (since the second release).
  virtual Greeting farewell(const Person& person) = 0;
#endif
};

#ifdef GREETER_FIRST_RELEASE
PLUGVISOR_CONTRACT(Greeter, "greeter", 1, "Greets people by name, in several languages",
                   (greet, "greet", {.description = "greets a person"}),
                   (languages, "languages", {.description = "the languages greet and farewell speak"}),
                   (banner, "banner", {.description = "frames text in a box of stars"}));
#else
PLUGVISOR_CONTRACT(Greeter, "greeter", 1, "Greets people by name, in several languages",
                   (greet, "greet", {.description = "greets a person"}),
                   (languages, "languages", {.description = "the languages greet and farewell speak"}),
                   (banner, "banner", {.description = "frames text in a box of stars"}),
                   (farewell, "farewell", {.description = "says goodbye (since the second release)"}));
#endif

/// A greeter in a few languages, shared by the host's in-process provider
/// and the C++ plugin (each with its own style of address).
class PhraseBook {
 public:
  explicit PhraseBook(std::string style) : style_(std::move(style)) {}
  Greeting hello(const Person& person) const;
  Greeting goodbye(const Person& person) const;
  static std::vector<std::string> known_languages();
  static plugvisor::Bytes framed(plugvisor::BytesView text);

 private:
  Greeting phrase(const Person& person, bool hello) const;
  std::string style_;
};

}  // namespace greetings
