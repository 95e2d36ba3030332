// bench-filters: httpFilter types for the proxy section of plugvisor-bench
// (proxy.cpp), all served by this one process:
//
//   bench-tag-1 ... bench-tag-5   requestHeaders: sets x-bench-tag-N: on
//   bench-upper                   responseBody: the body in upper case
//
// Five filter types in one process is the case a cross-type batch would
// serve (docs/contracts.md, "Why a chain makes one call per filter").
#include <cctype>
#include <string>
#include <vector>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/sdk.hpp"

namespace {

using namespace plugvisor;

class Tag final : public http::HttpFilterPlugin {
 public:
  explicit Tag(std::string header) : header_(std::move(header)) {}
  http::FilterResult request_headers(const http::FilterInput&) override {
    http::FilterResult result;
    result.request.headers.set.emplace_back(header_, "on");
    return result;
  }

 private:
  std::string header_;
};

class Upper final : public http::HttpFilterPlugin {
 public:
  http::FilterResult response_body(const http::FilterInput& input) override {
    http::FilterResult result;
    Bytes body = input.response ? input.response->body : Bytes();
    for (char& c : body) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    result.response.body = std::move(body);
    return result;
  }
};

}  // namespace

int main(int argc, char** argv) {
  sdk::Plugin plugin({.name = "bench-filters", .version = "1.0.0", .description = "httpFilter types for the benchmark"});
  std::vector<http::FilterOffer<sdk::Config>> offers;
  for (int i = 1; i <= 5; ++i) {
    std::string header = "x-bench-tag-" + std::to_string(i);
    offers.push_back({"bench-tag-" + std::to_string(i),
                      {http::Hook::request_headers},
                      [header](const sdk::Config&) -> std::shared_ptr<http::HttpFilterPlugin> {
                        return std::make_shared<Tag>(header);
                      },
                      "sets " + header});
  }
  offers.push_back({"bench-upper",
                    {http::Hook::response_body},
                    [](const sdk::Config&) -> std::shared_ptr<http::HttpFilterPlugin> {
                      return std::make_shared<Upper>();
                    },
                    "the response body in upper case"});
  http::provide_filters<sdk::Config>(plugin, offers);
  return plugin.run(argc, argv);
}
