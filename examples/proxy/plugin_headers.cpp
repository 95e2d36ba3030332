// plugin-proxy-headers: an httpFilter that adds, sets, removes and renames
// request and response headers from its configuration (config type
// proxy.headers), and gives every request an id.
//
//   {"request":  {"set": {"x-via": "proxy"}, "remove": ["x-debug"], "rename": {"x-old": "x-new"}},
//    "response": {"remove": ["server"], "add": {"x-frame-options": "DENY"}},
//    "requestId": "x-request-id"}
//
// requestId: a header name; a request without it gets a random id there,
// and the response carries the request's id back.
#include <random>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/sdk.hpp"

namespace {

using namespace plugvisor;
using http::FilterInput;
using http::FilterResult;
using http::HeaderChanges;

// One direction's rules; `rename` turns into remove + add of the old values.
struct Rules {
  HeaderChanges fixed;
  std::vector<std::pair<std::string, std::string>> rename;

  HeaderChanges changes_for(const http::Fields& headers) const {
    HeaderChanges out = fixed;
    for (const auto& [from, to] : rename) {
      bool found = false;
      for (const auto& [name, value] : headers) {
        if (name != from) continue;
        out.add.emplace_back(to, value);
        found = true;
      }
      if (found) out.remove.push_back(from);
    }
    return out;
  }
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Rules rules_from(const Json& j, const std::string& where) {
  Rules rules;
  if (j.is_null()) return rules;
  if (!j.is_object()) throw std::invalid_argument(where + " must be an object with set, add, remove, rename");
  // The shared JSON form of header changes checks names and values.
  http::FilterResult probe = Json{{"request", {{"headers", Json{{"set", j.value("set", Json::object())},
                                                                 {"add", j.value("add", Json::object())},
                                                                 {"remove", j.value("remove", Json::array())}}}}}}
                                     .get<http::FilterResult>();
  rules.fixed = probe.request.headers;
  const Json rename = j.value("rename", Json::object());  // named: items() of a temporary would dangle
  if (!rename.is_object()) throw std::invalid_argument(where + ".rename must be an object from old name to new name");
  for (const auto& [from, to] : rename.items()) {
    if (!to.is_string()) throw std::invalid_argument(where + ".rename." + from + " must be a header name");
    rules.rename.emplace_back(lower(from), lower(to.get<std::string>()));
  }
  return rules;
}

class HeaderFilter final : public http::HttpFilterPlugin {
 public:
  explicit HeaderFilter(const Json& config)
      : request_(rules_from(config.value("request", Json()), "proxy.headers.request")),
        response_(rules_from(config.value("response", Json()), "proxy.headers.response")),
        request_id_(lower(config.value("requestId", std::string()))) {}

  FilterResult request_headers(const FilterInput& input) override {
    FilterResult result;
    result.request.headers = request_.changes_for(input.request.headers);
    if (!request_id_.empty() && !input.request.header(request_id_)) {
      result.request.headers.set.emplace_back(request_id_, new_id());
    }
    return result;
  }

  FilterResult response_headers(const FilterInput& input) override {
    FilterResult result;
    result.response.headers = response_.changes_for(input.response ? input.response->headers : http::Fields{});
    if (!request_id_.empty()) {
      if (auto id = input.request.header(request_id_)) result.response.headers.set.emplace_back(request_id_, *id);
    }
    return result;
  }

 private:
  static std::string new_id() {
    thread_local std::mt19937_64 random{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(32, '0');
    for (std::size_t i = 0; i < id.size(); i += 16) {
      std::uint64_t bits = random();
      for (std::size_t k = 0; k < 16; ++k, bits >>= 4) id[i + k] = hex[bits & 0xf];
    }
    return id;
  }

  Rules request_;
  Rules response_;
  std::string request_id_;
};

}  // namespace

int main(int argc, char** argv) {
  sdk::Plugin plugin({.name = "proxy-headers", .version = "1.0.0", .description = "adds, sets, removes and renames headers"});
  plugin.config_type("proxy.headers", Json::parse(R"({"type": "object", "additionalProperties": false, "properties": {
      "request": {"type": "object"}, "response": {"type": "object"}, "requestId": {"type": "string"}}})"));
  http::provide_filters<sdk::Config>(
      plugin, {{"headers",
                {http::Hook::request_headers, http::Hook::response_headers},
                [](const sdk::Config& config) -> std::shared_ptr<http::HttpFilterPlugin> {
                  const Json& data = config.data("proxy.headers");
                  return std::make_shared<HeaderFilter>(data.is_object() ? data : Json::object());
                },
                "header rules from config type proxy.headers"}});
  return plugin.run(argc, argv);
}
