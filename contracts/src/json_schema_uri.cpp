// URI references as "$id" and "$ref" use them (RFC 3986 section 5.2, enough of
// it for schemas: scheme, authority, path, dot segments, fragment), and JSON
// Pointer tokens.
#include "json_schema_uri.hpp"

#include <cctype>
#include <vector>

namespace plugvisor::detail::json_schema {

namespace {

bool has_scheme(std::string_view ref) {
  if (ref.empty() || !std::isalpha(static_cast<unsigned char>(ref[0]))) return false;
  for (char c : ref) {
    if (c == ':') return true;
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') return false;
  }
  return false;
}

// Removes "." and ".." segments from the path of an absolute URI (the part
// after scheme and authority, before any query or fragment).
std::string remove_dot_segments(const std::string& uri) {
  std::size_t start = 0;
  if (auto colon = uri.find(':'); colon != std::string::npos && has_scheme(uri)) start = colon + 1;
  if (uri.compare(start, 2, "//") == 0) {
    start = uri.find('/', start + 2);
    if (start == std::string::npos) return uri;
  }
  std::size_t end = uri.find_first_of("?#", start);
  if (end == std::string::npos) end = uri.size();
  std::string_view path(uri.data() + start, end - start);
  if (path.find("./") == std::string_view::npos && !path.ends_with("/.") && !path.ends_with("/..")) return uri;

  std::vector<std::string_view> out;
  bool absolute = path.starts_with('/');
  std::size_t i = absolute ? 1 : 0;
  bool trailing_slash = false;
  while (i <= path.size()) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(i, slash - i);
    trailing_slash = seg == "." || seg == ".." || slash < path.size();
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (seg != ".") {
      out.push_back(seg);
    }
    i = slash + 1;
  }
  std::string result = uri.substr(0, start);
  if (absolute) result += '/';
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (k) result += '/';
    result += out[k];
  }
  if (trailing_slash && !out.empty() && !out.back().empty()) result += '/';
  result += uri.substr(end);
  return result;
}

}  // namespace

std::string resolve_uri(const std::string& base, const std::string& ref) {
  if (has_scheme(ref)) return remove_dot_segments(ref);
  std::string b = base.substr(0, base.find('#'));
  if (ref.empty()) return b;
  if (ref[0] == '#') return b + ref;
  std::size_t scheme_end = has_scheme(b) ? b.find(':') + 1 : 0;
  if (ref.starts_with("//")) return remove_dot_segments(b.substr(0, scheme_end) + ref);
  std::size_t path_start = scheme_end;
  if (b.compare(scheme_end, 2, "//") == 0) {
    path_start = b.find('/', scheme_end + 2);
    if (path_start == std::string::npos) path_start = b.size();
  }
  std::string no_query = b.substr(0, b.find('?'));
  if (ref[0] == '/') return remove_dot_segments(b.substr(0, path_start) + ref);
  if (ref[0] == '?') return no_query + ref;
  std::size_t last_slash = no_query.rfind('/');
  if (last_slash == std::string::npos || last_slash < path_start) {
    // No path to merge with: "http://host" + "a" is "http://host/a".
    if (path_start < no_query.size() || path_start == scheme_end) return remove_dot_segments(no_query.substr(0, scheme_end) + ref);
    return remove_dot_segments(no_query + "/" + ref);
  }
  return remove_dot_segments(no_query.substr(0, last_slash + 1) + ref);
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out += static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

void append_pointer_token(std::string& pointer, std::string_view token) {
  pointer += '/';
  for (char c : token) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer += c;
    }
  }
}

}  // namespace plugvisor::detail::json_schema
