// The sections of plugvisor-bench kept in files of their own (the older ones
// are still in bench.cpp). Each measures plugvisor and its floor or reference
// in the same run and adds rows to `results`.
#pragma once

#include "harness.hpp"

namespace plugvisor::bench {

/// field: plugvisor against HashiCorp's go-plugin (net/rpc and gRPC), the
/// same payloads, caller threads and cold-start definition (field.cpp).
void bench_field(const Options& options, Results& results);

/// languages: the Python SDK, Node and Go plugins, each against a floor in
/// its own language: call latency and cold start (languages.cpp).
void bench_languages(const Options& options, Results& results);

/// path: a call through the daemon's broker and through `plugvisor call`,
/// against a direct call and a raw round trip (path.cpp).
void bench_path(const Options& options, Results& results);

/// proxy: the reverse-proxy example's overhead per request (bypass, a header
/// filter, a body filter, five filters of one process) against the proxy
/// with plugins disabled and a raw round trip, in a tight loop and made
/// inside the pipeline by the upstream (proxy.cpp).
void bench_proxy(const Options& options, Results& results);

/// --proxy-loop SUBJECT COUNT: only COUNT requests through the proxy
/// (SUBJECT disabled or header), for perf; prints the pids, the requests
/// over 1 ms, and each process's CPU time per request: on-CPU (schedstat)
/// and its user/system split (proxy.cpp).
int proxy_loop(const Options& options);

/// scale: the daemon with 10, 100 and 1,000 plugins registered and a tenth
/// running (memory, list, status, reload), and calls at a sustained rate
/// through it (scale.cpp).
void bench_scale(const Options& options, Results& results);

}  // namespace plugvisor::bench
