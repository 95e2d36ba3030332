// A host-defined contract through the whole stack: examples/custom-contract's
// greeter, served in-process, by a C++ plugin (two builds), by a Python
// plugin and, where Go is found (PLUGVISOR_HAVE_GO), by a Go plugin with no
// SDK, checked against the host's declaration at registration.
#include <catch2/catch.hpp>

#include "greeter.hpp"
#include "test_support.hpp"

using namespace plugvisor;
using namespace plugvisor::test;
using greetings::Greeter;
using greetings::Person;

namespace {

const std::filesystem::path greeter_plugins = PLUGVISOR_GREETER_PLUGIN_DIR;

// A directory holding the example's plugins (linked), for tests that add files beside them.
void link_greeters(TempDir& dir) {
  for (const char* id : {"plugin-greeter", "plugin-greeter-classic", "plugin-py-greeter"}) {
    std::filesystem::create_symlink(greeter_plugins / id, dir.path() / id);
  }
  std::filesystem::create_directory_symlink(greeter_plugins / ".lib", dir.path() / ".lib");
}

// A plugin that only answers `capabilities`, with `document`: enough to be
// probed and registered (never launched here).
void add_described(TempDir& dir, const std::string& id, const std::string& document) {
  dir.add_file(id, "#!/bin/sh\n[ \"$1\" = capabilities ] || exit 2\ncat <<'EOF'\n" + document + "\nEOF\n");
}

std::string greeter_document(const std::string& type, const Json& contract) {
  return Json{{"protocolVersion", 1},
              {"name", type},
              {"version", "1"},
              {"types", {{"greeter", {{{"type", type}}}}}},
              {"contracts", {{"greeter", contract}}}}
      .dump();
}

class Plain final : public Greeter {
 public:
  greetings::Greeting greet(const Person& p) override { return {"hey " + p.name, "en", 2}; }
  std::vector<std::string> languages() override { return {"en"}; }
  Bytes banner(BytesView text) override { return std::string(text); }
  greetings::Greeting farewell(const Person& p) override { return {"bye " + p.name, "en", 2}; }
};

const ProviderInfo& listed(const std::vector<ProviderInfo>& providers, const std::string& type) {
  for (const auto& info : providers) {
    if (info.contract == "greeter" && info.type == type) return info;
  }
  FAIL("greeter type " << type << " is not listed");
  throw std::logic_error("unreachable");
}

}  // namespace

// The Go plugin (plugin-go-greeter) is built only where `go` is found.
#ifdef PLUGVISOR_HAVE_GO
constexpr std::size_t go_providers = 1;
#else
constexpr std::size_t go_providers = 0;
#endif

TEST_CASE("get<Greeter> returns one interface whether C++, Python, Go or the host itself serves it",
          "[contracts][open][example]") {
  auto options = test_options(greeter_plugins);
  Manager manager(std::move(options));
  manager.registry().declare<Greeter>();
  manager.registry().add_internal<Greeter>("plain", std::make_shared<Plain>());

  Person ada{"Ada", "en", {"Dr", "Prof"}};
  std::shared_ptr<Greeter> formal = manager.registry().get<Greeter>("formal");
  auto hello = formal->greet(ada);
  CHECK(hello.text == "Hello, Dr Prof Ada.");
  CHECK(hello.language == "en");
  CHECK(hello.words == 4);
  CHECK(formal->languages() == std::vector<std::string>{"de", "en", "fr"});
  CHECK(formal->farewell({"Ada", std::nullopt, {}}).text == "Goodbye, Ada.");  // the optional field left out
  const std::string all_bytes = [] {
    std::string s;
    for (int c = 0; c < 256; ++c) s += static_cast<char>(c);
    return s;
  }();
  CHECK(formal->banner(all_bytes) == greetings::PhraseBook::framed(all_bytes));

  std::shared_ptr<Greeter> casual = manager.registry().get<Greeter>("casual");  // Python
  CHECK(casual->greet(ada).text == "Hi Ada");
  CHECK(casual->farewell(ada).words == 2);
  CHECK(casual->banner("x") == "~ x ~\n");
  CHECK(casual->languages() == std::vector<std::string>{"en", "es", "it"});
  auto refused = error_of([&] { casual->greet({"Ada", "xx", {}}); });
  CHECK(refused.code() == ErrorCode::invalid_input);
  CHECK_THAT(refused.what(), Catch::Contains("no phrases in language 'xx'"));

#ifdef PLUGVISOR_HAVE_GO
  std::shared_ptr<Greeter> terse = manager.registry().get<Greeter>("terse");  // Go, no SDK
  auto yo = terse->greet({"Ada", "en", {"Dr", "Prof"}});
  CHECK(yo.text == "Yo Dr Prof Ada");
  CHECK(yo.language == "en");
  CHECK(yo.words == 4);
  CHECK(terse->greet({"Ada", std::nullopt, {}}).text == "Yo Ada");
  auto later = terse->farewell(ada);
  CHECK(later.text == "Later Dr Prof Ada");
  CHECK(later.words == 4);
  CHECK(terse->languages() == std::vector<std::string>{"en"});
  CHECK(terse->banner(all_bytes) == "[ " + all_bytes + " ]\n");
  CHECK(terse->banner("") == "[  ]\n");
  auto unknown = error_of([&] { terse->farewell({"Ada", "xx", {}}); });
  CHECK(unknown.code() == ErrorCode::invalid_input);
  CHECK_THAT(unknown.what(), Catch::Contains("no phrases in language 'xx'"));
  CHECK(listed(manager.registry().list(), "terse").compatibility.level == Compatibility::Level::full);
#endif

  CHECK(manager.registry().get<Greeter>("plain")->greet(ada).text == "hey Ada");
  CHECK(manager.registry().all<Greeter>().size() == 5 + go_providers);
}

