// The JSON forms of FilterInput and FilterResult written straight into the
// payload string, without an nlohmann DOM: the method table's encoder for a
// filter call (one per call on each side). The document is to_json's, member
// for member (tests/unit/http_filter_codec_test.cpp checks them against each
// other), with nlohmann's escaping; a string that is not UTF-8, which dump()
// refuses, is left to to_json + dump() so that it fails as it always did.
#include <algorithm>
#include <array>
#include <charconv>

#include "plugvisor/contracts/http.hpp"

namespace plugvisor::http {

namespace {

// Thrown by the writer for a string dump() would refuse (not UTF-8).
struct NotUtf8 {};

class Writer {
 public:
  explicit Writer(std::size_t hint) { out_.reserve(hint); }

  std::string take() { return std::move(out_); }

  // As nlohmann's dump() with ensure_ascii off: '"', '\\' and the controls
  // escaped (\b \f \n \r \t, else \u00xx in lower-case hex), the rest as is.
  void string(std::string_view text) {
    if (!valid_utf8(text)) throw NotUtf8{};
    out_ += '"';
    std::size_t run = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      if (c >= 0x20 && c != '"' && c != '\\') continue;
      out_.append(text.data() + run, i - run);
      run = i + 1;
      switch (c) {
        case '"': out_ += "\\\""; break;
        case '\\': out_ += "\\\\"; break;
        case '\b': out_ += "\\b"; break;
        case '\f': out_ += "\\f"; break;
        case '\n': out_ += "\\n"; break;
        case '\r': out_ += "\\r"; break;
        case '\t': out_ += "\\t"; break;
        default: {
          static constexpr char hex[] = "0123456789abcdef";
          const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
          out_.append(escaped, sizeof escaped);
        }
      }
    }
    out_.append(text.data() + run, text.size() - run);
    out_ += '"';
  }

  // `"name":` after a comma unless it is the object's first member.
  void key(std::string_view name, bool& first) {
    if (!first) out_ += ',';
    first = false;
    string(name);
    out_ += ':';
  }

  void integer(long long value) {
    std::array<char, 24> digits;
    auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
    out_.append(digits.data(), end);
  }

  void raw(char c) { out_ += c; }

  // As fields_json: one member per name (nlohmann's objects sort them), a
  // repeated name's values as an array in their order.
  void fields(const Fields& fields) {
    using Field = Fields::value_type;
    std::array<const Field*, 32> inline_order;
    std::vector<const Field*> heap_order;
    const Field** order = inline_order.data();
    if (fields.size() > inline_order.size()) {
      heap_order.resize(fields.size());
      order = heap_order.data();
    }
    for (std::size_t i = 0; i < fields.size(); ++i) order[i] = &fields[i];
    std::stable_sort(order, order + fields.size(), [](const Field* a, const Field* b) { return a->first < b->first; });
    out_ += '{';
    bool first = true;
    for (std::size_t i = 0; i < fields.size();) {
      std::size_t end = i + 1;
      while (end < fields.size() && order[end]->first == order[i]->first) ++end;
      key(order[i]->first, first);
      if (end - i == 1) {
        string(order[i]->second);
      } else {
        out_ += '[';
        for (std::size_t k = i; k < end; ++k) {
          if (k > i) out_ += ',';
          string(order[k]->second);
        }
        out_ += ']';
      }
      i = end;
    }
    out_ += '}';
  }

  // "body" when UTF-8 text, else "bodyBase64" (put_body and body_to_json).
  void body(const Bytes& body, bool& first) {
    if (valid_utf8(body)) {
      key("body", first);
      string(body);
    } else {
      key("bodyBase64", first);
      string(base64_encode(body));
    }
  }

  void request(const Request& request) {
    bool first = true;
    out_ += '{';
    key("method", first);
    string(request.method);
    key("path", first);
    string(request.path);
    key("query", first);
    fields(request.query);
    key("headers", first);
    fields(request.headers);
    if (!request.body.empty()) body(request.body, first);
    out_ += '}';
  }

