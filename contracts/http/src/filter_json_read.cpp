// The JSON forms of FilterInput and FilterResult read with nlohmann's SAX
// parser straight into the struct, without a DOM: the method table's decoder
// for a filter call (one per call on each side).
//
// One rule: parse_json + from_json (http_filter.cpp, http_message.cpp) stay
// the definition of what is accepted and of every error. This reader takes
// only documents it can tell that definition accepts, applying the same
// checks (header names and values, status range, base64, hook names, the
// depth bound), and gives the same value. Anything else (a syntax error, a
// type or value that from_json refuses, a null where it is not plainly
// "absent", a repeated member, too deep) makes it stop and hand the whole
// text to the definition, which answers the value or the error exactly as
// before. tests/unit/http_filter_codec_test.cpp checks both on generated
// documents.
#include <algorithm>
#include <array>
#include <cctype>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/wire/http1.hpp"

namespace plugvisor::http {

namespace {

// Beyond this many fields in one object the reader hands it to from_json
// (its duplicate check is a linear scan per name).
constexpr std::size_t max_scanned_fields = 64;

using detail::http1::valid_field_name;
using detail::http1::valid_field_value;

// What an open object or array is.
enum class Kind : std::uint8_t {
  input,             // FilterInput
  result,            // FilterResult
  request,           // Request (full form)
  response,          // Response (full form)
  request_changes,   // RequestChanges
  response_changes,  // ResponseChanges
  header_changes,    // HeaderChanges
  header_fields,     // Fields of headers (names checked, lower-cased)
  query_fields,      // Fields of a query (data)
  field_values,      // the array of a repeated field
  remove_names,      // HeaderChanges::remove
  hook_names,        // FilterInput::hooks
};

// Members the reader knows (a bit each in Frame::seen).
enum Member : int {
  unknown = -1,
  m_request,
  m_response,
  m_respond,
  m_client,
  m_route,
  m_hooks,
  m_method,
  m_path,
  m_query,
  m_headers,
  m_body,
  m_body_base64,
  m_status,
  m_set,
  m_add,
  m_remove,
};

struct Name {
  std::string_view text;
  Member member;
};

constexpr Name input_members[] = {
    {"request", m_request}, {"response", m_response}, {"client", m_client}, {"route", m_route}, {"hooks", m_hooks}};
constexpr Name result_members[] = {{"request", m_request}, {"response", m_response}, {"respond", m_respond}};
constexpr Name request_members[] = {{"method", m_method}, {"path", m_path},          {"query", m_query},
                                    {"headers", m_headers}, {"body", m_body}, {"bodyBase64", m_body_base64}};
constexpr Name response_members[] = {
    {"status", m_status}, {"headers", m_headers}, {"body", m_body}, {"bodyBase64", m_body_base64}};
constexpr Name request_change_members[] = {{"headers", m_headers}, {"body", m_body}, {"bodyBase64", m_body_base64}};
constexpr Name header_change_members[] = {{"set", m_set}, {"add", m_add}, {"remove", m_remove}};

template <std::size_t n>
Member find_member(const Name (&names)[n], std::string_view key) {
  for (const auto& name : names) {
    if (name.text == key) return name.member;
  }
  return unknown;
}

Member member_of(Kind kind, std::string_view key) {
  switch (kind) {
    case Kind::input: return find_member(input_members, key);
    case Kind::result: return find_member(result_members, key);
    case Kind::request: return find_member(request_members, key);
    case Kind::response: return find_member(response_members, key);
    case Kind::request_changes: return find_member(request_change_members, key);
    case Kind::response_changes: return find_member(response_members, key);
    case Kind::header_changes: return find_member(header_change_members, key);
    default: return unknown;
  }
}

struct Frame {
  Kind kind;
  void* target;            // the struct this object or array fills
  Member member = unknown;  // the member whose value comes next
  std::uint32_t seen = 0;
};

// The SAX handler (nlohmann's json_sax interface). Every callback answers
// false to stop ("not mine: ask the definition").
class Reader {
 public:
  using number_integer_t = Json::number_integer_t;
  using number_unsigned_t = Json::number_unsigned_t;
  using number_float_t = Json::number_float_t;
  using string_t = Json::string_t;
  using binary_t = Json::binary_t;

