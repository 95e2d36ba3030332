// POST /v1/call/{contract}/{type}/{method} on the project's own HTTP/1.1
// codec (contracts' http1, the one the SDK and the manager's client share),
// not cpp-httplib: the call broker is the admin API's hot path, and a call
// through it should cost little more than the round trip it adds. The head
// gate has admitted the request (token, body limit) before it gets here.
#pragma once

#include "gated_server.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// The route for a GatedServer. It takes a call whose body has a
/// Content-Length, whose path has no percent-encoding and which is not a
/// form upload; cpp-httplib's handler (admin_api.cpp) serves the rest
/// (chunked bodies, encoded names, the 415 for `curl -F`), with the same
/// broker_call. `manager` must outlive the server.
LeanRoute lean_call_route(Manager& manager);

}  // namespace plugvisor::detail
