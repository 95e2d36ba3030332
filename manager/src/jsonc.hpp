// JSON with comments, and where each value sits in the text, so that errors
// about a configuration file can point at its line and column.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "plugvisor/contracts.hpp"

namespace plugvisor::detail {

/// A 1-based line and column; columns count characters (UTF-8 code points), not bytes.
struct TextPosition {
  int line = 1;
  int column = 1;
};

/// A syntax error in a JSONC text, at a position.
class JsoncError : public std::runtime_error {
 public:
  JsoncError(TextPosition position, const std::string& reason) : std::runtime_error(reason), position_(position) {}
  TextPosition position() const noexcept { return position_; }

 private:
  TextPosition position_;
};

/// `text` with every `//` and `/* */` comment outside strings replaced by
/// spaces, byte for byte, newlines kept: an offset in the result is the same
/// offset in `text`. Throws JsoncError for an unterminated block comment.
std::string strip_comments(std::string_view text);

/// The position of byte `offset` of `text`.
TextPosition position_of(std::string_view text, std::size_t offset);

/// A JSON pointer one level below `parent`, with `key` escaped (~0, ~1).
std::string child_pointer(const std::string& parent, std::string_view key);

/// A parsed document and where its values are, by JSON pointer ("" is the
/// root, "/defaults/idleTimeout" a member, "/pluginDirs/0" an element).
struct JsoncDocument {
  Json value;
  /// Members only: the opening quote of the member's key.
  std::map<std::string, TextPosition> keys;
  /// Every value: its first character.
  std::map<std::string, TextPosition> values;

  /// Where the key of `pointer` is (its value for an element); the root's position if unknown.
  TextPosition key_position(const std::string& pointer) const;
  /// Where the value of `pointer` starts; the root's position if unknown.
  TextPosition value_position(const std::string& pointer) const;
};

/// Parses JSON that may hold comments. Throws JsoncError for malformed JSON,
/// an unterminated comment, or a key repeated within one object.
JsoncDocument parse_jsonc(std::string_view text);

}  // namespace plugvisor::detail
