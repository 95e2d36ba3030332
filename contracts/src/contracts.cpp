#include "plugvisor/contracts.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace plugvisor {

namespace {

struct CodeName {
  ErrorCode code;
  std::string_view name;
  int status;
  bool plugin_may_answer;  ///< a wire code (protocol.md §10.6), not one of the manager's own
};

constexpr std::array<CodeName, 12> code_names{{
    {ErrorCode::invalid_input, "invalid_input", 400, true},
    {ErrorCode::unauthorized, "unauthorized", 401, true},
    {ErrorCode::not_found, "not_found", 404, true},
    {ErrorCode::too_large, "too_large", 413, true},
    {ErrorCode::internal, "internal", 500, true},
    {ErrorCode::unavailable, "unavailable", 503, true},
    {ErrorCode::timeout, "timeout", 504, false},
    {ErrorCode::crashed, "crashed", 502, false},
    {ErrorCode::bad_reply, "bad_reply", 502, false},
    {ErrorCode::start_failed, "start_failed", 503, false},
    {ErrorCode::conflict, "conflict", 409, false},
    {ErrorCode::config, "config", 400, false},
}};

thread_local std::optional<std::chrono::steady_clock::time_point> current_deadline;

}  // namespace

std::string_view to_string(ErrorCode code) noexcept {
  for (const auto& entry : code_names) {
    if (entry.code == code) return entry.name;
  }
  return "internal";
}

std::optional<ErrorCode> error_code_from_string(std::string_view name) noexcept {
  for (const auto& entry : code_names) {
    if (entry.name == name) return entry.code;
  }
  return std::nullopt;
}

bool plugin_may_answer(ErrorCode code) noexcept {
  for (const auto& entry : code_names) {
    if (entry.code == code) return entry.plugin_may_answer;
  }
  return false;
}

int http_status(ErrorCode code) noexcept {
  for (const auto& entry : code_names) {
    if (entry.code == code) return entry.status;
  }
  return 500;
}

Error::Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

std::string_view content_type(Encoding encoding) noexcept {
  return encoding == Encoding::bytes ? "application/octet-stream" : "application/json";
}

namespace protocol {

std::optional<std::size_t> json_too_deep_at(std::string_view text) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_json_depth) return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

Json parse_json(std::string_view text) {
  // A pre-scan, so that nothing recursive ever sees a document too deep.
  if (auto at = json_too_deep_at(text)) {
    throw Error(ErrorCode::invalid_input, "JSON nested deeper than " + std::to_string(max_json_depth) +
                                              " levels is refused (at byte " + std::to_string(*at) + ")");
  }
  return Json::parse(text);
}

Json parse_json_or_discarded(std::string_view text) {
  if (json_too_deep_at(text)) return Json(Json::value_t::discarded);
  return Json::parse(text, nullptr, false);
}

std::chrono::milliseconds parse_duration(std::string_view text) {
  auto fail = [&]() -> Error {
    return Error(ErrorCode::config, "invalid duration '" + std::string(text) +
                                        "': use a whole number with a unit, e.g. 250ms, 10s, 5m, 1h, or 0");
  };
  if (text == "0") return std::chrono::milliseconds(0);
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data() || text.front() == '-') throw fail();
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  constexpr std::int64_t limit = std::int64_t{1} << 40;  // ~35 years in ms: no overflow below
  if (value > limit) throw fail();
  if (unit == "ms") return std::chrono::milliseconds(value);
  if (unit == "s") return std::chrono::seconds(value);
  if (unit == "m") return std::chrono::minutes(value);
  if (unit == "h") return std::chrono::hours(value);
  throw fail();
}

std::string format_duration(std::chrono::milliseconds duration) {
  auto ms = duration.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

Json error_body(ErrorCode code, std::string_view message) {
  return Json{{"error", {{"code", std::string(to_string(code))}, {"message", std::string(message)}}}};
}

std::chrono::steady_clock::time_point deadline_after(std::chrono::milliseconds budget,
                                                     std::chrono::steady_clock::time_point now) noexcept {
  using namespace std::chrono;
  using Clock = steady_clock;
  if (budget.count() <= 0) return now;
  // Compare in milliseconds, where neither the clock's end nor `now` can
  // overflow; only a budget known to fit is converted to the clock's unit.
  const auto end_ms = floor<milliseconds>(Clock::duration::max());
  const auto now_ms = floor<milliseconds>(now.time_since_epoch());
  if (budget >= end_ms || budget >= end_ms - now_ms) return Clock::time_point::max();
  return now + duration_cast<Clock::duration>(budget);
}

std::optional<std::chrono::milliseconds> parse_deadline_ms(std::string_view text) noexcept {
  if (text.empty() || text.size() > max_deadline_digits) return std::nullopt;
  std::uint64_t value = 0;  // 19 digits always fit in 64 unsigned bits
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  constexpr auto most = static_cast<std::uint64_t>(std::chrono::milliseconds::max().count());
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::min(value, most)));
}

}  // namespace protocol

DeadlineScope::DeadlineScope(std::chrono::milliseconds budget) : previous_(current_deadline) {
  auto deadline = protocol::deadline_after(budget);
  current_deadline = previous_ ? std::min(*previous_, deadline) : deadline;
}

DeadlineScope::~DeadlineScope() { current_deadline = previous_; }

std::optional<std::chrono::steady_clock::time_point> DeadlineScope::current() noexcept {
  return current_deadline;
}

const std::vector<const ContractInfo*>& builtin_contracts() {
  static const std::vector<const ContractInfo*> contracts{&contract_info<PluginBase>(), &contract_info<DataProcessor>()};
  return contracts;
}

const ContractInfo* find_builtin_contract(std::string_view name) noexcept {
  for (const ContractInfo* contract : builtin_contracts()) {
    if (contract->description.name == name) return contract;
  }
  return nullptr;
}

}  // namespace plugvisor
