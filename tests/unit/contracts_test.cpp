// Contracts: the wire vocabulary, the method tables, and the typed wrappers.
#include <catch2/catch.hpp>

#include "plugvisor/contracts.hpp"

using namespace std::chrono_literals;
using plugvisor::Encoding;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Payload;

namespace {

class Shout final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::Bytes input) override { return input + "!"; }
  std::vector<std::string> supported_formats() override { return {"text/plain", "text/markdown"}; }
};

/// A channel that records what a typed wrapper sends and answers by dispatch.
class RecordingChannel final : public plugvisor::Channel {
 public:
  Payload call(std::string_view method, Payload input) override {
    methods.emplace_back(method);
    inputs.push_back(input);
    return plugvisor::dispatch<plugvisor::DataProcessor>(impl, method, input);
  }
  Shout impl;
  std::vector<std::string> methods;
  std::vector<Payload> inputs;
};

}  // namespace

TEST_CASE("error codes map to their wire names and HTTP statuses", "[contracts][errors]") {
  CHECK(plugvisor::to_string(ErrorCode::invalid_input) == "invalid_input");
  CHECK(plugvisor::http_status(ErrorCode::unauthorized) == 401);
  CHECK(plugvisor::http_status(ErrorCode::not_found) == 404);
  CHECK(plugvisor::http_status(ErrorCode::too_large) == 413);
  CHECK(plugvisor::http_status(ErrorCode::internal) == 500);
  CHECK(plugvisor::http_status(ErrorCode::unavailable) == 503);
  CHECK(plugvisor::error_code_from_string("timeout") == ErrorCode::timeout);
  CHECK_FALSE(plugvisor::error_code_from_string("nonsense").has_value());
  auto body = plugvisor::protocol::error_body(ErrorCode::not_found, "no such type");
  CHECK(body.dump() == R"({"error":{"code":"not_found","message":"no such type"}})");
}

TEST_CASE("durations parse and format in the protocol's units", "[contracts][duration]") {
  using plugvisor::protocol::format_duration;
  using plugvisor::protocol::parse_duration;
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("10s") == 10s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("0") == 0ms);
  CHECK(format_duration(300000ms) == "5m");
  CHECK(format_duration(1500ms) == "1500ms");
  CHECK(format_duration(0ms) == "0");
  for (const char* bad : {"", "5 m", "-1s", "-0", "1d", "ms", "1.5s", "10"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_duration(bad), Error);
  }
  CHECK_THROWS_WITH(parse_duration("1d"), Catch::Contains("'1d'") && Catch::Contains("250ms"));
}

