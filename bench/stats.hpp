// Order statistics of latency samples.
#pragma once

#include <cstddef>
#include <vector>

namespace plugvisor::bench {

/// A summary of samples in nanoseconds.
struct Summary {
  std::size_t n = 0;
  double min = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
  double max = 0;
  double mean = 0;
};

/// Nearest-rank percentiles (p50 is the median) of `samples` (reordered).
Summary summarize(std::vector<double>& samples);

/// The median of `values` (reordered); 0 if empty.
double median(std::vector<double> values);

}  // namespace plugvisor::bench
