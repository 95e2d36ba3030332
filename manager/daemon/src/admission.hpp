// Which admin requests the head gate answers itself and which reach a worker:
// the rules of docs/admin-api.md ("Authentication", "Limits") applied to a
// request head, before any body is read.
#pragma once

#include <cstdint>
#include <string>

#include "head_gate.hpp"

namespace plugvisor::detail {

/// The admission rules of one listener.
struct AdmissionRules {
  /// Empty: the Unix socket (the file system authenticates). Otherwise every
  /// request but GET /healthz and GET / must carry "Authorization: Bearer TOKEN".
  std::string token;
  /// The largest body of a call through the broker (POST /v1/call/...).
  std::uint64_t call_body_limit = 64ull << 20;
  /// The largest body of any other request (actions and reload take `{}`).
  std::uint64_t other_body_limit = 64 << 10;
};

/// The gate's policy for `rules`: /healthz and the page answered at once, a
/// missing or wrong token refused with 401, a declared body over its limit
/// with 413; the rest admitted with its body's size.
GatePolicy admin_admission(AdmissionRules rules);

/// Whether `authorization` is "Bearer " + `token` (constant time in the
/// token's bytes; an empty token never matches).
bool bearer_matches(std::string_view authorization, std::string_view token);

}  // namespace plugvisor::detail