TEST_CASE("JSON one level deeper than max_json_depth is refused by every parser of outside JSON, at its bracket",
          "[contracts][json][hostile]") {
  namespace protocol = plugvisor::protocol;
  const std::size_t limit = protocol::max_json_depth;
  auto nested = [](std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  CHECK_FALSE(protocol::json_too_deep_at(nested(limit)));
  CHECK(protocol::json_too_deep_at(nested(limit + 1)) == limit);
  // Brackets inside strings, escaped quotes included, do not count.
  CHECK_FALSE(protocol::json_too_deep_at("[\"\\\"" + std::string(300, '[') + "\"]"));
  CHECK(protocol::parse_json(nested(limit)).is_array());
  try {
    protocol::parse_json(nested(limit + 1));
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::invalid_input);
    CHECK_THAT(e.what(), Catch::Contains("deeper than " + std::to_string(limit) + " levels") &&
                             Catch::Contains("at byte " + std::to_string(limit)));
  }
  CHECK(protocol::parse_json_or_discarded(nested(limit)).is_array());
  CHECK(protocol::parse_json_or_discarded(nested(200'000)).is_discarded());
  CHECK(protocol::parse_json_or_discarded("{").is_discarded());
  CHECK(protocol::parse_json_or_discarded("1e999999").is_discarded());
}

TEST_CASE("names follow the protocol's pattern", "[contracts][names]") {
  using plugvisor::protocol::is_valid_name;
  CHECK(is_valid_name("plugin-text-tools"));
  CHECK(is_valid_name("a.b_c-9"));
  CHECK_FALSE(is_valid_name(""));
  CHECK_FALSE(is_valid_name(".hidden"));
  CHECK_FALSE(is_valid_name("-dash"));
  CHECK_FALSE(is_valid_name("has space"));
  CHECK_FALSE(is_valid_name("slash/inside"));
  CHECK_FALSE(is_valid_name(std::string(65, 'a')));
  CHECK(is_valid_name(std::string(64, 'a')));
}

TEST_CASE("the typed wrapper encodes each method as the contract declares", "[contracts][wrapper]") {
  auto channel = std::make_shared<RecordingChannel>();
  plugvisor::Remote<plugvisor::DataProcessor> remote(channel);

  CHECK(remote.process_data("hi") == "hi!");
  CHECK(remote.supported_formats() == std::vector<std::string>{"text/plain", "text/markdown"});
  remote.ping();

  REQUIRE(channel->methods == std::vector<std::string>{"processData", "supportedFormats", "ping"});
  CHECK(channel->inputs[0].encoding == Encoding::bytes);
  CHECK(channel->inputs[0].body == "hi");
  CHECK(channel->inputs[1].encoding == Encoding::none);
  CHECK(channel->inputs[1].body == "{}");
}

TEST_CASE("dispatch rejects unknown methods and answers void methods with {}", "[contracts][dispatch]") {
  Shout impl;
  auto reply = plugvisor::dispatch<plugvisor::DataProcessor>(impl, "ping", Payload{Encoding::none, "{}"});
  CHECK(reply.encoding == Encoding::none);
  CHECK(reply.body == "{}");
  auto formats = plugvisor::dispatch<plugvisor::DataProcessor>(impl, "supportedFormats", {});
  CHECK(formats.encoding == Encoding::json);
  CHECK(formats.body == R"(["text/plain","text/markdown"])");
  CHECK_THROWS_MATCHES(plugvisor::dispatch<plugvisor::DataProcessor>(impl, "explode", {}), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.code() == ErrorCode::not_found; }));
}

TEST_CASE("a reply that does not decode is a bad_reply error", "[contracts][wrapper]") {
  struct Liar final : plugvisor::Channel {
    Payload call(std::string_view, Payload) override { return {Encoding::json, "{not json"}; }
  };
  plugvisor::Remote<plugvisor::DataProcessor> remote(std::make_shared<Liar>());
  CHECK_THROWS_MATCHES(remote.supported_formats(), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.code() == ErrorCode::bad_reply; }));
}

TEST_CASE("built-in contracts describe their methods' wire encodings", "[contracts][catalog]") {
  const auto* info = plugvisor::find_builtin_contract("dataProcessor");
  REQUIRE(info != nullptr);
  CHECK(info == &plugvisor::contract_info<plugvisor::DataProcessor>());
  const auto& contract = info->description;
  CHECK(contract.version == 1);
  REQUIRE(contract.methods.size() == 3);
  CHECK(contract.methods[0].name == "ping");
  CHECK(contract.methods[1].name == "processData");
  CHECK(contract.methods[1].input == Encoding::bytes);
  CHECK(contract.methods[1].output == Encoding::bytes);
  CHECK(contract.methods[2].input == Encoding::none);
  CHECK(contract.methods[2].output == Encoding::json);
  CHECK(contract.methods[2].output_schema == plugvisor::Json::parse(R"({"type":"array","items":{"type":"string"}})"));
  CHECK(plugvisor::find_builtin_contract("pluginBase") != nullptr);
  CHECK(plugvisor::find_builtin_contract("nope") == nullptr);
}

