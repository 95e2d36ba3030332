// Open contracts: a contract declared outside plugvisor (here, in a test's own
// namespace) gets a typed wrapper, dispatch and a description from its one
// table; the registry checks providers against it.
#include <catch2/catch.hpp>

#include "plugvisor/registry.hpp"

using plugvisor::Encoding;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;
using plugvisor::Payload;

namespace shop {

struct Item {
  std::string name;
  int count = 0;
  std::optional<std::string> note;
  bool operator==(const Item&) const = default;
};

void to_json(Json& j, const Item& item) {
  j = Json{{"name", item.name}, {"count", item.count}};
  if (item.note) j["note"] = *item.note;
}

void from_json(const Json& j, Item& item) {
  j.at("name").get_to(item.name);
  j.at("count").get_to(item.count);
  if (auto note = j.find("note"); note != j.end() && !note->is_null()) item.note = note->get<std::string>();
}

PLUGVISOR_JSON_SCHEMA(Item, R"({"type": "object",
  "properties": {"name": {"type": "string"}, "count": {"type": "integer", "minimum": 0}, "note": {"type": "string"}},
  "required": ["name", "count"]})")

class Inventory : public plugvisor::PluginBase {
 public:
  virtual Item find(const std::string& name) = 0;
  virtual std::vector<Item> all() = 0;
  virtual plugvisor::Bytes export_csv(plugvisor::BytesView filter) = 0;
  virtual void add(const Item& item) = 0;
};
PLUGVISOR_CONTRACT(Inventory, "inventory", 2, "A stock of items", (find, "find"), (all, "all"),
                   (export_csv, "exportCsv"), (add, "add", {.description = "adds an item"}));

/// Another C++ type that claims the same wire name.
class Impostor : public plugvisor::PluginBase {
 public:
  virtual int count() = 0;
};
PLUGVISOR_CONTRACT(Impostor, "inventory", 1, "", (count, "count"));

class Shelf final : public Inventory {
 public:
  Item find(const std::string& name) override {
    for (const auto& item : items) {
      if (item.name == name) return item;
    }
    throw Error(ErrorCode::not_found, "no item " + name);
  }
  std::vector<Item> all() override { return items; }
  plugvisor::Bytes export_csv(plugvisor::BytesView filter) override {
    std::string out;
    for (const auto& item : items) {
      if (item.name.find(filter) != std::string::npos) out += item.name + "," + std::to_string(item.count) + "\n";
    }
    return out;
  }
  void add(const Item& item) override { items.push_back(item); }
  std::vector<Item> items{{"apple", 3, std::nullopt}, {"pear", 0, "ripe"}};
};

/// A contract whose table gives a schema that is not JSON Schema, and one
/// whose schema text is not JSON.
class Odd : public plugvisor::PluginBase {
 public:
  virtual int size(const Item& item) = 0;
};
PLUGVISOR_CONTRACT(Odd, "odd", 1, "", (size, "size", {.input_schema = R"({"type": 3})"}));
class Garbled : public plugvisor::PluginBase {
 public:
  virtual int size(const Item& item) = 0;
};
PLUGVISOR_CONTRACT(Garbled, "garbled", 1, "", (size, "size", {.input_schema = "{not json"}));

}  // namespace shop

namespace {

/// A channel to an in-process implementation that records what travels.
class Recorder final : public plugvisor::Channel {
 public:
  Payload call(std::string_view method, Payload input) override {
    methods.emplace_back(method);
    inputs.push_back(input);
    return plugvisor::dispatch<shop::Inventory>(shelf, method, input);
  }
  shop::Shelf shelf;
  std::vector<std::string> methods;
  std::vector<Payload> inputs;
};

auto has_code(ErrorCode code) {
  return Catch::Predicate<Error>([code](const Error& e) { return e.code() == code; }, "code " +
                                                                                          std::string(plugvisor::to_string(code)));
}

// An external provider of `inventory` as the manager registers one: a channel
// and the description the plugin published (nullopt: none).
plugvisor::ProviderEntry external(const std::string& provider, std::shared_ptr<plugvisor::Channel> channel,
                                  std::optional<plugvisor::ContractDescription> description, int priority = 0) {
  plugvisor::ProviderEntry entry{plugvisor::ProviderInfo{"inventory", "main", provider, plugvisor::ProviderKind::external,
                                                         priority, true, nullptr},
                                 nullptr, std::move(channel)};
  entry.description = std::move(description);
  return entry;
}

}  // namespace

