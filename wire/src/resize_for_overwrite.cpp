// Compiled as C++23 where the compiler can (wire/CMakeLists.txt), and only
// this file: std::string::resize_and_overwrite is the one C++23 facility the
// project uses, and the rest of plugvisor, its public headers and the hosts
// that include them stay C++20. The string's layout and ABI are the same in
// both modes (libstdc++, libc++), so a C++20 caller passes its std::string here.
#include <string>

#include "plugvisor/wire/http1.hpp"

namespace plugvisor::detail::http1 {

void resize_for_overwrite(std::string& body, std::size_t size) {
#if defined(__cpp_lib_string_resize_and_overwrite)
  // The operation claims `size` bytes without writing them; the caller's
  // read fills them next. It returns `size`, not the `n` it is given:
  // libstdc++ 12 passes the grown capacity there when the string reallocates
  // (GCC PR 109703: 16 MiB grown to 20 MiB came back as 32 MiB).
  body.resize_and_overwrite(size, [size](char*, std::size_t) noexcept { return size; });
#else
  body.resize(size);
#endif
}

}  // namespace plugvisor::detail::http1
