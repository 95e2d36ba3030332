// The call broker's one rule (docs/admin-api.md, "Call broker"): a request
// to POST /v1/call/{contract}/{type}/{method} turned into a call through the
// manager's registry and back into an answer. Both ways the admin API serves
// the route use it: the lean path on the project's HTTP/1.1 codec
// (lean_call.cpp) and cpp-httplib's handler (admin_api.cpp, for what the
// lean path leaves to it).
#pragma once

#include <string>
#include <string_view>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// What a broker call answers: the method's result, or the error body.
struct BrokerAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
  /// The provider that answered (X-Plugvisor-Provider); empty on an error.
  std::string provider;
};

/// What a broker call is given, from the request.
struct BrokerRequest {
  std::string_view contract, type, method;
  std::string_view content_type;  ///< the request's Content-Type, maybe empty
  bool has_deadline = false;      ///< an X-Plugvisor-Deadline-Ms header came
  std::string_view deadline;      ///< its value, checked here
  std::string body;               ///< the method's input as received
};

/// Calls the method on the provider the registry picks and returns the
/// answer, a plugvisor::Error as its error answer. Never throws but for
/// std::bad_alloc and the like. Thread-safe (the manager is).
BrokerAnswer broker_call(Manager& manager, BrokerRequest request);

/// The error answer for `code` and `message`, with the code's status unless
/// `status` is given.
BrokerAnswer broker_error(ErrorCode code, const std::string& message, int status = 0);

}  // namespace plugvisor::detail