TEST_CASE("a contract declared outside plugvisor gets a typed wrapper that encodes each method by its table",
          "[contracts][open]") {
  auto channel = std::make_shared<Recorder>();
  plugvisor::Remote<shop::Inventory> remote(channel);

  CHECK(remote.find("pear") == shop::Item{"pear", 0, "ripe"});
  remote.add({"plum", 7, std::nullopt});
  CHECK(remote.all().size() == 3);
  CHECK(remote.export_csv("p") == "apple,3\npear,0\nplum,7\n");
  remote.ping();

  CHECK(channel->methods == std::vector<std::string>{"find", "add", "all", "exportCsv", "ping"});
  CHECK(channel->inputs[0].encoding == Encoding::bytes);  // std::string is Bytes: raw
  CHECK(channel->inputs[0].body == "pear");
  CHECK(Json::parse(channel->inputs[1].body) == Json{{"name", "plum"}, {"count", 7}});
  CHECK(channel->inputs[2].encoding == Encoding::none);
  CHECK(channel->inputs[3].encoding == Encoding::bytes);
  CHECK_THROWS_MATCHES(remote.find("kiwi"), Error, has_code(ErrorCode::not_found));
}

TEST_CASE("a contract's description comes from its table: version, encodings and schemas", "[contracts][open]") {
  const auto description = plugvisor::describe<shop::Inventory>();
  CHECK(description.name == "inventory");
  CHECK(description.version == 2);
  CHECK(description.description == "A stock of items");
  std::vector<std::string> names;
  for (const auto& m : description.methods) names.push_back(m.name);
  CHECK(names == std::vector<std::string>{"ping", "find", "all", "exportCsv", "add"});

  const auto* find = description.method("find");
  REQUIRE(find);
  CHECK(find->input == Encoding::bytes);
  CHECK(find->input_schema.is_null());
  CHECK(find->output == Encoding::json);
  CHECK(find->output_schema["required"] == Json{"name", "count"});
  CHECK(description.method("all")->output_schema["items"] == find->output_schema);
  CHECK(description.method("exportCsv")->input == Encoding::bytes);
  CHECK(description.method("exportCsv")->input_schema.is_null());
  CHECK(description.method("add")->output == Encoding::none);
  CHECK(description.method("add")->description == "adds an item");
  CHECK(description.method("ping")->input == Encoding::none);

  SECTION("and reads back from the JSON a plugin publishes unchanged") {
    CHECK(plugvisor::ContractDescription::from_json("inventory", description.to_json()) == description);
  }
}

