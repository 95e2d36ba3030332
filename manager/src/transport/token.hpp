// Fresh bearer tokens for plugin launches.
#pragma once

#include <string>

namespace plugvisor::detail {

/// 32 random bytes from the kernel, as 64 lower-case hex digits.
std::string random_token();

}  // namespace plugvisor::detail
