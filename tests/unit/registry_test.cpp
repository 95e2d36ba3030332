// The registry: typed lookup, the conflict rule, listing, thread safety.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "plugvisor/registry.hpp"

using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::ProviderKind;

namespace {

class Tagged final : public DataProcessor {
 public:
  explicit Tagged(std::string tag) : tag_(std::move(tag)) {}
  plugvisor::Bytes process_data(plugvisor::BytesView) override { return tag_; }
  std::vector<std::string> supported_formats() override { return {}; }

 private:
  std::string tag_;
};

// An "external" provider as the manager would register it (here in-process).
plugvisor::ProviderEntry external(const std::string& type, const std::string& plugin, int priority = 0) {
  auto impl = std::make_shared<Tagged>(plugin);
  return plugvisor::ProviderEntry{
      plugvisor::ProviderInfo{"dataProcessor", type, plugin, ProviderKind::external, priority, true, nullptr}, impl,
      std::make_shared<plugvisor::LocalChannel<DataProcessor>>(impl)};
}

}  // namespace

TEST_CASE("internal providers are found by contract type and called in-process", "[registry]") {
  plugvisor::Registry registry;
  registry.add_internal<DataProcessor>("tag", std::make_shared<Tagged>("internal"));
  CHECK(registry.get<DataProcessor>("tag")->process_data("") == "internal");
  CHECK(registry.find<DataProcessor>("other") == nullptr);
  auto reply = registry.channel("dataProcessor", "tag")->call("processData", {plugvisor::Encoding::bytes, "x"});
  CHECK(reply.body == "internal");
}

TEST_CASE("an internal provider wins over external ones, among externals priority, then order", "[registry]") {
  plugvisor::Registry registry;
  registry.add(external("shared", "first"));
  registry.add(external("shared", "second"));
  CHECK(registry.get<DataProcessor>("shared")->process_data("") == "first");
  registry.add(external("shared", "preferred", 10));
  CHECK(registry.get<DataProcessor>("shared")->process_data("") == "preferred");
  registry.add_internal<DataProcessor>("shared", std::make_shared<Tagged>("internal"));
  CHECK(registry.get<DataProcessor>("shared")->process_data("") == "internal");

  auto listed = registry.list();
  REQUIRE(listed.size() == 4);
  CHECK(listed[0].provider == "internal");
  CHECK(listed[0].active);
  CHECK(listed[1].provider == "preferred");
  CHECK_FALSE(listed[1].active);
  CHECK(listed[3].provider == "second");
}

TEST_CASE("removing the winning provider lets the next one take over", "[registry]") {
  plugvisor::Registry registry;
  registry.add(external("shared", "first"));
  registry.add(external("shared", "second"));
  registry.add(external("solo", "first"));
  CHECK(registry.remove_provider("first") == 2);
  CHECK(registry.get<DataProcessor>("shared")->process_data("") == "second");
  CHECK(registry.find<DataProcessor>("solo") == nullptr);
  CHECK(registry.list().size() == 1);
}

TEST_CASE("registering the same provider twice, or a bad name, is refused", "[registry]") {
  plugvisor::Registry registry;
  registry.add_internal<DataProcessor>("tag", std::make_shared<Tagged>("a"));
  CHECK_THROWS_MATCHES(registry.add_internal<DataProcessor>("tag", std::make_shared<Tagged>("b")), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.code() == ErrorCode::conflict; }));
  CHECK_THROWS_MATCHES(registry.add_internal<DataProcessor>("bad/name", std::make_shared<Tagged>("b")), Error,
                       Catch::Predicate<Error>([](const Error& e) { return e.code() == ErrorCode::config; }));
}

TEST_CASE("a missing type names the types that exist", "[registry]") {
  plugvisor::Registry registry;
  CHECK_THROWS_WITH(registry.get<DataProcessor>("x"), Catch::Contains("no plugin provides this contract"));
  registry.add(external("beta", "p"));
  registry.add(external("alpha", "p"));
  CHECK_THROWS_WITH(registry.get<DataProcessor>("x"), Catch::Contains("known types: alpha, beta"));
}

TEST_CASE("all<C>() lists every active provider of a contract by type", "[registry]") {
  plugvisor::Registry registry;
  registry.add(external("b", "p1"));
  registry.add(external("a", "p2"));
  registry.add(external("a", "p3"));
  registry.add_internal<plugvisor::PluginBase>("base-only", std::make_shared<plugvisor::PluginBase>());
  auto all = registry.all<DataProcessor>();
  REQUIRE(all.size() == 2);
  CHECK(all[0].type == "a");
  CHECK(all[0].provider == "p2");
  CHECK(all[1].type == "b");
}

TEST_CASE("lookups and registrations from many threads are safe", "[registry][threads]") {
  plugvisor::Registry registry;
  registry.add(external("stable", "p"));
  std::atomic<int> misses{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        if (!registry.find<DataProcessor>("stable")) ++misses;
        if (i % 100 == 0) (void)registry.list();
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 500; ++i) {
      registry.add(external("t" + std::to_string(i), "writer"));
      if (i % 10 == 9) registry.remove_provider("writer");
    }
  });
  for (auto& thread : threads) thread.join();
  CHECK(misses == 0);
}
