// Quoting untrusted text (plugin output) inside error messages.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace plugvisor::detail {

/// `text` as a JSON string literal, cut to `max` bytes (with "..."), invalid
/// UTF-8 replaced: safe to embed in any message.
inline std::string quote(std::string_view text, std::size_t max = 200) {
  std::string cut(text.substr(0, max));
  if (text.size() > max) cut += "...";
  return nlohmann::json(cut).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace plugvisor::detail