TEST_CASE("a description that is not one is refused, naming the member", "[contracts][open]") {
  using plugvisor::ContractDescription;
  auto refused = [](const std::string& name, const std::string& json, const std::string& expected) {
    INFO(json);
    CHECK_THROWS_MATCHES(ContractDescription::from_json(name, Json::parse(json)), Error,
                         has_code(ErrorCode::config) && Catch::Predicate<Error>([&](const Error& e) {
                           return std::string(e.what()).find(expected) != std::string::npos;
                         }, "message contains " + expected));
  };
  refused("bad name", R"({"methods": {}})", "contracts.bad name is not a name");
  refused("ok", R"([1])", "must be an object");
  refused("ok", R"({"version": 0, "methods": {}})", "contracts.ok.version must be an integer from 1");
  refused("ok", R"({"version": "1", "methods": {}})", "contracts.ok.version");
  refused("ok", R"({"version": 2147483648, "methods": {}})", "contracts.ok.version");
  refused("ok", R"({"version": 1})", "contracts.ok.methods must be an object");
  refused("ok", R"({"methods": {"bad method": {}}})", "names a method that is not a name");
  refused("ok", R"({"methods": {"m": {"input": "xml"}}})", "contracts.ok.methods.m.input must be \"none\"");
  refused("ok", R"({"methods": {"m": {"input": "bytes", "inputSchema": {"type": "string"}}}})",
          "only JSON has a schema");
  refused("ok", R"({"methods": {"m": {"input": "json", "inputSchema": {"type": 3}}}})",
          "contracts.ok.methods.m.inputSchema is not a valid JSON Schema");
  refused("ok", R"({"methods": {"m": {"output": "json", "outputSchema": {"$ref": "#/nowhere"}}}})",
          "outputSchema is not a valid JSON Schema");
  refused("ok", R"({"description": 5, "methods": {}})", "contracts.ok.description must be a string");
}

TEST_CASE("a refused description quotes a long value cut before a character, never inside one",
          "[contracts][open]") {
  // 2-byte characters: a cut at a fixed byte count lands inside one (the
  // manager's rejection warning then held invalid UTF-8).
  std::string input;
  for (int i = 0; i < 40; ++i) input += "\xC3\xA9";  // é
  Json doc{{"methods", {{"m", {{"input", input}}}}}};
  try {
    plugvisor::ContractDescription::from_json("ok", doc);
    FAIL("the description was accepted");
  } catch (const Error& e) {
    std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("must be \"none\", \"json\" or \"bytes\"") && Catch::Contains("..."));
    CHECK_NOTHROW(Json(message).dump());  // nlohmann refuses invalid UTF-8
  }
}

TEST_CASE("a provider's description is checked against the host's: full, partial or incompatible",
          "[contracts][open]") {
  using Level = plugvisor::Compatibility::Level;
  const auto host = plugvisor::describe<shop::Inventory>();

  CHECK(plugvisor::check_compatibility(host, &host).level == Level::full);

  auto older = host;
  std::erase_if(older.methods, [](const auto& m) { return m.name == "exportCsv" || m.name == "add"; });
  auto partial = plugvisor::check_compatibility(host, &older);
  CHECK(partial.level == Level::partial);
  CHECK(partial.missing == std::vector<std::string>{"exportCsv", "add"});
  CHECK_THAT(partial.reason, Catch::Contains("lacks inventory methods exportCsv, add"));

  auto newer = host;
  newer.methods.push_back({"audit", Encoding::none, Encoding::json});
  CHECK(plugvisor::check_compatibility(host, &newer).level == Level::full);

  auto other_version = host;
  other_version.version = 1;
  auto versions = plugvisor::check_compatibility(host, &other_version);
  CHECK(versions.level == Level::incompatible);
  CHECK_THAT(versions.reason, Catch::Contains("version 1") && Catch::Contains("needs version 2"));

  auto other_encoding = host;
  other_encoding.methods[1].input = Encoding::json;  // find
  auto encodings = plugvisor::check_compatibility(host, &other_encoding);
  CHECK(encodings.level == Level::incompatible);
  CHECK_THAT(encodings.reason, Catch::Contains("find takes json and returns json, the host's takes bytes"));

  // A plugin that describes nothing is taken as version 1, in full.
  CHECK(plugvisor::check_compatibility(host, nullptr).level == Level::incompatible);
  CHECK(plugvisor::check_compatibility(plugvisor::describe<plugvisor::DataProcessor>(), nullptr).level == Level::full);
}

