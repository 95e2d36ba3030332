// FilterChain: runs httpFilter providers at the hooks, with per-filter
// hooks, patterns, timeout, failure mode and circuit breaker.
#include <algorithm>
#include <mutex>

#include "plugvisor/contracts/http.hpp"

namespace plugvisor::http {

namespace {

using Clock = std::chrono::steady_clock;

// Consecutive failures open the circuit for the cool-down; then one call at a
// time is let through as a trial (half-open), and its success closes it.
class Breaker {
 public:
  Breaker(int threshold, std::chrono::milliseconds cool_down) : threshold_(threshold), cool_down_(cool_down) {}

  // Whether a call may go out now; if not, how long until the next trial.
  bool admit(std::chrono::milliseconds& retry_after) {
    std::lock_guard lock(mutex_);
    if (threshold_ <= 0 || failures_ < threshold_) return true;
    auto now = Clock::now();
    if (now >= open_until_ && !trial_in_flight_) {
      trial_in_flight_ = true;
      return true;
    }
    retry_after = std::max(std::chrono::milliseconds(1000),
                           std::chrono::ceil<std::chrono::milliseconds>(open_until_ - std::min(now, open_until_)));
    return false;
  }
  void succeeded() {
    std::lock_guard lock(mutex_);
    failures_ = 0;
    trial_in_flight_ = false;
  }
  void failed() {
    std::lock_guard lock(mutex_);
    trial_in_flight_ = false;
    if (failures_ < threshold_) ++failures_;
    if (threshold_ > 0 && failures_ >= threshold_) open_until_ = protocol::deadline_after(cool_down_);
  }

 private:
  std::mutex mutex_;
  const int threshold_;
  const std::chrono::milliseconds cool_down_;
  int failures_ = 0;
  bool trial_in_flight_ = false;
  Clock::time_point open_until_{};
};

// A path pattern split at compile time: the literal run before its first
// wildcard is checked with one comparison before path_matches runs, so that
// on the bypass most patterns cost a prefix compare.
struct Pattern {
  std::string text;
  std::size_t literal = 0;  // length of the prefix without '*' or '?'

