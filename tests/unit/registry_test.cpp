// The registry: typed lookup, the conflict rule, listing, thread safety.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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
  plugvisor::Bytes process_data(plugvisor::Bytes) override { return tag_; }
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

TEST_CASE("a lookup sees every registration and removal at once, on every thread", "[registry][threads]") {
  plugvisor::Registry registry;
  registry.add(external("shared", "low"));
  CHECK(registry.get<DataProcessor>("shared")->process_data("") == "low");  // cached on this thread now
  std::thread([&] { registry.add(external("shared", "high", 5)); }).join();
  CHECK(registry.get<DataProcessor>("shared")->process_data("") == "high");
  CHECK(registry.channel("dataProcessor", "shared")->call("processData", {plugvisor::Encoding::bytes, ""}).body ==
        "high");
  std::thread([&] { registry.remove_provider("high"); }).join();
  CHECK(registry.get<DataProcessor>("shared")->process_data("") == "low");
  std::thread([&] { registry.remove_provider("low"); }).join();
  CHECK(registry.find<DataProcessor>("shared") == nullptr);
  CHECK_THROWS_AS(registry.channel("dataProcessor", "shared"), Error);
}

TEST_CASE("a removed provider is released once no caller holds it", "[registry]") {
  plugvisor::Registry registry;
  auto impl = std::make_shared<Tagged>("gone");
  std::weak_ptr<Tagged> watch = impl;
  registry.add_internal<DataProcessor>("gone", std::move(impl));
  CHECK(registry.get<DataProcessor>("gone")->process_data("") == "gone");
  auto held = registry.get<DataProcessor>("gone");
  registry.remove_provider("internal");
  CHECK_FALSE(watch.expired());  // the caller's reference keeps it
  CHECK(held->process_data("") == "gone");
  held.reset();
  CHECK(watch.expired());  // nothing the registry or its lookups cached keeps it
}

TEST_CASE("several registries used by one thread never mix their providers", "[registry]") {
  std::vector<std::unique_ptr<plugvisor::Registry>> registries;
  for (int r = 0; r < 6; ++r) {  // more than a thread caches at once
    registries.push_back(std::make_unique<plugvisor::Registry>());
    registries.back()->add(external("t", "r" + std::to_string(r)));
  }
  for (int round = 0; round < 3; ++round) {
    for (int r = 0; r < 6; ++r) {
      CHECK(registries[r]->get<DataProcessor>("t")->process_data("") == "r" + std::to_string(r));
    }
  }
  // A registry made where a destroyed one was starts empty, whatever was cached.
  registries[0].reset();
  registries[0] = std::make_unique<plugvisor::Registry>();
  CHECK(registries[0]->find<DataProcessor>("t") == nullptr);
}

TEST_CASE("many providers are all found, each under its own contract and type", "[registry]") {
  plugvisor::Registry registry;
  for (int i = 0; i < 300; ++i) registry.add(external("type-" + std::to_string(i), "p" + std::to_string(i)));
  registry.add_internal<plugvisor::PluginBase>("type-7", std::make_shared<plugvisor::PluginBase>());
  for (int i = 0; i < 300; ++i) {
    auto found = registry.find<DataProcessor>("type-" + std::to_string(i));
    REQUIRE(found);
    CHECK(found->process_data("") == "p" + std::to_string(i));
  }
  CHECK(registry.find<plugvisor::PluginBase>("type-7"));
  CHECK(registry.find<plugvisor::PluginBase>("type-8") == nullptr);
  CHECK(registry.find<DataProcessor>("type-300") == nullptr);
}

TEST_CASE("getting while other threads add and remove providers is safe and never misses a stable one",
          "[registry][threads]") {
  plugvisor::Registry registry;
  registry.add(external("stable", "p"));
  registry.add(external("contested", "low"));
  std::atomic<bool> done{false};
  std::atomic<int> wrong{0};
  std::atomic<int> running{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      ++running;
      while (!done) {
        if (registry.get<DataProcessor>("stable")->process_data("") != "p") ++wrong;
        // Either the winner or the fallback, never nothing.
        auto contested = registry.get<DataProcessor>("contested")->process_data("");
        if (contested != "low" && contested != "high") ++wrong;
        auto churn = registry.find<DataProcessor>("churn");
        if (churn && churn->process_data("") != "writer") ++wrong;
        (void)registry.channel("dataProcessor", "stable");
      }
    });
  }
  while (running < 3) std::this_thread::yield();
  for (int i = 0; i < 2000; ++i) {
    registry.add(external("contested", "high", 1));
    registry.add(external("churn", "writer"));
    registry.remove_provider("high");
    registry.remove_provider("writer");
  }
  done = true;
  for (auto& reader : readers) reader.join();
  CHECK(wrong == 0);
}
