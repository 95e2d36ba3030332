// The filter call's own codec (filter_json_write.cpp, filter_json_read.cpp)
// against the definition it must be: to_json for what it writes, parse_json
// + from_json for what it reads (the same value or the same error), on
// generated documents: valid ones, ones with members in any order, repeated,
// unknown, of the wrong type or value, too deep, truncated or with bytes
// changed.
#include <random>

#include <catch2/catch.hpp>

#include "plugvisor/contracts/http.hpp"

using namespace plugvisor;
using namespace plugvisor::http;
using plugvisor::detail::Tag;

namespace {

class Generator {
 public:
  explicit Generator(unsigned seed) : random_(seed) {}

  bool chance(std::size_t percent) { return pick(100) < percent; }
  std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(random_); }

  std::string text() {
    static const char* const parts[] = {"a", "Z", "-", " ", "\"", "\\", "\n", "\r", "\t", "\x01", "\x1f",
                                        "\x7f", "/", "é", "€", "😀", "0", "{", "]", ":"};
    std::string out;
    for (std::size_t n = pick(7); n > 0; --n) out += parts[pick(std::size(parts))];
    if (chance(2)) out += "\xff";  // not UTF-8
    return out;
  }

  std::string header_name() {
    static const char* const names[] = {"x-a", "X-A", "host", "accept", "x-b", "content-type", "bad name", "", "x-\xc3\xa9"};
    return chance(80) ? names[pick(5)] : names[pick(std::size(names))];
  }

  std::string header_value() {
    static const char* const values[] = {"1", "text/plain", "a b", "é", "\r\nInjected: yes", "\x01"};
    return chance(85) ? values[pick(4)] : values[pick(std::size(values))];
  }

  Fields headers() {
    Fields out;
    for (std::size_t n = pick(5); n > 0; --n) out.emplace_back(header_name(), header_value());
    return out;
  }

  Fields query() {
    Fields out;
    for (std::size_t n = pick(3); n > 0; --n) out.emplace_back(chance(50) ? "q" : text(), text());
    return out;
  }

  Bytes body() {
    if (chance(40)) return {};
    if (chance(20)) return std::string("\x00\xff\x80 binary", 10);
    return text();
  }

  Request request() {
    static const char* const methods[] = {"GET", "POST", "DELETE", "bad method", ""};
    static const char* const paths[] = {"/", "/x/y", "/é?", "x", ""};
    Request out;
    out.method = chance(90) ? methods[pick(3)] : methods[pick(std::size(methods))];
    out.path = chance(90) ? paths[pick(3)] : paths[pick(std::size(paths))];
    out.query = query();
    out.headers = headers();
    out.body = body();
    return out;
  }

  Response response() {
    static const int statuses[] = {200, 404, 100, 599, 99, 600};
    Response out;
    out.status = chance(90) ? statuses[pick(4)] : statuses[pick(std::size(statuses))];
    out.headers = headers();
    out.body = body();
    return out;
  }

  HeaderChanges changes() {
    HeaderChanges out;
    if (chance(60)) out.set = headers();
    if (chance(40)) out.add = headers();
    for (std::size_t n = chance(40) ? pick(3) : 0; n > 0; --n) out.remove.push_back(header_name());
    return out;
  }

  FilterInput input() {
    static const char* const hooks[] = {"requestHeaders", "requestBody", "generateResponse", "responseHeaders",
                                        "responseBody", "bogus"};
    FilterInput out;
    out.request = request();
    if (chance(40)) out.response = response();
    out.client = chance(50) ? "127.0.0.1" : text();
    out.route = text();
    for (std::size_t n = chance(30) ? pick(4) : 0; n > 0; --n) out.hooks.emplace_back(hooks[pick(chance(90) ? 5 : 6)]);
    return out;
  }

  FilterResult result() {
    FilterResult out;
    if (chance(60)) out.request.headers = changes();
    if (chance(20)) out.request.body = body();
    if (chance(30)) out.response.status = chance(90) ? 201 : 700;
    if (chance(40)) out.response.headers = changes();
    if (chance(20)) out.response.body = body();
    if (chance(15)) out.respond = response();
    return out;
  }

