#include "stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace plugvisor::bench {

namespace {

// Nearest rank: the smallest sample with at least p% of the samples at or below it.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

}  // namespace

Summary summarize(std::vector<double>& samples) {
  Summary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.n = samples.size();
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = percentile(samples, 50);
  s.p90 = percentile(samples, 90);
  s.p99 = percentile(samples, 99);
  s.mean = std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  return s;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  return percentile((std::sort(values.begin(), values.end()), values), 50);
}

}  // namespace plugvisor::bench