TEST_CASE("a plugin built against the contract's first release registers as partial", "[contracts][open][example]") {
  Manager manager(test_options(greeter_plugins));
  auto& registry = manager.registry();
  registry.declare<Greeter>();
  const auto providers = registry.list();
  const auto& classic = listed(providers, "classic");
  CHECK(classic.active);
  CHECK(classic.compatibility.level == Compatibility::Level::partial);
  CHECK(classic.compatibility.missing == std::vector<std::string>{"farewell"});

  auto greeter = registry.get<Greeter>("classic");
  CHECK(greeter->greet({"Ada", "de", {}}).text == "Guten Tag, Ada.");
  CHECK_FALSE(registry.supports<Greeter>("classic", &Greeter::farewell));
  CHECK(registry.supports<Greeter>("formal", &Greeter::farewell));
  auto error = error_of([&] { greeter->farewell({"Ada", std::nullopt, {}}); });
  CHECK(error.code() == ErrorCode::not_found);
  CHECK_THAT(error.what(), Catch::Contains("plugin-greeter-classic") && Catch::Contains("'farewell'"));
  CHECK(manager.plugin("plugin-greeter-classic")->calls.front().calls == 1);  // greet only: farewell never left
}

TEST_CASE("the Python and Go plugins and the C++ host describe the greeter contract identically", "[contracts][open][example]") {
  auto python = probe_capabilities(greeter_plugins / "plugin-py-greeter", std::chrono::seconds(10));
  auto cpp = probe_capabilities(greeter_plugins / "plugin-greeter", std::chrono::seconds(10));
  REQUIRE(python.contracts.contains("greeter"));
  CHECK(python.contracts.at("greeter") == describe<Greeter>());
  CHECK(cpp.contracts.at("greeter") == describe<Greeter>());
#ifdef PLUGVISOR_HAVE_GO
  auto go = probe_capabilities(greeter_plugins / "plugin-go-greeter", std::chrono::seconds(10));
  CHECK(go.contracts.at("greeter") == describe<Greeter>());  // greeter.json, embedded
#endif
  // The C++ SDK describes the built-in contract it serves, like the Python one.
  auto text_tools = probe_capabilities(text_tools_path(), std::chrono::seconds(10));
  CHECK(text_tools.contracts.at("dataProcessor") == describe<DataProcessor>());
}

