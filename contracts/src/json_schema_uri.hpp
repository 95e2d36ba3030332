// Private to the JSON Schema validator: URI references and JSON Pointer tokens.
#pragma once

#include <string>
#include <string_view>

namespace plugvisor::detail::json_schema {

/// Resolves the URI reference `ref` against `base` (RFC 3986 5.2). An empty or
/// relative base (a schema without "$id") yields a relative result, which is
/// still a consistent key within one document.
std::string resolve_uri(const std::string& base, const std::string& ref);

/// Decodes %XX escapes (a "$ref" fragment is URI-encoded).
std::string percent_decode(std::string_view text);

/// Appends `token` to a JSON Pointer, escaping '~' and '/'.
void append_pointer_token(std::string& pointer, std::string_view token);

}  // namespace plugvisor::detail::json_schema
