#include "transport/transport.hpp"

#include <algorithm>
#include <optional>

#include "quote.hpp"

namespace plugvisor {

std::string_view to_string(Transport transport) noexcept {
  switch (transport) {
    case Transport::automatic: return "auto";
    case Transport::unix_socket: return "unix";
    case Transport::tcp: return "tcp";
  }
  return "unknown";
}

namespace detail {

std::vector<Transport> parse_transports(const Json& doc) {
  auto member = doc.find("transports");
  if (member == doc.end() || member->is_null()) return {Transport::unix_socket, Transport::tcp};
  auto fail = [&](const std::string& why) {
    throw Error(ErrorCode::start_failed, "capabilities \"transports\" " + why + ", not " + quote(member->dump()) +
                                             " (list the transports the plugin serves, e.g. [\"unix\", \"tcp\"], "
                                             "or leave the member out if it serves both)");
  };
  if (!member->is_array()) fail("must be an array of \"unix\" and \"tcp\"");
  std::vector<Transport> out;
  for (const auto& entry : *member) {
    if (!entry.is_string()) fail("must hold only strings");
    // Names this manager does not know are skipped: a later protocol may add
    // transports, and such a plugin still works over the ones listed here.
    std::optional<Transport> known;
    if (entry == "unix") known = Transport::unix_socket;
    if (entry == "tcp") known = Transport::tcp;
    if (known && std::find(out.begin(), out.end(), *known) == out.end()) out.push_back(*known);
  }
  if (out.empty()) fail("must list at least one transport this manager speaks (\"unix\" or \"tcp\")");
  return out;
}

Transport choose_transport(const std::vector<Transport>& served, Transport setting) {
  auto serves = [&](Transport t) { return std::find(served.begin(), served.end(), t) != served.end(); };
  if (setting == Transport::automatic) return serves(Transport::unix_socket) ? Transport::unix_socket : Transport::tcp;
  if (serves(setting)) return setting;
  throw Error(ErrorCode::config, "the configuration sets transport \"" + std::string(to_string(setting)) +
                                     "\" for it, but the plugin serves only " + transports_text(served) +
                                     " (capabilities \"transports\"): set transport \"auto\" (the default) or one "
                                     "the plugin serves");
}

std::string transports_text(const std::vector<Transport>& served) {
  std::string out;
  for (auto t : served) out += (out.empty() ? "" : ", ") + std::string(to_string(t));
  return out;
}

}  // namespace detail

}  // namespace plugvisor
