#include "jsonc.hpp"

#include <cctype>
#include <set>

#include "quote.hpp"

namespace plugvisor::detail {

namespace {

/// Walks a text forward, keeping the line and column of its offset.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  TextPosition at(std::size_t offset) {
    offset = std::min(offset, text_.size());
    if (offset < offset_) *this = Cursor(text_);
    for (; offset_ < offset; ++offset_) {
      auto byte = static_cast<unsigned char>(text_[offset_]);
      if (byte == '\n') {
        ++position_.line;
        position_.column = 1;
      } else if ((byte & 0xC0) != 0x80) {  // not a UTF-8 continuation byte
        ++position_.column;
      }
    }
    return position_;
  }

 private:
  std::string_view text_;
  std::size_t offset_ = 0;
  TextPosition position_;
};

/// Records the position of every key and value of a text nlohmann already
/// accepted, and refuses repeated keys (which nlohmann silently collapses).
class Indexer {
 public:
  Indexer(std::string_view stripped, std::string_view original, JsoncDocument& doc)
      : text_(stripped), cursor_(original), doc_(doc) {}

  void run() {
    if (text_.starts_with("\xEF\xBB\xBF")) pos_ = 3;  // a UTF-8 byte order mark, which nlohmann skips too
    skip_space();
    value("");
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  TextPosition here() { return cursor_.at(pos_); }

  void skip_space() {
    while (pos_ < text_.size() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void value(const std::string& pointer) {  // recursive: parse_jsonc bounded the depth
    doc_.values[pointer] = here();
    switch (peek()) {
      case '{':
        object(pointer);
        break;
      case '[':
        array(pointer);
        break;
      case '"':
        string();
        break;
      default:
        while (pos_ < text_.size() && std::string_view(",]} \t\r\n").find(peek()) == std::string_view::npos) ++pos_;
    }
  }

  void object(const std::string& pointer) {
    ++pos_;
    skip_space();
    std::set<std::string> seen;
    while (pos_ < text_.size() && peek() != '}') {
      TextPosition key_at = here();
      std::string key = string();
      if (!seen.insert(key).second) throw JsoncError(key_at, "duplicate key " + quote(key));
      std::string child = child_pointer(pointer, key);
      doc_.keys[child] = key_at;
      skip_space();
      ++pos_;  // ':'
      skip_space();
      value(child);
      skip_space();
      if (peek() == ',') ++pos_;
      skip_space();
    }
    ++pos_;
  }

  void array(const std::string& pointer) {
    ++pos_;
    skip_space();
    for (std::size_t index = 0; pos_ < text_.size() && peek() != ']'; ++index) {
      value(pointer + "/" + std::to_string(index));
      skip_space();
      if (peek() == ',') ++pos_;
      skip_space();
    }
    ++pos_;
  }

  std::string string() {
    std::size_t start = pos_++;
    while (pos_ < text_.size() && peek() != '"') pos_ += peek() == '\\' ? 2 : 1;
    ++pos_;
    return Json::parse(text_.substr(start, pos_ - start)).get<std::string>();
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  Cursor cursor_;
  JsoncDocument& doc_;
};

/// nlohmann's reason without its "[json.exception...] parse error at line L, column C: " prefix
/// (or, for the other exceptions, without "[json.exception...] ").
std::string parse_error_reason(const Json::exception& e) {
  std::string_view what = e.what();
  auto column = what.find(", column ");
  auto colon = column == std::string_view::npos ? what.npos : what.find(": ", column);
  if (colon != std::string_view::npos) {
    what.remove_prefix(colon + 2);
  } else if (what.starts_with("[json.exception.")) {
    if (auto close = what.find("] "); close != what.npos) what.remove_prefix(close + 2);
  }
  return std::string(what);
}

/// Json::parse's own handler, which also keeps where the parser stopped on
/// an error: out_of_range and the like carry no position of their own.
struct PositionedDomParser : nlohmann::detail::json_sax_dom_parser<Json> {
  using json_sax_dom_parser::json_sax_dom_parser;
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    error_at = position;
    return json_sax_dom_parser::parse_error(position, token, e);
  }
  std::size_t error_at = 0;
};

/// Where the token ending at `offset` starts: nlohmann reports the end of a
/// string, number or literal, and an editor wants its start.
std::size_t token_start(std::string_view text, std::size_t offset) {
  if (offset >= text.size()) return offset;
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+'; };
  if (text[offset] == '"') {
    for (std::size_t i = offset; i-- > 0;) {
      std::size_t backslashes = 0;
      while (backslashes < i && text[i - 1 - backslashes] == '\\') ++backslashes;
      if (text[i] == '"' && backslashes % 2 == 0) return i;
    }
    return offset;
  }
  while (offset > 0 && is_word(text[offset]) && is_word(text[offset - 1])) --offset;
  return offset;
}

}  // namespace

std::string strip_comments(std::string_view text) {
  std::string out(text);
  std::size_t i = 0;
  auto blank = [&](std::size_t at) {
    if (out[at] != '\n') out[at] = ' ';
  };
  while (i < out.size()) {
    if (out[i] == '"') {
      for (++i; i < out.size() && out[i] != '"'; ++i) {
        if (out[i] == '\\') ++i;
      }
      ++i;
    } else if (out[i] == '/' && i + 1 < out.size() && out[i + 1] == '/') {
      while (i < out.size() && out[i] != '\n') blank(i++);
    } else if (out[i] == '/' && i + 1 < out.size() && out[i + 1] == '*') {
      std::size_t start = i;
      blank(i++);
      blank(i++);
      while (!(i + 1 < out.size() && out[i] == '*' && out[i + 1] == '/')) {
        if (i + 1 >= out.size()) throw JsoncError(position_of(text, start), "unterminated /* comment");
        blank(i++);
      }
      blank(i++);
      blank(i++);
    } else {
      ++i;
    }
  }
  return out;
}

TextPosition position_of(std::string_view text, std::size_t offset) { return Cursor(text).at(offset); }

std::string child_pointer(const std::string& parent, std::string_view key) {
  std::string out = parent + "/";
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

TextPosition JsoncDocument::key_position(const std::string& pointer) const {
  if (auto it = keys.find(pointer); it != keys.end()) return it->second;
  return value_position(pointer);
}

TextPosition JsoncDocument::value_position(const std::string& pointer) const {
  if (auto it = values.find(pointer); it != values.end()) return it->second;
  if (auto it = values.find(""); it != values.end()) return it->second;
  return {};
}

JsoncDocument parse_jsonc(std::string_view text) {
  std::string stripped = strip_comments(text);
  JsoncDocument doc;
  // Every error of nlohmann's, not only parse_error: a number out of range
  // (1e999999) is out_of_range (406), which carries no position; the SAX
  // handler keeps the position the parser reports with it.
  // The one depth rule of every JSON from outside, before anything recursive
  // (the indexer below, nlohmann's dump and copies) sees the document.
  if (auto at = protocol::json_too_deep_at(stripped)) {
    throw JsoncError(position_of(text, *at), "nested deeper than " + std::to_string(protocol::max_json_depth) +
                                                 " levels (the limit for every JSON document plugvisor reads)");
  }
  PositionedDomParser sax(doc.value);
  try {
    Json::sax_parse(stripped, &sax);
  } catch (const Json::exception& e) {
    // The position counts the characters read, the offending one included.
    std::size_t offset = token_start(stripped, sax.error_at > 0 ? sax.error_at - 1 : 0);
    throw JsoncError(position_of(text, offset), "invalid JSON: " + parse_error_reason(e));
  }
  Indexer(stripped, text, doc).run();
  return doc;
}

}  // namespace plugvisor::detail