TEST_CASE("registry.get<C> hands out one shared_ptr<C> for an in-process class and for a plugin", "[registry][open]") {
  plugvisor::Registry registry;
  auto shelf = std::make_shared<shop::Shelf>();
  registry.add_internal<shop::Inventory>("local", shelf);
  std::shared_ptr<shop::Inventory> local = registry.get<shop::Inventory>("local");
  CHECK(local == shelf);

  // An external provider of a contract the host has not declared yet: the
  // first get<Inventory> declares it and makes the typed object.
  auto channel = std::make_shared<Recorder>();
  plugvisor::Registry fresh;
  fresh.add(external("plugin-shop", channel, plugvisor::describe<shop::Inventory>()));
  CHECK(fresh.declared("inventory") == nullptr);
  std::shared_ptr<shop::Inventory> remote = fresh.get<shop::Inventory>("main");
  REQUIRE(remote);
  CHECK(remote->find("apple").count == 3);
  CHECK(fresh.declared("inventory") == &plugvisor::contract_info<shop::Inventory>());
  CHECK(fresh.all<shop::Inventory>().size() == 1);
  CHECK(fresh.list().front().declared);
}

TEST_CASE("two C++ types cannot claim one wire name, and get<C> for the wrong type is an error", "[registry][open]") {
  plugvisor::Registry registry;
  registry.declare<shop::Inventory>();
  registry.declare<shop::Inventory>();  // again: fine
  CHECK_THROWS_MATCHES(registry.declare<shop::Impostor>(), Error,
                       has_code(ErrorCode::conflict) && Catch::Predicate<Error>([](const Error& e) {
                         return std::string(e.what()).find("already declared by C++ type Inventory") != std::string::npos;
                       }, "names the declaring type"));
  registry.add_internal<shop::Inventory>("local", std::make_shared<shop::Shelf>());
  CHECK_THROWS_MATCHES(registry.get<shop::Impostor>("local"), Error,
                       has_code(ErrorCode::config) && Catch::Predicate<Error>([](const Error& e) {
                         return std::string(e.what()).find("declared by C++ type Inventory, not Impostor") !=
                                std::string::npos;
                       }, "names both types"));
  CHECK_THROWS_MATCHES(registry.find<shop::Impostor>("local"), Error, has_code(ErrorCode::config));
  // A plugin type of a built-in contract's name with another shape is refused too.
  CHECK_THROWS_MATCHES(registry.all<shop::Impostor>(), Error, has_code(ErrorCode::config));
}

TEST_CASE("an older plugin that lacks a method is registered as partial: calls to it fail without reaching it",
          "[registry][open]") {
  plugvisor::Registry registry;
  registry.declare<shop::Inventory>();
  auto channel = std::make_shared<Recorder>();
  auto older = plugvisor::describe<shop::Inventory>();
  std::erase_if(older.methods, [](const auto& m) { return m.name == "exportCsv"; });
  registry.add(external("plugin-shop-old", channel, older));

  auto info = registry.list().front();
  CHECK(info.active);
  CHECK(info.compatibility.level == plugvisor::Compatibility::Level::partial);
  CHECK(info.compatibility.missing == std::vector<std::string>{"exportCsv"});

  auto inventory = registry.get<shop::Inventory>("main");
  CHECK(inventory->all().size() == 2);
  CHECK(registry.supports<shop::Inventory>("main", &shop::Inventory::all));
  CHECK_FALSE(registry.supports<shop::Inventory>("main", &shop::Inventory::export_csv));
  CHECK_FALSE(registry.supports("inventory", "main", "exportCsv"));
  CHECK_THROWS_MATCHES(inventory->export_csv(""), Error,
                       has_code(ErrorCode::not_found) && Catch::Predicate<Error>([](const Error& e) {
                         std::string message = e.what();
                         return message.find("'exportCsv'") != std::string::npos &&
                                message.find("plugin-shop-old") != std::string::npos;
                       }, "names the method and the plugin"));
  CHECK(std::find(channel->methods.begin(), channel->methods.end(), "exportCsv") == channel->methods.end());
}

