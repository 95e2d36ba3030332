// httpFilter: hook names, the JSON forms of FilterInput and FilterResult,
// applying modifications, and the plugin-side batch.
#include <algorithm>
#include <cctype>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/wire/http1.hpp"

namespace plugvisor::http {

namespace {

constexpr std::array<std::string_view, 5> hook_names{"requestHeaders", "requestBody", "generateResponse",
                                                     "responseHeaders", "responseBody"};

[[noreturn]] void refuse(const std::string& message) { throw Error(ErrorCode::invalid_input, message); }

void put_body(Json& j, const Bytes& body) {
  if (valid_utf8(body)) {
    j["body"] = body;
  } else {
    j["bodyBase64"] = base64_encode(body);
  }
}

// The body of a change: absent means "keep"; "body" or "bodyBase64" replaces.
std::optional<Bytes> take_body(const Json& j, std::string_view where) {
  auto text = j.find("body");
  auto encoded = j.find("bodyBase64");
  bool has_text = text != j.end() && !text->is_null();
  bool has_encoded = encoded != j.end() && !encoded->is_null();
  if (has_text && has_encoded) refuse(std::string(where) + ": give body or bodyBase64, not both");
  if (has_text) {
    if (!text->is_string()) refuse(std::string(where) + ".body must be a string, not " + text->type_name());
    return text->get<std::string>();
  }
  if (has_encoded) {
    if (!encoded->is_string()) refuse(std::string(where) + ".bodyBase64 must be a string");
    try {
      return base64_decode(encoded->get_ref<const std::string&>());
    } catch (const std::invalid_argument& e) {
      refuse(std::string(where) + ".bodyBase64 is not base64: " + e.what());
    }
  }
  return std::nullopt;
}

Json header_changes_json(const HeaderChanges& changes) {
  Json j = Json::object();
  if (!changes.set.empty()) j["set"] = fields_json(changes.set);
  if (!changes.add.empty()) j["add"] = fields_json(changes.add);
  if (!changes.remove.empty()) j["remove"] = changes.remove;
  return j;
}

HeaderChanges header_changes_from_json(const Json& j, const std::string& where) {
  if (!j.is_object()) refuse(where + " must be an object with set, add and remove");
  HeaderChanges out;
  if (auto it = j.find("set"); it != j.end() && !it->is_null()) out.set = header_fields_from_json(*it, where + ".set");
  if (auto it = j.find("add"); it != j.end() && !it->is_null()) out.add = header_fields_from_json(*it, where + ".add");
  if (auto it = j.find("remove"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) refuse(where + ".remove must be an array of header names");
    for (const auto& name : *it) {
      if (!name.is_string() || !detail::http1::valid_field_name(name.get_ref<const std::string&>())) {
        refuse(where + ".remove holds " + name.dump() + ", which is not an HTTP header name");
      }
      std::string lower = name.get<std::string>();
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      out.remove.push_back(std::move(lower));
    }
  }
  return out;
}

void apply_headers(const HeaderChanges& changes, Fields& headers) {
  auto drop = [&](const std::string& name) {
    std::erase_if(headers, [&](const auto& field) { return field.first == name; });
  };
  for (const auto& name : changes.remove) drop(name);
  for (const auto& [name, value] : changes.set) drop(name);
  for (const auto& field : changes.set) headers.push_back(field);
  for (const auto& field : changes.add) headers.push_back(field);
}

void merge_headers(HeaderChanges& into, const HeaderChanges& from) {
  // Later changes win: a later remove or set of a name cancels earlier set/add of it.
  auto forget = [&](const std::string& name) {
    std::erase_if(into.set, [&](const auto& f) { return f.first == name; });
    std::erase_if(into.add, [&](const auto& f) { return f.first == name; });
  };
  for (const auto& name : from.remove) {
    forget(name);
    into.remove.push_back(name);
  }
  for (const auto& [name, value] : from.set) forget(name);
  into.set.insert(into.set.end(), from.set.begin(), from.set.end());
  into.add.insert(into.add.end(), from.add.begin(), from.add.end());
}

bool has_request_part(const FilterResult& r) { return !r.request.headers.empty() || r.request.body.has_value(); }
bool has_response_part(const FilterResult& r) {
  return !r.response.headers.empty() || r.response.body.has_value() || r.response.status.has_value();
}

}  // namespace

std::string_view to_string(Hook hook) noexcept { return hook_names[static_cast<std::size_t>(hook)]; }

std::optional<Hook> hook_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < hook_names.size(); ++i) {
    if (hook_names[i] == name) return all_hooks[i];
  }
  return std::nullopt;
}