TEST_CASE("a duration added to the clock saturates at time_point::max, and a negative one is now",
          "[contracts][deadline]") {
  using plugvisor::protocol::deadline_after;
  using Clock = std::chrono::steady_clock;
  const auto now = Clock::now();
  const auto never = Clock::time_point::max();
  CHECK(deadline_after(250ms, now) == now + 250ms);
  CHECK(deadline_after(0ms, now) == now);
  CHECK(deadline_after(-5ms, now) == now);
  CHECK(deadline_after(std::chrono::milliseconds::min(), now) == now);
  // 2^40 s, the longest duration protocol.md 5.3 allows, is past the clock's ~292 years.
  CHECK(deadline_after(std::chrono::seconds(std::int64_t{1} << 40), now) == never);
  CHECK(deadline_after(std::chrono::milliseconds::max(), now) == never);
  CHECK(deadline_after(std::chrono::milliseconds::max(), Clock::time_point{}) == never);
  // At the very end of the clock: what still fits is added, one more saturates.
  const auto end_ms = std::chrono::floor<std::chrono::milliseconds>(Clock::duration::max());
  const auto late = Clock::time_point(end_ms - 10ms);
  CHECK(deadline_after(9ms, late) == late + 9ms);
  CHECK(deadline_after(10ms, late) == never);
  CHECK(deadline_after(1ms, never) == never);
  // The default is now.
  CHECK(deadline_after(1h) - Clock::now() > 59min);
}

TEST_CASE("the deadline header takes 1 to 19 digits, saturating, and nothing else", "[contracts][deadline]") {
  using plugvisor::protocol::parse_deadline_ms;
  CHECK(parse_deadline_ms("250") == 250ms);
  CHECK(parse_deadline_ms("0") == 0ms);
  CHECK(parse_deadline_ms("9223372036854775807") == std::chrono::milliseconds::max());
  CHECK(parse_deadline_ms("9999999999999999999") == std::chrono::milliseconds::max());  // 19 digits, saturated
  for (const char* bad : {"", "-5", "+5", " 5", "5 ", "5ms", "1.5", "0x10", "99999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(parse_deadline_ms(bad).has_value());
  }
  CHECK_FALSE(parse_deadline_ms(std::string(5000, '9')).has_value());
}

TEST_CASE("deadline scopes nest, and an inner one never extends the outer", "[contracts][deadline]") {
  CHECK_FALSE(plugvisor::DeadlineScope::current().has_value());
  {
    plugvisor::DeadlineScope outer(100s);
    auto outer_deadline = *plugvisor::DeadlineScope::current();
    {
      plugvisor::DeadlineScope inner(1000s);
      CHECK(*plugvisor::DeadlineScope::current() == outer_deadline);
    }
    {
      plugvisor::DeadlineScope inner(1ms);
      CHECK(*plugvisor::DeadlineScope::current() < outer_deadline);
    }
    CHECK(*plugvisor::DeadlineScope::current() == outer_deadline);
  }
  CHECK_FALSE(plugvisor::DeadlineScope::current().has_value());
  {
    plugvisor::DeadlineScope forever(std::chrono::seconds(std::int64_t{1} << 40));
    CHECK(*plugvisor::DeadlineScope::current() == std::chrono::steady_clock::time_point::max());
  }
}

namespace {

/// Returns a body it made, and remembers where that body's bytes live.
class Allocating final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::Bytes input) override {
    plugvisor::Bytes out(input.size() * 2, 'r');  // well past the small-string buffer
    made = out.data();
    return out;
  }
  std::vector<std::string> supported_formats() override { return {}; }
  const char* made = nullptr;
};

/// Hands the wrapper a body it made, and remembers where its bytes live.
class ReplyingChannel final : public plugvisor::Channel {
 public:
  Payload call(std::string_view, Payload) override {
    Payload out{Encoding::bytes, std::string(4096, 'r')};
    made = out.body.data();
    return out;
  }
  const char* made = nullptr;
};

}  // namespace

