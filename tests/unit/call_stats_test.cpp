// The manager's call statistics (manager/src/supervision/call_stats.cpp):
// each calling thread records into a shard of its own; readers merge them.
#include <chrono>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "supervision/call_stats.hpp"

using namespace std::chrono_literals;
using plugvisor::ErrorCode;
using plugvisor::detail::CallStats;
using Clock = std::chrono::steady_clock;

TEST_CASE("call statistics recorded by several threads at once add up, in the declared order", "[manager][stats]") {
  CallStats stats;
  stats.declare("dataProcessor", "a");
  stats.declare("dataProcessor", "b");
  constexpr int threads = 4;
  constexpr int calls = 3000;
  const auto start = Clock::now();
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        const bool failed = i % 100 == 0;
        stats.record("dataProcessor", "a", start + std::chrono::microseconds(i * threads + t), 1ms,
                     failed ? std::optional(ErrorCode::timeout) : std::nullopt);
      }
    });
  }
  for (auto& caller : callers) caller.join();
  stats.record("textTransformer", "late", Clock::now(), 3ms, std::nullopt);  // not declared

  auto by_type = stats.by_type();
  REQUIRE(by_type.size() == 3);
  CHECK(by_type[0].type == "a");
  CHECK(by_type[1].type == "b");
  CHECK(by_type[2].contract == "textTransformer");
  CHECK(by_type[0].calls == threads * calls);
  CHECK(by_type[0].errors == threads * calls / 100);
  CHECK(by_type[0].errors_by_code["timeout"] == threads * calls / 100);
  std::uint64_t bucketed = 0;
  for (auto count : by_type[0].buckets) bucketed += count;
  CHECK(bucketed == threads * calls);
  CHECK(by_type[0].latency_sum == Approx(threads * calls * 0.001));
  CHECK(by_type[0].latency.p50 == Approx(0.001));
  CHECK(by_type[1].calls == 0);
  CHECK_FALSE(by_type[1].latency.p50.has_value());
  CHECK(by_type[2].calls == 1);
}

TEST_CASE("latency quantiles are those of the last 1024 calls of all threads, not of each thread's", "[manager][stats]") {
  CallStats stats;
  const auto start = Clock::now();
  // One thread makes 2,000 slow calls; later, another makes 1,024 fast ones:
  // the last 1,024 calls are all fast, though the first thread's shard still
  // holds 1,024 slow ones.
  std::thread slow([&] {
    for (int i = 0; i < 2000; ++i) stats.record("c", "t", start + std::chrono::microseconds(i), 1s, std::nullopt);
  });
  slow.join();
  std::thread fast([&] {
    for (int i = 0; i < 1024; ++i) {
      stats.record("c", "t", start + 1s + std::chrono::microseconds(i), 2ms, std::nullopt);
    }
  });
  fast.join();
  CHECK(stats.overall().p99 == Approx(0.002));
  CHECK(stats.by_type().at(0).latency.p99 == Approx(0.002));
  CHECK(stats.by_type().at(0).calls == 3024);
  // 20 more slow calls (2 % of the last 1,024) from a third thread: the p99
  // sees them, the p50 does not.
  std::thread([&] {
    for (int i = 0; i < 20; ++i) stats.record("c", "t", start + 2s + std::chrono::microseconds(i), 1s, std::nullopt);
  }).join();
  CHECK(stats.overall().p50 == Approx(0.002));
  CHECK(stats.overall().p99 == Approx(1.0));
}