std::vector<Hook> HookSet::list() const {
  std::vector<Hook> out;
  for (Hook hook : all_hooks) {
    if (has(hook)) out.push_back(hook);
  }
  return out;
}

std::string HookSet::names() const {
  std::string out;
  for (Hook hook : list()) out += (out.empty() ? "" : ", ") + std::string(to_string(hook));
  return out.empty() ? "none" : out;
}

void to_json(Json& j, const FilterResult& result) {
  j = Json::object();
  if (has_request_part(result)) {
    Json request = Json::object();
    if (!result.request.headers.empty()) request["headers"] = header_changes_json(result.request.headers);
    if (result.request.body) put_body(request, *result.request.body);
    j["request"] = std::move(request);
  }
  if (has_response_part(result)) {
    Json response = Json::object();
    if (result.response.status) response["status"] = *result.response.status;
    if (!result.response.headers.empty()) response["headers"] = header_changes_json(result.response.headers);
    if (result.response.body) put_body(response, *result.response.body);
    j["response"] = std::move(response);
  }
  if (result.respond) j["respond"] = *result.respond;
}

namespace {

// A filter result or input that breaks the form is a JSON error, so that the
// method table reports it as the caller expects: bad_reply on the host (a
// malformed answer), invalid_input in a plugin (a malformed call).
template <class Read>
void as_json_error(const Json& j, Read read) {
  try {
    read();
  } catch (const Error& e) {
    throw Json::other_error::create(501, e.what(), &j);
  }
}

void read_result(const Json& j, FilterResult& result) {
  result = FilterResult{};
  if (j.is_null()) return;
  if (!j.is_object()) refuse(std::string("a filter result must be an object (or null), not ") + j.type_name());
  for (const auto& [key, value] : j.items()) {
    if (key != "request" && key != "response" && key != "respond") {
      refuse("a filter result has no member \"" + key + "\" (request, response, respond)");
    }
  }
  if (auto it = j.find("request"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) refuse("request must be an object with headers and body");
    if (auto h = it->find("headers"); h != it->end() && !h->is_null()) {
      result.request.headers = header_changes_from_json(*h, "request.headers");
    }
    result.request.body = take_body(*it, "request");
  }
  if (auto it = j.find("response"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) refuse("response must be an object with status, headers and body");
    if (auto s = it->find("status"); s != it->end() && !s->is_null()) {
      if (!s->is_number_integer() || s->get<long long>() < 100 || s->get<long long>() > 599) {
        refuse("response.status must be an integer from 100 to 599, not " + s->dump());
      }
      result.response.status = s->get<int>();
    }
    if (auto h = it->find("headers"); h != it->end() && !h->is_null()) {
      result.response.headers = header_changes_from_json(*h, "response.headers");
    }
    result.response.body = take_body(*it, "response");
  }
  if (auto it = j.find("respond"); it != j.end() && !it->is_null()) {
    Response response;
    from_json(*it, response);
    result.respond = std::move(response);
  }
}

void read_input(const Json& j, FilterInput& input) {
  if (!j.is_object() || !j.contains("request")) refuse("a filter input must be an object with a request");
  j.at("request").get_to(input.request);
  input.response.reset();
  if (auto it = j.find("response"); it != j.end() && !it->is_null()) input.response = it->get<Response>();
  input.client = j.contains("client") && j.at("client").is_string() ? j.at("client").get<std::string>() : "";
  input.route = j.contains("route") && j.at("route").is_string() ? j.at("route").get<std::string>() : "";
  input.hooks.clear();
  if (auto it = j.find("hooks"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) refuse("hooks must be an array of hook names");
    for (const auto& name : *it) {
      if (!name.is_string() || !hook_from_string(name.get_ref<const std::string&>())) {
        refuse("hooks holds " + name.dump() + ", which is not a hook (requestHeaders, requestBody, "
               "generateResponse, responseHeaders, responseBody)");
      }
      input.hooks.push_back(name.get<std::string>());
    }
  }
}

}  // namespace