TEST_CASE("a host asking for one version never gets a plugin of another", "[registry][open]") {
  plugvisor::Registry registry;
  auto v1 = plugvisor::describe<shop::Inventory>();
  v1.version = 1;
  registry.add(external("plugin-shop-v1", std::make_shared<Recorder>(), v1, 10));
  // Before the host declares the contract, the plugin is reachable by name.
  CHECK_NOTHROW(registry.channel("inventory", "main"));

  registry.declare<shop::Inventory>();  // version 2: the v1 plugin is now refused
  auto info = registry.list().front();
  CHECK_FALSE(info.active);
  CHECK(info.compatibility.level == plugvisor::Compatibility::Level::incompatible);
  CHECK_THROWS_MATCHES(registry.get<shop::Inventory>("main"), Error,
                       has_code(ErrorCode::not_found) && Catch::Predicate<Error>([](const Error& e) {
                         std::string message = e.what();
                         return message.find("plugin-shop-v1 provides it but is not used") != std::string::npos &&
                                message.find("version 1, but the host needs version 2") != std::string::npos;
                       }, "says why"));
  CHECK(registry.find<shop::Inventory>("main") == nullptr);
  CHECK_THROWS_MATCHES(registry.channel("inventory", "main"), Error, has_code(ErrorCode::not_found));

  // A v2 plugin of lower priority is used instead, and the v1 one stays listed.
  registry.add(external("plugin-shop-v2", std::make_shared<Recorder>(), plugvisor::describe<shop::Inventory>(), 0));
  CHECK(registry.get<shop::Inventory>("main")->all().size() == 2);
  auto listed = registry.list();
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].provider == "plugin-shop-v2");
  CHECK(listed[0].active);
  CHECK_FALSE(listed[1].active);
}

TEST_CASE("with validate_inputs, a JSON input that breaks its schema never leaves the host", "[registry][open]") {
  plugvisor::Registry registry;
  registry.declare<shop::Inventory>({.validate_inputs = true});
  auto channel = std::make_shared<Recorder>();
  registry.add(external("plugin-shop", channel, plugvisor::describe<shop::Inventory>()));
  registry.add_internal<shop::Inventory>("local", std::make_shared<shop::Shelf>());  // keeps the options
  auto inventory = registry.get<shop::Inventory>("main");

  inventory->add({"fig", 2, std::nullopt});
  CHECK_THROWS_MATCHES(inventory->add({"fig", -1, std::nullopt}), Error,
                       has_code(ErrorCode::invalid_input) && Catch::Predicate<Error>([](const Error& e) {
                         std::string message = e.what();
                         return message.find("/count") != std::string::npos &&
                                message.find("minimum") != std::string::npos;
                       }, "names the path and the rule"));
  CHECK(channel->methods == std::vector<std::string>{"add"});
}

TEST_CASE("a host's own schema that is not valid fails its declaration and changes nothing", "[registry][open]") {
  plugvisor::Registry registry;
  CHECK_NOTHROW(registry.declare<shop::Odd>());  // without validation the schema is only described
  plugvisor::Registry validating;
  CHECK_THROWS_MATCHES(validating.declare<shop::Odd>({.validate_inputs = true}), Error,
                       has_code(ErrorCode::config) && Catch::Predicate<Error>([](const Error& e) {
                         return std::string(e.what()).find("cannot declare odd: the input schema of size") !=
                                std::string::npos;
                       }, "names the contract and the method"));
  CHECK(validating.declared("odd") == nullptr);
  CHECK_THROWS_MATCHES(plugvisor::describe<shop::Garbled>(), Error,
                       has_code(ErrorCode::config) && Catch::Predicate<Error>([](const Error& e) {
                         return std::string(e.what()).find("input_schema of method size") != std::string::npos;
                       }, "names the method"));
}

TEST_CASE("a provider that does not list ping is not partial for it: every provider answers ping", "[contracts][open]") {
  auto host = plugvisor::describe<shop::Inventory>();
  auto without_ping = host;
  std::erase_if(without_ping.methods, [](const auto& m) { return m.name == "ping"; });
  CHECK(plugvisor::check_compatibility(host, &without_ping).level == plugvisor::Compatibility::Level::full);
}
