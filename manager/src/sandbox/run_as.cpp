#include "run_as.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <vector>

#include "kernel_support.hpp"

namespace plugvisor::detail {

namespace {

std::optional<std::uint32_t> number(const std::string& text) {
  std::uint32_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == static_cast<std::uint32_t>(-1)) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

RunAs resolve_run_as(const std::string& user, const std::string& group) {
  const std::string name = user.empty() ? "nobody" : user;
  RunAs out;
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (auto id = number(name)) {
    out.uid = *id;
    ::getpwuid_r(out.uid, &entry, buffer.data(), buffer.size(), &found);
    if (!found && group.empty()) {
      throw Error(ErrorCode::config, "user " + name + " has no entry in the user database, so it has no primary "
                                     "group: set \"group\" too");
    }
  } else {
    ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (!found) {
      throw Error(ErrorCode::config, "no user \"" + name + "\" on this machine (getent passwd " + name +
                                         "): set \"user\" to an existing user or a number");
    }
    out.uid = found->pw_uid;
  }
  if (found) out.gid = found->pw_gid;
  if (!group.empty()) {
    if (auto id = number(group)) {
      out.gid = *id;
    } else {
      std::vector<char> group_buffer(16384);
      struct group group_entry{};
      struct group* group_found = nullptr;
      ::getgrnam_r(group.c_str(), &group_entry, group_buffer.data(), group_buffer.size(), &group_found);
      if (!group_found) {
        throw Error(ErrorCode::config, "no group \"" + group + "\" on this machine (getent group " + group +
                                           "): set \"group\" to an existing group or a number");
      }
      out.gid = group_found->gr_gid;
    }
  }
  out.text = name + " (" + std::to_string(out.uid) + ":" + std::to_string(out.gid) + ")";
  return out;
}

std::optional<RunAs> plugin_run_as(const PluginSettings& settings) {
  if (!settings.grant || !kernel_support().root) return std::nullopt;
  try {
    return resolve_run_as(settings.user, settings.group);
  } catch (const Error& e) {
    throw Error(ErrorCode::start_failed, e.what());
  }
}

}  // namespace plugvisor::detail
