// The daemon is the host of its own process: the one place that sets its
// process-wide state (docs/operations.md, "The daemon's process").
#pragma once

namespace plugvisor::detail {

/// Ignores SIGPIPE if it is at its default (cpp-httplib's server writes
/// without MSG_NOSIGNAL) and tunes glibc's malloc, unless GLIBC_TUNABLES sets
/// malloc tunables: mmap threshold 32 MiB (call bodies stay in the heap), and
/// trim threshold and top pad 1 MiB with `return_freed_memory` (freed memory
/// goes back to the system), else 128 MiB and 16 MiB (ManagerOptions::tune_malloc's).
/// Idempotent; the daemon calls it before it makes its manager.
void own_daemon_process(bool return_freed_memory);

}  // namespace plugvisor::detail
