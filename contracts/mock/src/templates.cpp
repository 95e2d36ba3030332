// Templates: {{function args}} tags served by templateFunctions providers.
#include "plugvisor/contracts/mock.hpp"

namespace plugvisor::mock {

namespace {

// Bounds on one text: every tag is a plugin call.
constexpr std::size_t max_tags = 256;
constexpr std::size_t max_arguments = 32;

struct Tag {
  std::size_t begin = 0;  // offset of "{{"
  std::size_t end = 0;    // offset past "}}"
  TemplateCall call;
};

[[noreturn]] void malformed(std::string_view text, std::size_t at, const std::string& what) {
  std::string excerpt(text.substr(at, 40));
  throw Error(ErrorCode::invalid_input,
              "malformed template tag at offset " + std::to_string(at) + " (\"" + excerpt + "\"): " + what +
                  "; write {{function arg \"arg with spaces\"}}, or {{{{ for a literal {{");
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Parses the tag starting at text[at] == "{{"; returns it with `end` set.
Tag parse_tag(std::string_view text, std::size_t at) {
  Tag tag{at, 0, {}};
  std::size_t i = at + 2;
  std::vector<std::string> words;
  while (true) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i >= text.size()) malformed(text, at, "no closing }}");
    if (text.compare(i, 2, "}}") == 0) break;
    std::string word;
    if (text[i] == '"') {
      ++i;
      while (true) {
        if (i >= text.size()) malformed(text, at, "a quoted argument is not closed");
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) ++i;
        word += text[i++];
      }
      ++i;
    } else {
      while (i < text.size() && !is_space(text[i]) && text.compare(i, 2, "}}") != 0) {
        if (text[i] == '"') malformed(text, at, "a quote inside an unquoted argument");
        word += text[i++];
      }
    }
    words.push_back(std::move(word));
    if (words.size() > max_arguments + 1) malformed(text, at, "more than " + std::to_string(max_arguments) + " arguments");
  }
  tag.end = i + 2;
  if (words.empty()) malformed(text, at, "no function name");
  if (!protocol::is_valid_name(words.front())) malformed(text, at, "\"" + words.front() + "\" is not a function name");
  tag.call.function = words.front();
  tag.call.arguments.assign(words.begin() + 1, words.end());
  return tag;
}

// Splits `text` into literal pieces and tags; `literal(piece)` and `tag(Tag)` in order.
template <class Literal, class OnTag>
void scan(std::string_view text, Literal&& literal, OnTag&& on_tag) {
  std::size_t tags = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t open = text.find("{{", i);
    if (open == std::string_view::npos) {
      literal(text.substr(i));
      return;
    }
    literal(text.substr(i, open - i));
    if (text.compare(open, 4, "{{{{") == 0) {
      literal("{{");
      i = open + 4;
      continue;
    }
    if (++tags > max_tags) malformed(text, open, "more than " + std::to_string(max_tags) + " tags in one text");
    Tag tag = parse_tag(text, open);
    on_tag(tag);
    i = tag.end;
  }
}

std::string as_text(const Json& value) { return value.is_string() ? value.get<std::string>() : value.dump(); }

}  // namespace

std::vector<TemplateCall> Templates::parse(std::string_view text) {
  std::vector<TemplateCall> out;
  scan(text, [](std::string_view) {}, [&](const Tag& tag) { out.push_back(tag.call); });
  return out;
}

std::string Templates::render(std::string_view text) const {
  std::string out;
  scan(text, [&](std::string_view piece) { out += piece; },
       [&](const Tag& tag) { out += as_text(call(tag.call, text.substr(tag.begin, tag.end - tag.begin))); });
  return out;
}

Json Templates::render_json(const Json& value) const {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (text.rfind("{{", 0) == 0 && text.compare(0, 4, "{{{{") != 0) {
      Tag tag = parse_tag(text, 0);
      if (tag.end == text.size()) return call(tag.call, text);
    }
    return render(text);
  }
  if (value.is_array() || value.is_object()) {
    Json out = value;
    for (auto& [key, item] : out.items()) item = render_json(item);
    return out;
  }
  return value;
}

Json Templates::call(const TemplateCall& call, std::string_view tag) const {
  auto entry = lookup(call.function);
  if (!entry) {
    refresh();
    entry = lookup(call.function);
  }
  if (!entry) {
    std::string known;
    for (const auto& name : this->known()) known += (known.empty() ? "" : ", ") + name;
    throw Error(ErrorCode::invalid_input, "template tag " + std::string(tag) + ": no template function '" +
                                              call.function + "' (known: " + (known.empty() ? "none" : known) + ")");
  }
  try {
    return entry->object->call(call);
  } catch (const Error& e) {
    const std::string who = "function '" + call.function + "' of templateFunctions type '" + entry->type + "' (" +
                            entry->provider + ")";
    if (e.code() == ErrorCode::invalid_input) {
      throw Error(ErrorCode::invalid_input, "template tag " + std::string(tag) + ": " + who + " refused its arguments: " + e.what());
    }
    throw Error(e.code(), "template tag " + std::string(tag) + ": " + who + " failed: " + e.what());
  }
}

std::optional<Templates::Entry> Templates::lookup(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return std::nullopt;
  return it->second;
}

void Templates::refresh() const {
  std::map<std::string, Entry> fresh;
  for (const auto& provider : registry_.ranked<TemplateFunctions>()) {
    try {
      for (const auto& function : provider.object->functions()) {
        fresh.emplace(function.name, Entry{provider.type, provider.provider, provider.object});
      }
    } catch (const Error&) {
      // A provider that cannot list its functions serves none; its tags
      // fail as unknown, and the next render asks it again.
    }
  }
  std::lock_guard lock(mutex_);
  functions_ = std::move(fresh);
}

std::vector<std::string> Templates::known() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [name, entry] : functions_) out.push_back(name + " (" + entry.type + ")");
  return out;
}

}  // namespace plugvisor::mock
