// The Channel behind a typed wrapper of an external provider.
#pragma once

#include <memory>
#include <string>

#include "supervision/supervised_plugin.hpp"

namespace plugvisor::detail {

/// Routes a typed wrapper's calls for one (contract, type) to its plugin.
class PluginChannel final : public Channel {
 public:
  PluginChannel(std::shared_ptr<SupervisedPlugin> plugin, std::string contract, std::string type)
      : plugin_(std::move(plugin)), contract_(std::move(contract)), type_(std::move(type)) {}

  Payload call(std::string_view method, Payload input) override {
    return plugin_->call(contract_, type_, method, input);
  }
  std::string provider() const override { return "plugin " + plugin_->id() + "'s " + contract_ + " type '" + type_ + "'"; }

 private:
  std::shared_ptr<SupervisedPlugin> plugin_;
  std::string contract_;
  std::string type_;
};

}  // namespace plugvisor::detail