  Reader(Kind root, void* target) : root_(root), root_target_(target) {}

  /// True if `text` was read completely into the target.
  bool read(std::string_view text) { return Json::sax_parse(text, this) && done_; }

  bool null() {
    if (skipping_) return true;
    if (depth_ == 0) return done_ = root_ == Kind::result;  // null: a result that changes nothing
    const Frame& frame = top();
    switch (frame.kind) {
      // Where from_json reads null as "absent".
      case Kind::result:
      case Kind::request_changes:
      case Kind::response_changes:
      case Kind::header_changes: return true;
      default: return scalar_ignored();
    }
  }

  bool boolean(bool) { return scalar_ignored(); }
  bool number_float(number_float_t, const string_t&) { return scalar_ignored(); }
  bool binary(binary_t&) { return false; }
  bool number_integer(number_integer_t value) { return status(value); }
  bool number_unsigned(number_unsigned_t value) {
    return value <= 599 ? status(static_cast<long long>(value)) : scalar_ignored();
  }

  bool string(string_t& text) {
    if (skipping_) return true;
    if (depth_ == 0) return false;
    Frame& frame = top();
    switch (frame.kind) {
      case Kind::input: {
        auto& input = *static_cast<FilterInput*>(frame.target);
        if (frame.member == m_client) return assign(input.client, text);
        if (frame.member == m_route) return assign(input.route, text);
        return frame.member == unknown;
      }
      case Kind::request: {
        auto& request = *static_cast<Request*>(frame.target);
        if (frame.member == m_method) return assign(request.method, text);
        if (frame.member == m_path) return assign(request.path, text);
        if (frame.member == m_body) return assign(request.body, text);
        if (frame.member == m_body_base64) return decode_base64(request.body, text);
        return frame.member == unknown;
      }
      case Kind::response: {
        auto& response = *static_cast<Response*>(frame.target);
        if (frame.member == m_body) return assign(response.body, text);
        if (frame.member == m_body_base64) return decode_base64(response.body, text);
        return frame.member == unknown;
      }
      case Kind::request_changes:
        return change_body(static_cast<RequestChanges*>(frame.target)->body, frame.member, text);
      case Kind::response_changes:
        return change_body(static_cast<ResponseChanges*>(frame.target)->body, frame.member, text);
      case Kind::header_changes: return frame.member == unknown;
      case Kind::header_fields:
      case Kind::query_fields:
      case Kind::field_values: return field_value(frame, text);
      case Kind::remove_names: {
        if (!valid_field_name(text)) return false;
        lower(text);
        static_cast<std::vector<std::string>*>(frame.target)->push_back(std::move(text));
        return true;
      }
      case Kind::hook_names: {
        if (!hook_from_string(text)) return false;
        static_cast<std::vector<std::string>*>(frame.target)->push_back(std::move(text));
        return true;
      }
      case Kind::result: return false;
    }
    return false;
  }

  bool start_object(std::size_t) {
    if (!enter()) return false;
    if (skipping_) return true;
    if (depth_ == 1) return push(root_, root_target_);
    Frame& frame = stack_[depth_ - 2];
    switch (frame.kind) {
      case Kind::input: {
        auto& input = *static_cast<FilterInput*>(frame.target);
        if (frame.member == m_request) return push(Kind::request, &input.request);
        if (frame.member == m_response) return push(Kind::response, &input.response.emplace());
        return skip(frame);
      }
      case Kind::result: {
        auto& result = *static_cast<FilterResult*>(frame.target);
        if (frame.member == m_request) return push(Kind::request_changes, &result.request);
        if (frame.member == m_response) return push(Kind::response_changes, &result.response);
        if (frame.member == m_respond) return push(Kind::response, &result.respond.emplace());
        return false;
      }
      case Kind::request: {
        auto& request = *static_cast<Request*>(frame.target);
        if (frame.member == m_query) return push(Kind::query_fields, &request.query);
        if (frame.member == m_headers) return push(Kind::header_fields, &request.headers);
        return skip(frame);
      }
      case Kind::response: {
        if (frame.member == m_headers) return push(Kind::header_fields, &static_cast<Response*>(frame.target)->headers);
        return skip(frame);
      }
      case Kind::request_changes: {
        if (frame.member == m_headers) {
          return push(Kind::header_changes, &static_cast<RequestChanges*>(frame.target)->headers);
        }
        return skip(frame);
      }
      case Kind::response_changes: {
        if (frame.member == m_headers) {
          return push(Kind::header_changes, &static_cast<ResponseChanges*>(frame.target)->headers);
        }
        return skip(frame);
      }
      case Kind::header_changes: {
        auto& changes = *static_cast<HeaderChanges*>(frame.target);
        if (frame.member == m_set) return push(Kind::header_fields, &changes.set);
        if (frame.member == m_add) return push(Kind::header_fields, &changes.add);
        return skip(frame);
      }
      default: return false;
    }
  }

