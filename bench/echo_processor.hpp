// The bench plugins' dataProcessor: returns its input unchanged, so that a
// call costs the transport and nothing else (bench-echo, bench-scale).
#pragma once

#include <string>
#include <vector>

#include "plugvisor/sdk.hpp"

namespace plugvisor::bench {

class Echo final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::Bytes input) override { return input; }
  std::vector<std::string> supported_formats() override { return {"application/octet-stream"}; }
};

}  // namespace plugvisor::bench
