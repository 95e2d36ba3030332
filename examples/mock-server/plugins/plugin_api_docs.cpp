// plugin-api-docs: an httpHandler that serves API documentation for the mock
// server: static assets embedded in the binary (style.css, docs.js) and an
// HTML page generated from its config type mock.routes, which the mock
// server fills with its routes (RoutesDoc below is that config type).
//
// It answers GET under its base path (default /docs) and declines (null)
// everything else, so that the chain goes on.
#include <memory>
#include <string>
#include <vector>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/sdk.hpp"

namespace {

namespace http = plugvisor::http;
using plugvisor::Json;

// The config type: what the page is generated from.
struct RouteDoc {
  std::string method;
  std::string path;
  std::string description;
  bool auth = false;
  std::string data_source;
};

struct RoutesDoc {
  std::string title = "Mock API";
  std::string base_path = "/docs";
  std::vector<RouteDoc> routes;
};

void from_json(const Json& j, RouteDoc& r) {
  j.at("method").get_to(r.method);
  j.at("path").get_to(r.path);
  r.description = j.value("description", "");
  r.auth = j.value("auth", false);
  r.data_source = j.value("dataSource", "");
}

void from_json(const Json& j, RoutesDoc& d) {
  d.title = j.value("title", d.title);
  d.base_path = j.value("basePath", d.base_path);
  if (j.contains("routes")) j.at("routes").get_to(d.routes);
}

constexpr const char* routes_doc_schema = R"({"type": "object", "properties": {
  "title": {"type": "string"}, "basePath": {"type": "string", "pattern": "^/[A-Za-z0-9._/-]*$"},
  "routes": {"type": "array", "items": {"type": "object", "required": ["method", "path"], "properties": {
    "method": {"type": "string"}, "path": {"type": "string"}, "description": {"type": "string"},
    "auth": {"type": "boolean"}, "dataSource": {"type": "string"}}}}}})";

// The embedded assets.
constexpr std::string_view style_css = R"(body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
h1 { font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid #ddd; }
.method { font: 600 13px monospace; padding: .1rem .4rem; border-radius: 3px; background: #e8f0fe; }
.lock { color: #b00; }
input { padding: .3rem; width: 20rem; margin-bottom: 1rem; }
)";

constexpr std::string_view docs_js = R"(// Filters the route table as you type.
document.addEventListener('DOMContentLoaded', () => {
  const box = document.getElementById('filter');
  box.addEventListener('input', () => {
    const needle = box.value.toLowerCase();
    for (const row of document.querySelectorAll('tbody tr')) {
      row.hidden = !row.textContent.toLowerCase().includes(needle);
    }
  });
});
)";

std::string escape_html(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string page(const RoutesDoc& doc) {
  std::string html = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + escape_html(doc.title) +
                     "</title>\n<link rel=\"stylesheet\" href=\"" + escape_html(doc.base_path) +
                     "/assets/style.css\"><script src=\"" + escape_html(doc.base_path) +
                     "/assets/docs.js\"></script></head>\n<body><h1>" + escape_html(doc.title) + "</h1>\n<p>" +
                     std::to_string(doc.routes.size()) +
                     " routes. Requests no route serves go to the response generators, then to the handler chain.</p>\n"
                     "<input id=\"filter\" placeholder=\"filter routes\">\n<table><thead><tr><th>method</th><th>path</th>"
                     "<th>description</th><th>auth</th><th>data</th></tr></thead><tbody>\n";
  for (const auto& route : doc.routes) {
    html += "<tr><td><span class=\"method\">" + escape_html(route.method) + "</span></td><td><code>" +
            escape_html(route.path) + "</code></td><td>" + escape_html(route.description) + "</td><td>" +
            (route.auth ? "<span class=\"lock\">required</span>" : "") + "</td><td>" + escape_html(route.data_source) +
            "</td></tr>\n";
  }
  return html + "</tbody></table></body></html>\n";
}

class ApiDocs final : public http::HttpHandler {
 public:
  explicit ApiDocs(RoutesDoc doc) : doc_(std::move(doc)), page_(page(doc_)) {}

  http::HandlerReply handle(const http::Request& request) override {
    if (request.method != "GET") return {};
    const std::string& base = doc_.base_path;
    if (request.path == base || request.path == base + "/") return {reply("text/html; charset=utf-8", page_)};
    if (request.path == base + "/assets/style.css") return {reply("text/css", std::string(style_css))};
    if (request.path == base + "/assets/docs.js") return {reply("text/javascript", std::string(docs_js))};
    if (request.path == base + "/routes.json") {
      Json routes = Json::array();
      for (const auto& r : doc_.routes) routes.push_back({{"method", r.method}, {"path", r.path}, {"description", r.description}});
      return {reply("application/json", routes.dump(2) + "\n")};
    }
    return {};  // not mine
  }

 private:
  static http::Response reply(const char* type, std::string body) {
    return http::Response{200, {{"content-type", type}, {"cache-control", "no-cache"}}, std::move(body)};
  }

  RoutesDoc doc_;
  std::string page_;
};

}  // namespace

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin({.name = "api-docs", .version = "1.0.0", .description = "API documentation pages"});
  plugin.config_type("mock.routes", Json::parse(routes_doc_schema));
  plugin.provide<http::HttpHandler>(
      "apiDocs",
      [](const plugvisor::sdk::Config& config) {
        const auto& data = config.data("mock.routes");
        return std::make_shared<ApiDocs>(data.is_object() ? data.get<RoutesDoc>() : RoutesDoc{});
      },
      {.description = "GET /docs: a page generated from config type mock.routes, with embedded assets"});
  return plugin.run(argc, argv);
}
