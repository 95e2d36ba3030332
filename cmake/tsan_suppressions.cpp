// Built into every executable of a ThreadSanitizer build
// (PLUGVISOR_SANITIZE=thread; cmake/PlugvisorTarget.cmake): the suppressions
// travel inside each binary, so a plugin inside the sandbox, which may not read
// the source tree, gets them as the tests do, with no TSAN_OPTIONS to pass on.
// Each line suppresses only reports from code ThreadSanitizer cannot see into.
extern "C" __attribute__((visibility("default"))) const char* __tsan_default_suppressions() {
  return
      // Debian's cpp-httplib is a prebuilt, uninstrumented shared library: its
      // function-local statics (std::regex objects) are initialised under
      // guards ThreadSanitizer cannot see, so a first use from two threads is
      // reported as a race inside the library.
      "race:libcpp-httplib.so\n"
      // libstdc++ (also uninstrumented) caches std::ctype<char>::narrow's
      // answers in a table without synchronisation; every thread writes the
      // same byte (GCC bug 77704). std::regex compiled in two threads at once
      // (the JSON Schema "pattern" keyword, probes run in parallel) meets it.
      "race:std::ctype<char>::narrow\n";
}