  bool start_array(std::size_t) {
    if (!enter()) return false;
    if (skipping_) return true;
    if (depth_ == 1) return false;
    Frame& frame = stack_[depth_ - 2];
    switch (frame.kind) {
      case Kind::input:
        if (frame.member == m_hooks) return push(Kind::hook_names, &static_cast<FilterInput*>(frame.target)->hooks);
        return skip(frame);
      case Kind::header_changes:
        if (frame.member == m_remove) {
          return push(Kind::remove_names, &static_cast<HeaderChanges*>(frame.target)->remove);
        }
        return skip(frame);
      case Kind::header_fields:
      case Kind::query_fields: return push(Kind::field_values, frame.target);
      case Kind::request:
      case Kind::response:
      case Kind::request_changes:
      case Kind::response_changes: return skip(frame);
      default: return false;
    }
  }

  bool key(string_t& key) {
    if (skipping_) return true;
    Frame& frame = top();
    if (frame.kind == Kind::header_fields || frame.kind == Kind::query_fields) {
      auto& fields = *static_cast<Fields*>(frame.target);
      if (frame.kind == Kind::header_fields && !valid_field_name(key)) return false;
      // A repeated name (from_json keeps its last value): ask the definition.
      // The scan is linear, so past max_scanned_fields the definition (a
      // sorted map) reads the object instead: a hostile reply or query with
      // 100,000 names must not cost 10^10 comparisons.
      if (fields.size() >= max_scanned_fields) return false;
      if (std::any_of(fields.begin(), fields.end(), [&](const auto& field) { return field.first == key; })) return false;
      field_name_ = std::move(key);
      return true;
    }
    Member member = member_of(frame.kind, key);
    if (member == unknown) {
      frame.member = unknown;
      return frame.kind != Kind::result;  // from_json names an unknown member of a result
    }
    const std::uint32_t bit = 1u << member;
    if (frame.seen & bit) return false;  // a repeated member: from_json keeps the last one
    frame.seen |= bit;
    frame.member = member;
    // The full forms refuse body and bodyBase64 together, even with a null.
    constexpr std::uint32_t both = (1u << m_body) | (1u << m_body_base64);
    return !((frame.kind == Kind::request || frame.kind == Kind::response) && (frame.seen & both) == both);
  }

  bool end_object() { return leave(); }
  bool end_array() { return leave(); }

  template <class Exception>
  bool parse_error(std::size_t, const std::string&, const Exception&) {
    return false;  // the definition parses it again and throws this error
  }

 private:
  static bool is_object(Kind kind) {
    return kind != Kind::field_values && kind != Kind::remove_names && kind != Kind::hook_names;
  }

  static void lower(std::string& text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  }

  static bool assign(std::string& to, std::string& text) {
    to = std::move(text);
    return true;
  }

  static bool decode_base64(Bytes& to, const std::string& text) {
    try {
      to = base64_decode(text);
      return true;
    } catch (const std::invalid_argument&) {
      return false;
    }
  }

  // A change's body: "body" or "bodyBase64", not both (a null is absent).
  static bool change_body(std::optional<Bytes>& body, Member member, std::string& text) {
    if (member == unknown) return true;
    if ((member != m_body && member != m_body_base64) || body) return false;
    if (member == m_body) {
      body = std::move(text);
      return true;
    }
    return decode_base64(body.emplace(), text);
  }