  explicit Pattern(std::string pattern) : text(std::move(pattern)), literal(text.find_first_of("*?")) {
    if (literal == std::string::npos) literal = text.size();
  }
  bool matches(std::string_view path) const noexcept {
    if (path.substr(0, literal) != std::string_view(text).substr(0, literal)) return false;
    return literal == text.size() ? path.size() == literal : path_matches(text, path);
  }
};

struct Filter {
  FilterSpec spec;
  HookSet hooks;         // resolved: what runs
  bool can_batch = false;
  std::unique_ptr<Breaker> breaker;
  std::vector<Pattern> patterns;  // spec.paths, compiled
};

FilterResult call_hook(HttpFilter& filter, Hook hook, const FilterInput& input) {
  switch (hook) {
    case Hook::request_headers: return filter.request_headers(input);
    case Hook::request_body: return filter.request_body(input);
    case Hook::generate_response: return filter.generate_response(input);
    case Hook::response_headers: return filter.response_headers(input);
    case Hook::response_body: return filter.response_body(input);
  }
  return {};
}

HookSet provider_hooks(const Registry& registry, const std::string& type) {
  HookSet out;
  for (Hook hook : all_hooks) {
    if (registry.supports(ContractTraits<HttpFilter>::name, type, to_string(hook))) out.add(hook);
  }
  return out;
}

}  // namespace

struct FilterChain::State {
  const Registry& registry;
  std::vector<Filter> filters;  // by priority, highest first
  std::vector<FilterSpec> specs;
};

bool path_matches(std::string_view pattern, std::string_view path) noexcept {
  // Wildcard matching with one backtrack point (the last '*'): O(n*m) worst case, no recursion.
  std::size_t p = 0, s = 0, star = std::string_view::npos, resume = 0;
  while (s < path.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == path[s])) {
      ++p;
      ++s;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = s;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      s = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

FilterChain::FilterChain(const Registry& registry, std::vector<FilterSpec> specs)
    : state_(std::make_unique<State>(State{registry, {}, {}})) {
  std::stable_sort(specs.begin(), specs.end(), [](const auto& a, const auto& b) { return a.priority > b.priority; });
  for (auto& spec : specs) {
    std::string where = "filter '" + spec.type + "'";
    if (!registry.find<HttpFilter>(spec.type)) {
      throw Error(ErrorCode::config, where + ": no httpFilter provider of type '" + spec.type +
                                         "' (is its plugin in the plugin directory, and did it start?)");
    }
    if (spec.timeout <= std::chrono::milliseconds::zero()) {
      throw Error(ErrorCode::config, where + ": timeout must be above zero (e.g. \"200ms\")");
    }
    for (const auto& pattern : spec.paths) {
      if (pattern.empty() || (pattern[0] != '/' && pattern[0] != '*')) {
        throw Error(ErrorCode::config, where + ": path pattern \"" + pattern + "\" must start with '/' or '*'");
      }
    }
    HookSet offered = provider_hooks(registry, spec.type);
    HookSet hooks = spec.hooks.value_or(offered);
    for (Hook hook : hooks.list()) {
      if (!offered.has(hook)) {
        throw Error(ErrorCode::config, where + ": its provider does not implement " + std::string(to_string(hook)) +
                                           " (it implements " + offered.names() + "); remove it from hooks");
      }
    }
    bool can_batch = registry.supports(ContractTraits<HttpFilter>::name, spec.type, "batch");
    auto breaker = std::make_unique<Breaker>(spec.breaker_failures, spec.breaker_cool_down);
    std::vector<Pattern> patterns(spec.paths.begin(), spec.paths.end());
    state_->specs.push_back(spec);
    state_->filters.push_back(Filter{std::move(spec), hooks, can_batch, std::move(breaker), std::move(patterns)});
  }
}

FilterChain::~FilterChain() = default;

const std::vector<FilterSpec>& FilterChain::specs() const noexcept { return state_->specs; }

FilterSelection FilterChain::select(std::string_view path) const {
  FilterSelection selection;
  for (std::size_t i = 0; i < state_->filters.size(); ++i) {
    const Filter& filter = state_->filters[i];
    if (filter.hooks.empty()) continue;
    const auto& patterns = filter.patterns;
    bool wanted = patterns.empty() || std::any_of(patterns.begin(), patterns.end(),
                                                  [&](const Pattern& pattern) { return pattern.matches(path); });
    if (!wanted) continue;
    selection.entries_.emplace_back(i, filter.hooks);
    selection.union_ = selection.union_ | filter.hooks;
  }
  return selection;
}

namespace {

// One filter's hooks of one phase: one call (batch) or one per hook.
// Returns the changes to apply, checked against the hooks; throws Error.
// Sends `input` as it is (the caller leaves out what the hooks do not see)
// and changes it only on success, when a provider without batch ran several
// hooks one by one: their changes are then in `input` already.
FilterResult run_filter(const Registry& registry, const Filter& filter, HookSet hooks, FilterInput& input) {
  std::shared_ptr<HttpFilter> object = registry.find<HttpFilter>(filter.spec.type);
  if (!object) {
    throw Error(ErrorCode::unavailable, "no active httpFilter provider of type '" + filter.spec.type + "'");
  }
  DeadlineScope deadline(filter.spec.timeout);
  FilterResult result;
  // One hook (the common case): no list built.
  std::size_t count = 0;
  Hook only = Hook::request_headers;
  for (Hook hook : all_hooks) {
    if (hooks.has(hook)) {
      only = hook;
      ++count;
    }
  }
  if (count == 1) {
    result = call_hook(*object, only, input);
    check_result_fits(result, hooks);
    return result;
  }
  std::vector<Hook> list = hooks.list();
  if (filter.can_batch) {
    input.hooks.clear();
    for (Hook hook : list) input.hooks.emplace_back(to_string(hook));
    struct Clear {
      std::vector<std::string>& hooks;
      ~Clear() { hooks.clear(); }
    } clear{input.hooks};
    result = object->batch(input);
    check_result_fits(result, hooks);
    return result;
  }
  // Without batch: each hook on the result of the one before, on a copy
  // (a failure half-way leaves the request as it was).
  FilterInput local = input;
  for (Hook hook : list) {
    FilterResult step = call_hook(*object, hook, local);
    check_result_fits(step, HookSet{hook});
    apply(step.request, local.request);
    if (local.response) apply(step.response, *local.response);
    if (step.respond) {
      result.respond = std::move(step.respond);
      break;
    }
  }
  input.request = std::move(local.request);
  input.response = std::move(local.response);
  return result;  // no changes left to apply: they are in `input`
}

// Takes a body out of what a filter is sent, and puts it back however the
// call ends (unless the filter replaced it: then `keep` is false).
class BodyAside {
 public:
  BodyAside(Bytes& body, bool aside) : body_(body), aside_(aside) {
    if (aside_) held_ = std::exchange(body_, Bytes());
  }
  ~BodyAside() {
    if (aside_) body_ = std::move(held_);
  }
  BodyAside(const BodyAside&) = delete;
  BodyAside& operator=(const BodyAside&) = delete;

 private:
  Bytes& body_;
  bool aside_;
  Bytes held_;
};

FilterFailure failure_of(const Filter& filter, const Error& e) {
  return FilterFailure{filter.spec.type, e.code(), e.what(), false};
}

}  // namespace

RequestVerdict FilterChain::on_request(const FilterSelection& selection, FilterInput& input, bool with_body) {
  RequestVerdict verdict;
  // Every selected filter sees the request's head as JSON strings (the
  // response hooks too): one that is not UTF-8 cannot be shown to them.
  if (auto where = selection.empty() ? std::nullopt : not_utf8_part(input.request)) {
    verdict.respond = error_response(400, ErrorCode::invalid_input,
                                     *where + " of the request is not UTF-8 text, which the filters of this path "
                                              "need (they see it as a JSON string): send UTF-8, and percent-encode "
                                              "other bytes in a path or query");
    verdict.closed = true;
    return verdict;
  }
  HookSet phase = HookSet::request_phase();
  if (!with_body) phase = HookSet{Hook::request_headers, Hook::generate_response};
  for (const auto& [index, selected] : selection.entries_) {
    Filter& filter = state_->filters[index];
    HookSet hooks = selected & phase;
    if (hooks.empty()) continue;
    std::chrono::milliseconds retry_after{0};
    if (!filter.breaker->admit(retry_after)) {
      FilterFailure failure{filter.spec.type, ErrorCode::unavailable,
                            "its circuit is open after repeated failures; the next trial call is in " +
                                protocol::format_duration(retry_after),
                            true};
      verdict.failures.push_back(failure);
      if (filter.spec.failure == FailureMode::fail_closed) {
        verdict.respond = filter_failure_response(failure, retry_after);
        verdict.closed = true;
        return verdict;
      }
      continue;
    }
    try {
      FilterResult result;
      {
        // The request is sent as it is, not copied; its body only to a body hook.
        BodyAside aside(input.request.body, !hooks.has(Hook::request_body));
        result = run_filter(state_->registry, filter, hooks, input);
      }
      filter.breaker->succeeded();
      apply(result.request, input.request);
      if (result.respond) {
        verdict.respond = std::move(result.respond);
        return verdict;
      }
    } catch (const Error& e) {
      filter.breaker->failed();
      verdict.failures.push_back(failure_of(filter, e));
      if (filter.spec.failure == FailureMode::fail_closed) {
        verdict.respond = filter_failure_response(verdict.failures.back(), std::chrono::milliseconds(0));
        verdict.closed = true;
        return verdict;
      }
    }
  }
  return verdict;
}

std::vector<FilterFailure> FilterChain::on_response(const FilterSelection& selection, const FilterInput& input,
                                                    Response& response, bool with_body) {
  std::vector<FilterFailure> failures;
  HookSet phase = with_body ? HookSet::response_phase() : HookSet{Hook::response_headers};
  bool any = std::any_of(selection.entries_.begin(), selection.entries_.end(),
                         [&](const auto& entry) { return !(entry.second & phase).empty(); });
  if (!any) return failures;  // no response hook: nothing to build or send
  if (auto where = not_utf8_part(response)) {
    response = error_response(502, ErrorCode::bad_reply,
                              *where + " of the upstream's response is not UTF-8 text, which the response filters "
                                       "of this path need (they see it as a JSON string)");
    return failures;
  }
  // What every filter of the phase is sent: the request's head, built once
  // (response hooks cannot change the request), and the response.
  FilterInput sent{Request{input.request.method, input.request.path, input.request.query, input.request.headers, {}},
                   std::nullopt, input.client, input.route, {}};
  for (auto it = selection.entries_.rbegin(); it != selection.entries_.rend(); ++it) {
    Filter& filter = state_->filters[it->first];
    HookSet hooks = it->second & phase;
    if (hooks.empty()) continue;
    std::chrono::milliseconds retry_after{0};
    if (!filter.breaker->admit(retry_after)) {
      failures.push_back(FilterFailure{filter.spec.type, ErrorCode::unavailable,
                                       "its circuit is open after repeated failures; the next trial call is in " +
                                           protocol::format_duration(retry_after),
                                       true});
      if (filter.spec.failure == FailureMode::fail_closed) {
        response = filter_failure_response(failures.back(), retry_after);
        return failures;
      }
      continue;
    }
    try {
      FilterResult result;
      {
        // The request's head (never its body) and the response, moved in and
        // back out however the call ends; the response body only to a body hook.
        BodyAside aside(response.body, !hooks.has(Hook::response_body));
        sent.response = std::move(response);
        struct Return {
          FilterInput& sent;
          Response& response;
          ~Return() { response = std::move(*sent.response); }
        } give_back{sent, response};
        result = run_filter(state_->registry, filter, hooks, sent);
      }
      filter.breaker->succeeded();
      apply(result.response, response);
    } catch (const Error& e) {
      filter.breaker->failed();
      failures.push_back(failure_of(filter, e));
      if (filter.spec.failure == FailureMode::fail_closed) {
        response = filter_failure_response(failures.back(), std::chrono::milliseconds(0));
        return failures;
      }
    }
  }
  return failures;
}

Response filter_failure_response(const FilterFailure& failure, std::chrono::milliseconds retry_after) {
  bool unavailable = failure.circuit_open || failure.code == ErrorCode::unavailable;
  std::string message = "filter '" + failure.type + "' (fail-closed) " +
                        (failure.circuit_open ? std::string("is not called: ")
                                              : "failed (" + std::string(to_string(failure.code)) + "): ") +
                        failure.message;
  Response response = error_response(unavailable ? 503 : 502, unavailable ? ErrorCode::unavailable : failure.code,
                                     message);
  if (unavailable && retry_after.count() > 0) {
    response.headers.emplace_back("retry-after", std::to_string((retry_after.count() + 999) / 1000));
  }
  return response;
}

}  // namespace plugvisor::http
