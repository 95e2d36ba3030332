#include "checked_channel.hpp"

namespace plugvisor::detail {

CheckedChannel::CheckedChannel(std::shared_ptr<Channel> inner, std::string provider,
                               std::set<std::string, std::less<>> missing,
                               std::map<std::string, JsonSchema, std::less<>> input_schemas)
    : inner_(std::move(inner)),
      provider_(std::move(provider)),
      missing_(std::move(missing)),
      input_schemas_(std::move(input_schemas)) {}

Payload CheckedChannel::call(std::string_view method, Payload input) {
  if (missing_.contains(method)) {
    throw Error(ErrorCode::not_found, provider_ + " does not implement method '" + std::string(method) +
                                          "' (it describes an older version of the contract; update the plugin, "
                                          "or ask Registry::supports() before calling)");
  }
  if (auto schema = input_schemas_.find(method); schema != input_schemas_.end() && input.encoding == Encoding::json) {
    Json document;
    try {
      document = protocol::parse_json(input.body);
    } catch (const std::exception& e) {
      throw Error(ErrorCode::invalid_input, "the input of " + std::string(method) + " is not JSON: " + e.what());
    }
    auto violations = schema->second.validate(document);
    if (!violations.empty()) {
      throw Error(ErrorCode::invalid_input, "the input of " + std::string(method) + " for " + provider_ +
                                                " breaks its schema: " + JsonSchema::describe(violations.front()));
    }
  }
  return inner_->call(method, std::move(input));
}

}  // namespace plugvisor::detail
