#include "call_broker.hpp"

#include <optional>

namespace plugvisor::detail {

namespace {

Encoding encoding_of(std::string_view content_type, const std::string& body) {
  if (body.empty()) return Encoding::none;
  return content_type.starts_with("application/json") ? Encoding::json : Encoding::bytes;
}

// The deadline a request asks for, or the error answer for a bad header.
std::optional<BrokerAnswer> check_deadline(const BrokerRequest& request, std::optional<DeadlineScope>& deadline) {
  if (!request.has_deadline) return std::nullopt;
  auto ms = protocol::parse_deadline_ms(request.deadline);
  if (!ms || ms->count() == 0 || ms->count() > 86'400'000) {
    return broker_error(ErrorCode::invalid_input,
                        std::string(protocol::deadline_header) + " must be a whole number of milliseconds from 1 "
                                                                 "to 86400000, not \"" +
                            std::string(request.deadline) + "\"");
  }
  deadline.emplace(*ms);
  return std::nullopt;
}

}  // namespace

BrokerAnswer broker_error(ErrorCode code, const std::string& message, int status) {
  // Untrusted text (a plugin's message) may hold invalid UTF-8: replace, never throw.
  return {status ? status : http_status(code), "application/json",
          protocol::error_body(code, message).dump(-1, ' ', false, Json::error_handler_t::replace) + "\n", {}};
}

BrokerAnswer broker_call(Manager& manager, BrokerRequest request) {
  std::optional<DeadlineScope> deadline;
  if (auto refused = check_deadline(request, deadline)) return *refused;
  const std::string contract(request.contract), type(request.type), method(request.method);
  try {
    auto channel = manager.registry().channel(contract, type);
    auto active = manager.registry().active(contract, type);
    std::string provider = active ? active->provider : "";
    // A described method's input travels as its description says, whatever the Content-Type.
    Encoding encoding = encoding_of(request.content_type, request.body);
    if (auto described = manager.describe(contract, type)) {
      encoding = described->require_method(method, provider.empty() ? contract + " type " + type : provider).input;
      if (encoding == Encoding::json && !Json::accept(request.body)) {
        throw Error(ErrorCode::invalid_input, contract + " " + method + " takes JSON, and the body is not JSON");
      }
    }
    Payload result =
        channel->call(method, Payload{encoding, encoding == Encoding::none ? "{}" : std::move(request.body)});
    return {200, result.encoding == Encoding::bytes ? "application/octet-stream" : "application/json",
            std::move(result.body), std::move(provider)};
  } catch (const Error& e) {
    return broker_error(e.code(), e.what());
  }
}

}  // namespace plugvisor::detail
