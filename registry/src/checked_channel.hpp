// The channel behind a typed object of an external provider when the host
// wants more than the wire: methods the provider lacks, input schemas.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "plugvisor/contracts.hpp"
#include "plugvisor/detail/json_schema.hpp"

namespace plugvisor::detail {

/// Answers calls to methods the provider lacks with Error(not_found) without
/// calling it, and (when asked) checks JSON inputs against the host's input
/// schemas before they leave; everything else goes to the inner channel.
class CheckedChannel final : public Channel {
 public:
  /// `provider` names the provider in errors ("plugin hello's greeter type 'formal'").
  CheckedChannel(std::shared_ptr<Channel> inner, std::string provider, std::set<std::string, std::less<>> missing,
                 std::map<std::string, JsonSchema, std::less<>> input_schemas);

  Payload call(std::string_view method, Payload input) override;
  std::string provider() const override { return inner_->provider(); }

 private:
  std::shared_ptr<Channel> inner_;
  std::string provider_;
  std::set<std::string, std::less<>> missing_;
  std::map<std::string, JsonSchema, std::less<>> input_schemas_;
};

}  // namespace plugvisor::detail
