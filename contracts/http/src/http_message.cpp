// The JSON forms of Request, Response and HandlerReply (docs/contracts.md).
#include <algorithm>
#include <cctype>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/wire/http1.hpp"

namespace plugvisor::http {

namespace {

[[noreturn]] void refuse(const std::string& message) { throw Error(ErrorCode::invalid_input, message); }

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

Json fields_to_json(const Fields& fields) {
  Json out = Json::object();
  for (const auto& [name, value] : fields) {
    auto it = out.find(name);
    if (it == out.end()) {
      out[name] = value;
    } else if (it->is_string()) {
      *it = Json::array({it->get<std::string>(), value});
    } else {
      it->push_back(value);
    }
  }
  return out;
}

// `headers`: names must be tokens and are lower-cased; values must not break
// the framing. Query fields are data and may hold anything.
Fields fields_from_json(const Json& j, std::string_view where, bool headers) {
  if (!j.is_object()) refuse(std::string(where) + " must be an object of strings (or arrays of strings)");
  Fields out;
  auto add = [&](const std::string& name, const Json& value) {
    if (!value.is_string()) {
      refuse(std::string(where) + "." + name + " must be a string or an array of strings, not " + value.type_name());
    }
    const auto& text = value.get_ref<const std::string&>();
    if (headers && !detail::http1::valid_field_value(text)) {
      refuse(std::string(where) + "." + name + " holds a byte a header value may not (CR, LF, NUL or a control)");
    }
    out.emplace_back(headers ? lower(name) : name, text);
  };
  for (const auto& [name, value] : j.items()) {
    if (headers && !detail::http1::valid_field_name(name)) {
      refuse(std::string(where) + " name \"" + name + "\" is not an HTTP token");
    }
    if (value.is_array()) {
      for (const auto& item : value) add(name, item);
    } else {
      add(name, value);
    }
  }
  return out;
}

void body_to_json(Json& j, const Bytes& body) {
  if (body.empty()) return;
  if (valid_utf8(body)) {
    j["body"] = body;
  } else {
    j["bodyBase64"] = base64_encode(body);
  }
}

Bytes body_from_json(const Json& j) {
  auto text = j.find("body");
  auto encoded = j.find("bodyBase64");
  if (text != j.end() && encoded != j.end()) refuse("give body or bodyBase64, not both");
  if (text != j.end() && !text->is_null()) {
    if (!text->is_string()) refuse(std::string("body must be a string, not ") + text->type_name());
    return text->get<std::string>();
  }
  if (encoded != j.end() && !encoded->is_null()) {
    if (!encoded->is_string()) refuse(std::string("bodyBase64 must be a string, not ") + encoded->type_name());
    try {
      return base64_decode(encoded->get_ref<const std::string&>());
    } catch (const std::invalid_argument& e) {
      refuse(std::string("bodyBase64 is not base64: ") + e.what());
    }
  }
  return {};
}

const Json& require_object(const Json& j, std::string_view what) {
  if (!j.is_object()) refuse(std::string(what) + " must be a JSON object, not " + j.type_name());
  return j;
}

}  // namespace

Json fields_json(const Fields& fields) { return fields_to_json(fields); }

Fields header_fields_from_json(const Json& j, std::string_view where) { return fields_from_json(j, where, true); }

std::optional<std::string_view> field(const Fields& fields, std::string_view name) {
  for (const auto& [key, value] : fields) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

void to_json(Json& j, const Request& request) {
  // Member by member: a braced initializer list would deep-copy each nested object.
  j = Json::object();
  j["method"] = request.method;
  j["path"] = request.path;
  j["query"] = fields_to_json(request.query);
  j["headers"] = fields_to_json(request.headers);
  body_to_json(j, request.body);
}

void from_json(const Json& j, Request& request) {
  require_object(j, "a request");
  auto method = j.find("method");
  if (method == j.end() || !method->is_string() || !detail::http1::valid_field_name(method->get<std::string>())) {
    refuse("a request's method must be an HTTP token such as \"GET\"");
  }
  auto path = j.find("path");
  if (path == j.end() || !path->is_string() || path->get_ref<const std::string&>().rfind('/', 0) != 0) {
    refuse("a request's path must be a string starting with '/'");
  }
  request.method = method->get<std::string>();
  request.path = path->get<std::string>();
  request.query = j.contains("query") ? fields_from_json(j.at("query"), "query", false) : Fields{};
  request.headers = j.contains("headers") ? fields_from_json(j.at("headers"), "headers", true) : Fields{};
  request.body = body_from_json(j);
}

void to_json(Json& j, const Response& response) {
  j = Json::object();
  j["status"] = response.status;
  j["headers"] = fields_to_json(response.headers);
  body_to_json(j, response.body);
}

void from_json(const Json& j, Response& response) {
  require_object(j, "a response");
  auto status = j.find("status");
  if (status == j.end() || !status->is_number_integer() || status->get<long long>() < 100 ||
      status->get<long long>() > 599) {
    refuse("a response's status must be an integer from 100 to 599");
  }
  response.status = status->get<int>();
  response.headers = j.contains("headers") ? fields_from_json(j.at("headers"), "headers", true) : Fields{};
  response.body = body_from_json(j);
}

void to_json(Json& j, const HandlerReply& reply) {
  if (reply.response) {
    to_json(j, *reply.response);
  } else {
    j = nullptr;
  }
}

void from_json(const Json& j, HandlerReply& reply) {
  if (j.is_null()) {
    reply.response.reset();
    return;
  }
  Response response;
  from_json(j, response);
  reply.response = std::move(response);
}

Response error_response(int status, ErrorCode code, std::string_view message) {
  return Response{status, {{"content-type", "application/json"}}, protocol::error_body(code, message).dump() + "\n"};
}

namespace {

std::optional<std::string> not_utf8_field(const Fields& fields, const char* what) {
  for (const auto& [name, value] : fields) {
    if (!valid_utf8(name)) return std::string("a ") + what + " name";
    if (!valid_utf8(value)) return std::string(what) + " '" + name + "'";
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> not_utf8_part(const Request& request) {
  if (!valid_utf8(request.method)) return std::string("the method");
  if (!valid_utf8(request.path)) return std::string("the path");
  if (auto where = not_utf8_field(request.query, "query parameter")) return where;
  return not_utf8_field(request.headers, "header");
}

std::optional<std::string> not_utf8_part(const Response& response) {
  return not_utf8_field(response.headers, "header");
}

bool connection_pseudo_header(std::string_view name) noexcept {
  static constexpr std::string_view names[] = {"remote_addr", "remote_port", "local_addr", "local_port"};
  return std::any_of(std::begin(names), std::end(names),
                     [&](std::string_view n) { return detail::http1::iequals(n, name); });
}

}  // namespace plugvisor::http
