#include "greeter.hpp"

#include <algorithm>
#include <iterator>
#include <map>
#include <sstream>

namespace greetings {

void to_json(plugvisor::Json& j, const Person& p) {
  j = plugvisor::Json{{"name", p.name}, {"titles", p.titles}};
  if (p.language) j["language"] = *p.language;
}

void from_json(const plugvisor::Json& j, Person& p) {
  j.at("name").get_to(p.name);
  if (auto it = j.find("language"); it != j.end() && !it->is_null()) p.language = it->get<std::string>();
  if (auto it = j.find("titles"); it != j.end()) it->get_to(p.titles);
}

void to_json(plugvisor::Json& j, const Greeting& g) {
  j = plugvisor::Json{{"text", g.text}, {"language", g.language}, {"words", g.words}};
}

void from_json(const plugvisor::Json& j, Greeting& g) {
  j.at("text").get_to(g.text);
  j.at("language").get_to(g.language);
  j.at("words").get_to(g.words);
}

namespace {

struct Phrases {
  std::string hello;
  std::string goodbye;
};

const std::map<std::string, Phrases>& phrases() {
  static const std::map<std::string, Phrases> table{
      {"de", {"Guten Tag", "Auf Wiedersehen"}},
      {"en", {"Hello", "Goodbye"}},
      {"fr", {"Bonjour", "Au revoir"}},
  };
  return table;
}

int count_words(const std::string& text) {
  std::istringstream in(text);
  return static_cast<int>(std::distance(std::istream_iterator<std::string>(in), std::istream_iterator<std::string>()));
}

}  // namespace

Greeting PhraseBook::phrase(const Person& person, bool hello) const {
  const std::string language = person.language.value_or("en");
  auto it = phrases().find(language);
  if (it == phrases().end()) {
    throw plugvisor::Error(plugvisor::ErrorCode::invalid_input,
                           "no phrases in language '" + language + "' (ask languages() for the ones there are)");
  }
  std::string name = person.name;
  for (auto title = person.titles.rbegin(); title != person.titles.rend(); ++title) name = *title + " " + name;
  std::string text = (hello ? it->second.hello : it->second.goodbye) + ", " + name + (style_.empty() ? "" : style_);
  return Greeting{text, language, count_words(text)};
}

Greeting PhraseBook::hello(const Person& person) const { return phrase(person, true); }

Greeting PhraseBook::goodbye(const Person& person) const { return phrase(person, false); }

std::vector<std::string> PhraseBook::known_languages() {
  std::vector<std::string> out;
  for (const auto& [language, unused] : phrases()) out.push_back(language);
  return out;
}

plugvisor::Bytes PhraseBook::framed(plugvisor::BytesView text) {
  std::string border(text.size() + 4, '*');
  return border + "\n* " + std::string(text) + " *\n" + border + "\n";
}

}  // namespace greetings