  void response(const Response& response) {
    bool first = true;
    out_ += '{';
    key("status", first);
    integer(response.status);
    key("headers", first);
    fields(response.headers);
    if (!response.body.empty()) body(response.body, first);
    out_ += '}';
  }

  void header_changes(const HeaderChanges& changes) {
    bool first = true;
    out_ += '{';
    if (!changes.set.empty()) {
      key("set", first);
      fields(changes.set);
    }
    if (!changes.add.empty()) {
      key("add", first);
      fields(changes.add);
    }
    if (!changes.remove.empty()) {
      key("remove", first);
      out_ += '[';
      for (std::size_t i = 0; i < changes.remove.size(); ++i) {
        if (i > 0) out_ += ',';
        string(changes.remove[i]);
      }
      out_ += ']';
    }
    out_ += '}';
  }

 private:
  std::string out_;
};

std::size_t size_hint(const Fields& fields) {
  std::size_t size = 2;
  for (const auto& [name, value] : fields) size += name.size() + value.size() + 6;
  return size;
}

std::size_t size_hint(const Request& request) {
  return 64 + request.method.size() + request.path.size() + size_hint(request.query) + size_hint(request.headers) +
         request.body.size() + request.body.size() / 8;
}

std::size_t size_hint(const Response& response) {
  return 48 + size_hint(response.headers) + response.body.size() + response.body.size() / 8;
}

}  // namespace

std::string plugvisor_json_encode(detail::Tag<FilterInput>, const FilterInput& input) {
  try {
    Writer out(size_hint(input.request) + (input.response ? size_hint(*input.response) : 0) + input.client.size() +
               input.route.size() + 64);
    bool first = true;
    out.raw('{');
    out.key("request", first);
    out.request(input.request);
    out.key("client", first);
    out.string(input.client);
    out.key("route", first);
    out.string(input.route);
    if (input.response) {
      out.key("response", first);
      out.response(*input.response);
    }
    if (!input.hooks.empty()) {
      out.key("hooks", first);
      out.raw('[');
      for (std::size_t i = 0; i < input.hooks.size(); ++i) {
        if (i > 0) out.raw(',');
        out.string(input.hooks[i]);
      }
      out.raw(']');
    }
    out.raw('}');
    return out.take();
  } catch (const NotUtf8&) {
    return Json(input).dump();  // throws type_error 316, naming the byte
  }
}

std::string plugvisor_json_encode(detail::Tag<FilterResult>, const FilterResult& result) {
  try {
    std::size_t hint = 64 + size_hint(result.request.headers.set) + size_hint(result.request.headers.add) +
                       size_hint(result.response.headers.set) + size_hint(result.response.headers.add) +
                       (result.request.body ? result.request.body->size() * 9 / 8 : 0) +
                       (result.response.body ? result.response.body->size() * 9 / 8 : 0) +
                       (result.respond ? size_hint(*result.respond) : 0);
    Writer out(hint);
    bool first = true;
    out.raw('{');
    const RequestChanges& request = result.request;
    if (!request.headers.empty() || request.body) {
      out.key("request", first);
      bool inner = true;
      out.raw('{');
      if (!request.headers.empty()) {
        out.key("headers", inner);
        out.header_changes(request.headers);
      }
      if (request.body) out.body(*request.body, inner);
      out.raw('}');
    }
    const ResponseChanges& response = result.response;
    if (!response.headers.empty() || response.body || response.status) {
      out.key("response", first);
      bool inner = true;
      out.raw('{');
      if (response.status) {
        out.key("status", inner);
        out.integer(*response.status);
      }
      if (!response.headers.empty()) {
        out.key("headers", inner);
        out.header_changes(response.headers);
      }
      if (response.body) out.body(*response.body, inner);
      out.raw('}');
    }
    if (result.respond) {
      out.key("respond", first);
      out.response(*result.respond);
    }
    out.raw('}');
    return out.take();
  } catch (const NotUtf8&) {
    return Json(result).dump();  // throws type_error 316, naming the byte
  }
}

}  // namespace plugvisor::http