  // Something in place of a value: every type, and values at the edges.
  Json value() {
    switch (pick(14)) {
      case 0: return nullptr;
      case 1: return 5;
      case 2: return 99;
      case 3: return 200;
      case 4: return 1000;
      case 5: return -1;
      case 6: return 200.0;
      case 7: return true;
      case 8: return "v é\"\\\n";
      case 9: return Json::array();
      case 10: return Json::object();
      case 11: return Json::array({"x-a", 1});
      case 12: return Json{{"x-a", "1"}, {"requestHeaders", Json::array({"a", "b"})}};
      default: {
        Json deep = Json::array();
        for (std::size_t i = 0; i < protocol::max_json_depth + 2; ++i) deep = Json::array({std::move(deep)});
        return deep;
      }
    }
  }

  // Changes one node somewhere in `j`: replaced, removed, or given an unknown member.
  void mutate(Json& j) {
    Json* node = &j;
    while ((node->is_object() || node->is_array()) && !node->empty() && chance(70)) {
      auto it = node->begin();
      std::advance(it, static_cast<long>(pick(node->size())));
      node = &*it;
    }
    if (node->is_object() && chance(40)) {
      (*node)[chance(50) ? "unknown" : "status"] = value();
    } else {
      *node = value();
    }
  }

  // JSON text of `j` with members in any order, sometimes one written twice.
  std::string dump(const Json& j) {
    if (j.is_object()) {
      std::vector<std::pair<std::string, const Json*>> members;
      for (const auto& [key, value] : j.items()) members.emplace_back(key, &value);
      std::shuffle(members.begin(), members.end(), random_);
      std::string out = "{";
      for (const auto& [key, member] : members) {
        out += (out.size() > 1 ? "," : "") + Json(key).dump() + ":" + dump(*member);
        if (chance(3)) out += "," + Json(key).dump() + ":" + (chance(50) ? dump(*member) : value().dump());
      }
      return out + "}";
    }
    if (j.is_array()) {
      std::string out = "[";
      for (const auto& item : j) out += (out.size() > 1 ? "," : "") + dump(item);
      return out + "]";
    }
    return j.dump();
  }

  std::mt19937 random_;
};

void print(std::string& out, const Fields& fields) {
  for (const auto& [name, value] : fields) out += "[" + name + "=" + value + "]";
  out += ";";
}
void print(std::string& out, const HeaderChanges& changes) {
  print(out, changes.set);
  print(out, changes.add);
  for (const auto& name : changes.remove) out += "[" + name + "]";
  out += ";";
}
void print(std::string& out, const std::optional<Bytes>& body) { out += body ? "<" + *body + ">" : "none"; }
void print(std::string& out, const Response& response) {
  out += std::to_string(response.status);
  print(out, response.headers);
  out += "<" + response.body + ">";
}

// Every member of a value, in order (the types have no ==).
std::string describe(const FilterResult& result) {
  std::string out;
  print(out, result.request.headers);
  print(out, result.request.body);
  out += result.response.status ? std::to_string(*result.response.status) : "-";
  print(out, result.response.headers);
  print(out, result.response.body);
  if (result.respond) print(out, *result.respond);
  return out;
}
std::string describe(const FilterInput& input) {
  std::string out = input.request.method + " " + input.request.path;
  print(out, input.request.query);
  print(out, input.request.headers);
  out += "<" + input.request.body + ">" + input.client + "|" + input.route + "|";
  if (input.response) print(out, *input.response);
  for (const auto& hook : input.hooks) out += hook + ",";
  return out;
}

// What reading `text` gives: the value, or the kind and message of the error.
template <class T, class Read>
std::string outcome(Read read) {
  try {
    return "value " + describe(read());
  } catch (const Error& e) {
    return std::string("Error ") + std::string(to_string(e.code())) + ": " + e.what();
  } catch (const Json::exception& e) {
    return std::string("Json::exception ") + std::to_string(e.id) + ": " + e.what();
  }
}

template <class T>
std::string written(const T& value, bool fast) {
  try {
    return fast ? Json::parse(plugvisor_json_encode(Tag<T>{}, value)).dump() : Json(value).dump();
  } catch (const Json::exception& e) {
    return std::string("Json::exception ") + e.what();
  }
}

template <class T>
void check_reads_as_defined(const std::string& text, int& values) {
  std::string fast = outcome<T>([&] { return plugvisor_json_decode(Tag<T>{}, text); });
  std::string defined = outcome<T>([&] { return protocol::parse_json(text).get<T>(); });
  INFO(text);
  REQUIRE(fast == defined);
  values += fast.rfind("value", 0) == 0;
}

