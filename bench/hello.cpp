// bench-hello: the cold-start floor. Prints one line and exits; the benchmark
// times fork + exec + that line, the least any plugin launch can cost.
#include <unistd.h>

int main() {
  static const char line[] = "{\"hello\":1}\n";
  return ::write(1, line, sizeof line - 1) == sizeof line - 1 ? 0 : 1;
}