  bool field_value(const Frame& frame, std::string& text) {
    bool header = frame.kind == Kind::header_fields ||
                  (frame.kind == Kind::field_values && stack_[depth_ - 2].kind == Kind::header_fields);
    if (header && !valid_field_value(text)) return false;
    static_cast<Fields*>(frame.target)->emplace_back(field_name_, std::move(text));
    return true;
  }

  // A number: a status where one is read, else ignored only where unknown.
  bool status(long long value) {
    if (skipping_) return true;
    if (depth_ == 0) return false;
    Frame& frame = top();
    if (frame.member == m_status && value >= 100 && value <= 599) {
      if (frame.kind == Kind::response) {
        static_cast<Response*>(frame.target)->status = static_cast<int>(value);
        return true;
      }
      if (frame.kind == Kind::response_changes) {
        static_cast<ResponseChanges*>(frame.target)->status = static_cast<int>(value);
        return true;
      }
    }
    return scalar_ignored();
  }

  bool scalar_ignored() {
    if (skipping_) return true;
    if (depth_ == 0) return false;
    const Frame& frame = top();
    return is_object(frame.kind) && frame.kind != Kind::header_fields && frame.kind != Kind::query_fields &&
           frame.member == unknown;
  }

  Frame& top() { return stack_[depth_ - 1]; }

  bool enter() {
    if (skipping_) {
      ++skipping_;
      return ++depth_ <= protocol::max_json_depth;
    }
    return ++depth_ <= protocol::max_json_depth && depth_ <= stack_.size();
  }

  bool push(Kind kind, void* target) {
    stack_[depth_ - 1] = Frame{kind, target};
    return true;
  }

  // An object or array under a member from_json does not read: skipped.
  bool skip(const Frame& parent) {
    if (parent.member != unknown) return false;
    skipping_ = 1;
    return true;
  }

  bool leave() {
    --depth_;
    if (skipping_) {
      --skipping_;
      return true;
    }
    const Frame& frame = stack_[depth_];
    if (!close(frame)) return false;
    if (depth_ == 0) done_ = true;
    return true;
  }

  // What from_json checks once an object is complete.
  bool close(const Frame& frame) {
    switch (frame.kind) {
      case Kind::input: return (frame.seen & (1u << m_request)) != 0;
      case Kind::request: {
        const auto& request = *static_cast<const Request*>(frame.target);
        return (frame.seen & (1u << m_method)) && (frame.seen & (1u << m_path)) && valid_field_name(request.method) &&
               request.path.rfind('/', 0) == 0;
      }
      case Kind::response: return (frame.seen & (1u << m_status)) != 0;
      case Kind::header_fields:
      case Kind::query_fields: {
        // from_json reads an object's members in name order (nlohmann sorts
        // them), then lower-cases header names.
        auto& fields = *static_cast<Fields*>(frame.target);
        auto by_name = [](const auto& a, const auto& b) { return a.first < b.first; };
        if (!std::is_sorted(fields.begin(), fields.end(), by_name)) {
          std::stable_sort(fields.begin(), fields.end(), by_name);
        }
        if (frame.kind == Kind::header_fields) {
          for (auto& field : fields) lower(field.first);
        }
        return true;
      }
      default: return true;
    }
  }

  const Kind root_;
  void* const root_target_;
  // Known members nest at most 5 deep (result.request.headers.set.name[]);
  // anything deeper is skipped, counted in depth_ only.
  std::array<Frame, 6> stack_{};
  std::size_t depth_ = 0;
  std::size_t skipping_ = 0;
  std::string field_name_;
  bool done_ = false;
};

}  // namespace

FilterInput plugvisor_json_decode(detail::Tag<FilterInput>, std::string_view text) {
  FilterInput input;
  if (Reader(Kind::input, &input).read(text)) return input;
  return protocol::parse_json(text).get<FilterInput>();  // the definition: its value or its error
}

FilterResult plugvisor_json_decode(detail::Tag<FilterResult>, std::string_view text) {
  FilterResult result;
  if (Reader(Kind::result, &result).read(text)) return result;
  return protocol::parse_json(text).get<FilterResult>();  // the definition: its value or its error
}

}  // namespace plugvisor::http