template <class T, class Make>
void check_codec(Make make) {
  Generator generate(20261206);
  int values = 0;
  for (int round = 0; round < 1500; ++round) {
    T value = make(generate);
    std::string fast = written(value, true);
    std::string defined = written(value, false);
    INFO(defined);
    REQUIRE(fast == defined);  // the same document by value, or the same refusal
    if (defined.rfind("Json::exception", 0) == 0) continue;
    Json j = Json(value);
    check_reads_as_defined<T>(j.dump(), values);
    check_reads_as_defined<T>(generate.dump(j), values);  // any member order, sometimes a repeat
    for (std::size_t n = 1 + generate.pick(3); n > 0; --n) generate.mutate(j);
    std::string text = generate.dump(j);
    check_reads_as_defined<T>(text, values);
    if (generate.chance(20)) check_reads_as_defined<T>(text.substr(0, generate.pick(text.size() + 1)), values);
    if (generate.chance(20) && !text.empty()) {
      text[generate.pick(text.size())] = "{}[]\",:\\ 0an"[generate.pick(13)];
      check_reads_as_defined<T>(text, values);
    }
  }
  CHECK(values > 1500);  // most documents are read, not only refused
}

}  // namespace

TEST_CASE("a filter input's own codec writes to_json's document and reads what from_json reads, error for error", "[http][filter][codec]") {
  check_codec<FilterInput>([](Generator& generate) { return generate.input(); });
}

TEST_CASE("a filter result's own codec writes to_json's document and reads what from_json reads, error for error", "[http][filter][codec]") {
  check_codec<FilterResult>([](Generator& generate) { return generate.result(); });
}

TEST_CASE("the filter codec reads null as a result that changes nothing and refuses what from_json refuses", "[http][filter][codec]") {
  FilterResult empty = plugvisor_json_decode(Tag<FilterResult>{}, "null");
  CHECK(describe(empty) == describe(FilterResult{}));
  CHECK_THROWS_WITH(plugvisor_json_decode(Tag<FilterResult>{}, R"({"request": {"headers": {"set": {"x-a": "1\r\nInjected: yes"}}}})"),
                    Catch::Contains("request.headers.set.x-a holds a byte a header value may not"));
  CHECK_THROWS_WITH(plugvisor_json_decode(Tag<FilterResult>{}, R"({"requests": {}})"), Catch::Contains("no member \"requests\""));
  std::string deep(protocol::max_json_depth + 1, '[');
  CHECK_THROWS_WITH(plugvisor_json_decode(Tag<FilterInput>{}, "{\"request\": " + deep), Catch::Contains("nested deeper than"));
  FilterInput input = plugvisor_json_decode(
      Tag<FilterInput>{}, R"({"request": {"method": "GET", "path": "/", "headers": {"X-B": "2", "Accept": ["a", "b"]}}, "client": "::1"})");
  CHECK(input.request.headers == Fields{{"accept", "a"}, {"accept", "b"}, {"x-b", "2"}});
  CHECK(input.client == "::1");
}

TEST_CASE("the filter codec reads objects of many names as from_json does, a repeated one among them too", "[http][filter][codec]") {
  // Past the reader's linear duplicate scan, the definition reads the object:
  // same value, same error, and no quadratic time for a hostile reply.
  int values = 0;
  for (std::size_t names : {63u, 64u, 65u, 20000u}) {
    std::string set, query;
    for (std::size_t i = 0; i < names; ++i) {
      set += (i ? "," : "") + std::string("\"x-h") + std::to_string(i) + "\":\"v\"";
      query += (i ? "," : "") + std::string("\"q") + std::to_string(i) + "\":[\"a\",\"b\"]";
    }
    check_reads_as_defined<FilterResult>(R"({"request":{"headers":{"set":{)" + set + "}}}}", values);
    check_reads_as_defined<FilterResult>(R"({"request":{"headers":{"set":{)" + set + R"(,"x-h0":"again"}}}})", values);
    check_reads_as_defined<FilterInput>(R"({"request":{"method":"GET","path":"/","query":{)" + query + "}}}", values);
  }
  CHECK(values == 12);  // from_json keeps a repeated name's last value
}