TEST_CASE("a bytes result is moved into the reply payload, not copied", "[contracts][dispatch]") {
  Allocating impl;
  Payload out = plugvisor::dispatch<plugvisor::DataProcessor>(impl, "processData",
                                                             Payload{Encoding::bytes, std::string(4096, 'x')});
  CHECK(out.body.size() == 8192);
  CHECK(static_cast<const void*>(out.body.data()) == static_cast<const void*>(impl.made));
}

TEST_CASE("the typed wrapper moves the reply body into its result", "[contracts][wrapper]") {
  auto channel = std::make_shared<ReplyingChannel>();
  plugvisor::Remote<plugvisor::DataProcessor> remote(channel);
  plugvisor::Bytes result = remote.process_data(std::string(4096, 'x'));
  CHECK(result.size() == 4096);
  CHECK(static_cast<const void*>(result.data()) == static_cast<const void*>(channel->made));
}

namespace {

/// Answers its input itself, and remembers where the input's bytes lived.
class Returning final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::Bytes input) override {
    seen = input.data();
    return input;
  }
  std::vector<std::string> supported_formats() override { return {}; }
  const char* seen = nullptr;
};

/// Records where the request body it was handed lives, and answers a copy.
class BorrowingChannel final : public plugvisor::Channel {
 public:
  Payload call(std::string_view, Payload input) override {
    seen = input.body.data();
    return Payload{Encoding::bytes, input.body};
  }
  const char* seen = nullptr;
};

}  // namespace

TEST_CASE("a bytes input given up is moved into the method, and kept when only lent", "[contracts][dispatch]") {
  Returning impl;
  Payload input{Encoding::bytes, std::string(4096, 'x')};
  const char* bytes = input.body.data();
  SECTION("given up: the method gets the request's buffer itself") {
    Payload out = plugvisor::dispatch<plugvisor::DataProcessor>(impl, "processData", std::move(input));
    CHECK(static_cast<const void*>(impl.seen) == static_cast<const void*>(bytes));
    CHECK(static_cast<const void*>(out.body.data()) == static_cast<const void*>(bytes));
    CHECK(out.body == std::string(4096, 'x'));
  }
  SECTION("lent: the method gets a copy, and the caller's payload is unchanged") {
    Payload out = plugvisor::dispatch<plugvisor::DataProcessor>(impl, "processData", input);
    CHECK(static_cast<const void*>(impl.seen) != static_cast<const void*>(bytes));
    CHECK(input.body == std::string(4096, 'x'));
    CHECK(out.body == input.body);
  }
}

TEST_CASE("the typed wrapper sends a bytes argument given as an rvalue without copying it", "[contracts][wrapper]") {
  auto channel = std::make_shared<BorrowingChannel>();
  plugvisor::Remote<plugvisor::DataProcessor> remote(channel);
  std::string data(4096, 'x');
  const char* bytes = data.data();
  SECTION("moved in: the channel gets the caller's buffer") {
    CHECK(remote.process_data(std::move(data)) == std::string(4096, 'x'));
    CHECK(static_cast<const void*>(channel->seen) == static_cast<const void*>(bytes));
  }
  SECTION("passed as an lvalue: the caller keeps its buffer, the channel gets a copy") {
    CHECK(remote.process_data(data) == std::string(4096, 'x'));
    CHECK(static_cast<const void*>(channel->seen) != static_cast<const void*>(bytes));
    CHECK(data == std::string(4096, 'x'));
  }
}

TEST_CASE("an in-process echo hands the caller's buffer back through the local channel, copying nothing",
          "[contracts][wrapper]") {
  auto impl = std::make_shared<Returning>();
  plugvisor::Remote<plugvisor::DataProcessor> remote(std::make_shared<plugvisor::LocalChannel<plugvisor::DataProcessor>>(impl));
  std::string data(4096, 'y');
  const char* bytes = data.data();
  plugvisor::Bytes out = remote.process_data(std::move(data));
  CHECK(out == std::string(4096, 'y'));
  CHECK(static_cast<const void*>(impl->seen) == static_cast<const void*>(bytes));
  CHECK(static_cast<const void*>(out.data()) == static_cast<const void*>(bytes));
}