void from_json(const Json& j, FilterResult& result) {
  as_json_error(j, [&] { read_result(j, result); });
}

void to_json(Json& j, const FilterInput& input) {
  // Member by member: a braced initializer list would deep-copy the request's JSON.
  j = Json::object();
  to_json(j["request"], input.request);
  j["client"] = input.client;
  j["route"] = input.route;
  if (input.response) to_json(j["response"], *input.response);
  if (!input.hooks.empty()) j["hooks"] = input.hooks;
}

void from_json(const Json& j, FilterInput& input) {
  as_json_error(j, [&] { read_input(j, input); });
}

void check_result_fits(const FilterResult& result, HookSet hooks) {
  auto fail = [&](const std::string& part, const std::string& allowed) {
    throw Error(ErrorCode::bad_reply, "the filter answered " + part + " from " + hooks.names() + "; only " +
                                          allowed + " may change it");
  };
  if (!result.request.headers.empty() && !hooks.has(Hook::request_headers) && !hooks.has(Hook::request_body)) {
    fail("request header changes", "requestHeaders and requestBody");
  }
  if (result.request.body && !hooks.has(Hook::request_body)) fail("a request body", "requestBody");
  if (result.respond && !hooks.has(Hook::generate_response)) fail("a response to send (respond)", "generateResponse");
  if ((result.response.status || !result.response.headers.empty()) && !hooks.has(Hook::response_headers) &&
      !hooks.has(Hook::response_body)) {
    fail("a response status or header change", "responseHeaders and responseBody");
  }
  if (result.response.body && !hooks.has(Hook::response_body)) fail("a response body", "responseBody");
}

void apply(const RequestChanges& changes, Request& request) {
  apply_headers(changes.headers, request.headers);
  if (changes.body) request.body = *changes.body;
}

void apply(const ResponseChanges& changes, Response& response) {
  if (changes.status) response.status = *changes.status;
  apply_headers(changes.headers, response.headers);
  if (changes.body) response.body = *changes.body;
}

ContractDescription filter_description(HookSet hooks) {
  ContractDescription description = describe<HttpFilter>();
  std::erase_if(description.methods, [&](const MethodDescription& method) {
    auto hook = hook_from_string(method.name);
    return hook && !hooks.has(*hook);
  });
  return description;
}

FilterResult HttpFilterPlugin::batch(const FilterInput& input) {
  FilterInput local = input;
  FilterResult total;
  for (const auto& name : input.hooks) {
    Hook hook = *hook_from_string(name);  // from_json checked the names
    FilterResult step;
    switch (hook) {
      case Hook::request_headers: step = request_headers(local); break;
      case Hook::request_body: step = request_body(local); break;
      case Hook::generate_response: step = generate_response(local); break;
      case Hook::response_headers: step = response_headers(local); break;
      case Hook::response_body: step = response_body(local); break;
    }
    apply(step.request, local.request);
    if (local.response) apply(step.response, *local.response);
    merge_headers(total.request.headers, step.request.headers);
    if (step.request.body) total.request.body = std::move(step.request.body);
    merge_headers(total.response.headers, step.response.headers);
    if (step.response.status) total.response.status = step.response.status;
    if (step.response.body) total.response.body = std::move(step.response.body);
    if (step.respond) {
      total.respond = std::move(step.respond);
      break;
    }
  }
  return total;
}

}  // namespace plugvisor::http