TEST_CASE("plugins that contradict the host's greeter are listed with the reason and never handed out",
          "[contracts][open][example]") {
  TempDir dir;
  link_greeters(dir);
  Json v2 = describe<Greeter>().to_json();
  v2["version"] = 2;
  add_described(dir, "plugin-v2", greeter_document("future", v2));
  Json bytes_greet = describe<Greeter>().to_json();
  bytes_greet["methods"]["greet"] = {{"input", "bytes"}, {"output", "bytes"}};
  add_described(dir, "plugin-bytes", greeter_document("shouty", bytes_greet));
  add_described(dir, "plugin-undescribed", Json{{"protocolVersion", 1}, {"name", "u"}, {"version", "1"},
                                                {"types", {{"greeter", {{{"type", "legacy"}}}}}}}
                                                   .dump());

  Manager manager(test_options(dir.path()));
  auto& registry = manager.registry();
  registry.declare<Greeter>();
  auto providers = registry.list();
  CHECK(listed(providers, "future").compatibility.level == Compatibility::Level::incompatible);
  CHECK_THAT(listed(providers, "future").compatibility.reason,
             Catch::Contains("version 2, but the host needs version 1"));
  CHECK_FALSE(listed(providers, "future").active);
  CHECK_THAT(listed(providers, "shouty").compatibility.reason,
             Catch::Contains("greet takes bytes and returns bytes, the host's takes json and returns json"));
  // Described by nothing: taken as version 1 in full (plugins from before descriptions).
  CHECK(listed(providers, "legacy").compatibility.level == Compatibility::Level::full);

  auto error = error_of([&] { registry.get<Greeter>("future"); });
  CHECK(error.code() == ErrorCode::not_found);
  CHECK_THAT(error.what(), Catch::Contains("plugin-v2 provides it but is not used"));
  CHECK(registry.find<Greeter>("shouty") == nullptr);
  // The others are unaffected.
  CHECK(registry.get<Greeter>("formal")->greet({"Ada", "en", {}}).text == "Hello, Ada.");
}

TEST_CASE("a schema that is not JSON Schema rejects its plugin at the probe, and only that plugin",
          "[contracts][open][example]") {
  TempDir dir;
  link_greeters(dir);
  Json bad = describe<Greeter>().to_json();
  bad["methods"]["greet"]["inputSchema"] = {{"type", "person"}};
  add_described(dir, "plugin-bad-schema", greeter_document("odd", bad));
  add_described(dir, "plugin-bad-name",
                Json{{"protocolVersion", 1}, {"name", "n"}, {"version", "1"},
                     {"types", {{"greeter", {{{"type", "x"}}}}}},
                     {"contracts", {{"greeter", {{"methods", {{"bad method", {{"input", "none"}}}}}}}}}}
                    .dump());

  Manager manager(test_options(dir.path()));
  auto rejections = manager.rejections();
  REQUIRE(rejections.size() == 2);
  std::string reasons = rejections[0].reason + "\n" + rejections[1].reason;
  CHECK_THAT(reasons, Catch::Contains("contracts.greeter.methods.greet.inputSchema is not a valid JSON Schema"));
  CHECK_THAT(reasons, Catch::Contains("names a method that is not a name"));
  CHECK(manager.plugins().size() == 3);
  CHECK(manager.registry().get<Greeter>("casual")->greet({"Ada", "it", {}}).text == "Ciao Ada");
}

TEST_CASE("config data that breaks the plugin's schema never reaches it", "[contracts][open][example]") {
  auto options = test_options(greeter_plugins);
  options.config_types["greeter.cheerful"] = {{"mark", "!!!!!!"}};
  Manager manager(std::move(options));
  auto rejections = manager.rejections();
  REQUIRE(rejections.size() == 1);
  CHECK(rejections[0].path.filename() == "plugin-greeter");
  CHECK_THAT(rejections[0].reason, Catch::Contains("config type greeter.cheerful") && Catch::Contains("at /mark") &&
                                       Catch::Contains("maxLength") && Catch::Contains("fix configTypes.greeter.cheerful"));
  CHECK(manager.registry().find<Greeter>("cheerful") == nullptr);
  CHECK(manager.registry().get<Greeter>("classic")->languages().size() == 3);

  SECTION("and a reload with good data registers it") {
    auto next = test_options(greeter_plugins);
    next.config_types["greeter.cheerful"] = {{"mark", "?"}};
    manager.reload(std::move(next));
    CHECK(manager.rejections().empty());
    CHECK(manager.registry().get<Greeter>("cheerful")->greet({"Ada", "en", {}}).text == "Hello, Ada?");
  }
}

TEST_CASE("with input validation on, a bad input is refused before the plugin sees it", "[contracts][open][example]") {
  Manager manager(test_options(greeter_plugins));
  manager.registry().declare<Greeter>({.validate_inputs = true});
  auto greeter = manager.registry().get<Greeter>("formal");
  auto error = error_of([&] { greeter->greet({"", "english", {}}); });
  CHECK(error.code() == ErrorCode::invalid_input);
  CHECK_THAT(error.what(), Catch::Contains("breaks its schema") && Catch::Contains("at /"));
  CHECK(manager.plugin("plugin-greeter")->starts == 0);  // never launched for it
  CHECK(greeter->greet({"Ada", "fr", {}}).text == "Bonjour, Ada.");
}
