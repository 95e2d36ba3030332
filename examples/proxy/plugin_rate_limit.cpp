// plugin-proxy-rate-limit: an httpFilter that limits requests per client
// address and route with a token bucket, answering 429 with Retry-After
// from generateResponse. Config type proxy.rate-limit:
//
//   {"rate": 5, "burst": 10, "routes": {"api": {"rate": 1, "burst": 3}}, "maxKeys": 100000}
//
// rate: tokens per second; burst: the bucket's size. A route without its
// own entry uses the top-level rate and burst. maxKeys bounds the memory an
// address-spraying client can make it hold: past it, the least recently
// seen buckets are forgotten (which only ever lets a request through).
#include <cmath>
#include <map>
#include <mutex>
#include <unordered_map>

#include "plugvisor/contracts/http.hpp"
#include "plugvisor/sdk.hpp"

namespace {

using namespace plugvisor;
using Clock = std::chrono::steady_clock;

struct Limit {
  double rate = 5;
  double burst = 10;
};

Limit limit_from(const Json& j, Limit fallback) {
  Limit limit = fallback;
  if (!j.is_object()) return limit;
  limit.rate = j.value("rate", fallback.rate);
  limit.burst = j.value("burst", fallback.burst);
  return limit;
}

class RateLimiter final : public http::HttpFilterPlugin {
 public:
  explicit RateLimiter(const Json& config)
      : default_(limit_from(config, Limit{})), max_keys_(config.value("maxKeys", std::size_t{100000})) {
    const Json routes = config.value("routes", Json::object());  // named: items() of a temporary would dangle
    for (const auto& [route, entry] : routes.items()) {
      routes_[route] = limit_from(entry, default_);
    }
  }

  http::FilterResult generate_response(const http::FilterInput& input) override {
    Limit limit = default_;
    if (auto it = routes_.find(input.route); it != routes_.end()) limit = it->second;
    double wait_seconds = take(input.client + " " + input.route, limit);
    if (wait_seconds <= 0) return {};
    auto retry_after = static_cast<long long>(std::ceil(wait_seconds));
    http::FilterResult result;
    std::string message = "rate limit for " + input.client + " on route '" + input.route + "': " +
                          format(limit.rate) + " requests a second, bursts of " + format(limit.burst) +
                          "; retry in " + std::to_string(retry_after) + " s";
    result.respond = http::Response{429,
                                    {{"content-type", "application/json"}, {"retry-after", std::to_string(retry_after)}},
                                    Json{{"error", {{"code", "rate_limited"}, {"message", message}}}}.dump() + "\n"};
    return result;
  }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point seen;
  };

  static std::string format(double value) {
    std::string text = std::to_string(value);
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.') text.pop_back();
    return text;
  }

  // Takes a token; returns 0, or the seconds until one is there.
  double take(const std::string& key, Limit limit) {
    auto now = Clock::now();
    std::lock_guard lock(mutex_);
    auto [it, added] = buckets_.try_emplace(key, Bucket{limit.burst, now});
    if (added && buckets_.size() > max_keys_) forget_oldest();
    Bucket& bucket = it->second;
    double elapsed = std::chrono::duration<double>(now - bucket.seen).count();
    bucket.tokens = std::min(limit.burst, bucket.tokens + elapsed * limit.rate);
    bucket.seen = now;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return limit.rate > 0 ? (1 - bucket.tokens) / limit.rate : 3600;
  }

  void forget_oldest() {
    // Amortized: drop the older half at once, so this O(n) pass runs rarely.
    std::vector<Clock::time_point> seen;
    seen.reserve(buckets_.size());
    for (const auto& [key, bucket] : buckets_) seen.push_back(bucket.seen);
    auto middle = seen.begin() + static_cast<std::ptrdiff_t>(seen.size() / 2);
    std::nth_element(seen.begin(), middle, seen.end());
    std::erase_if(buckets_, [&](const auto& entry) { return entry.second.seen < *middle; });
  }

  Limit default_;
  std::map<std::string, Limit> routes_;
  std::size_t max_keys_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace

int main(int argc, char** argv) {
  sdk::Plugin plugin({.name = "proxy-rate-limit", .version = "1.0.0", .description = "token-bucket rate limiter"});
  const char* limit_schema = R"({"type": "object", "properties": {
      "rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000},
      "burst": {"type": "number", "minimum": 1, "maximum": 1000000}}})";
  Json schema = Json::parse(limit_schema);
  schema["properties"]["routes"] = {{"type", "object"}, {"additionalProperties", Json::parse(limit_schema)}};
  schema["properties"]["maxKeys"] = {{"type", "integer"}, {"minimum", 1}, {"maximum", 100000000}};
  plugin.config_type("proxy.rate-limit", schema);
  http::provide_filters<sdk::Config>(
      plugin, {{"rate-limit",
                {http::Hook::generate_response},
                [](const sdk::Config& config) -> std::shared_ptr<http::HttpFilterPlugin> {
                  const Json& data = config.data("proxy.rate-limit");
                  return std::make_shared<RateLimiter>(data.is_object() ? data : Json::object());
                },
                "429 with Retry-After past a token bucket per client and route"}});
  return plugin.run(argc, argv);
}
