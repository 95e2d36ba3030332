// HandlerChain: the first-success chain of httpHandler providers.
#include "plugvisor/contracts/http.hpp"

namespace plugvisor::http {

namespace {

bool is_success(int status) { return status >= 100 && status <= 299; }

}  // namespace

ChainOutcome HandlerChain::handle(const Request& request) const {
  ChainOutcome outcome;
  for (const auto& handler : registry_.ranked<HttpHandler>()) {
    try {
      HandlerReply reply = handler.object->handle(request);
      if (reply.response && is_success(reply.response->status)) {
        outcome.response = std::move(reply.response);
        outcome.handled_by_type = handler.type;
        outcome.handled_by = handler.provider;
        return outcome;
      }
      outcome.declined.push_back(handler.type + ": " +
                                 (reply.response ? std::to_string(reply.response->status) : std::string("null")));
    } catch (const Error& e) {
      outcome.failures.push_back(ChainFailure{handler.type, handler.provider, e.code(), e.what()});
    } catch (const std::exception& e) {
      // A Remote<C> throws only Error; an in-process handler may throw anything.
      outcome.failures.push_back(ChainFailure{handler.type, handler.provider, ErrorCode::internal, e.what()});
    }
  }
  return outcome;
}

std::optional<Response> failure_response(const ChainOutcome& outcome) {
  if (outcome.response || outcome.failures.empty()) return std::nullopt;
  bool all_timed_out = true;
  std::string message = "no httpHandler answered the request, and ";
  message += outcome.failures.size() == 1 ? "one failed: " : std::to_string(outcome.failures.size()) + " failed: ";
  for (std::size_t i = 0; i < outcome.failures.size(); ++i) {
    const auto& failure = outcome.failures[i];
    all_timed_out = all_timed_out && failure.code == ErrorCode::timeout;
    message += (i ? "; " : "") + std::string("type '") + failure.type + "' of " + failure.provider + " (" +
               std::string(to_string(failure.code)) + "): " + failure.message;
  }
  return all_timed_out ? error_response(504, ErrorCode::timeout, message)
                       : error_response(502, ErrorCode::bad_reply, message);
}

}  // namespace plugvisor::http
