// Checks of `PLUGIN capabilities` (C, protocol §4): the document, its
// descriptions and its transports.
#include "conformance/checker.hpp"

#include <algorithm>

#include "discovery/capabilities.hpp"
#include "process/environment.hpp"
#include "transport/transport.hpp"

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_capabilities() {
  auto run = run_plain({"capabilities"}, {"PATH=/usr/local/bin:/usr/bin:/bin", "PLUGVISOR_PROTOCOL=1"},
                       5s, false);
  record("C3", "§4.1", "`capabilities` exits 0 within 5 s", run.exit && run.exit->clean(),
         run.exit ? run.exit->describe() + "; stderr: " + detail::quote(run.err) : "still running after 5 s");
  Json doc = protocol::parse_json_or_discarded(run.out);
  record("C2", "§4.1", "`capabilities` writes exactly one JSON object to stdout, at most 1 MiB",
         doc.is_object() && run.out.size() <= 1024 * 1024, "stdout " + detail::quote(run.out));
  try {
    capabilities_ = detail::parse_capabilities(run.out);
    have_capabilities_ = true;
    record("C4", "§4.2", "capabilities: protocolVersion 1, name, version, types with valid names", true, "");
  } catch (const Error& e) {
    record("C4", "§4.2", "capabilities: protocolVersion 1, name, version, types with valid names", false, e.what());
  }
  if (have_capabilities_) {
    record("C5", "§4.2", "capabilities declares at least one type", !capabilities_.types.empty(),
           "no types declared");
    check_descriptions();
    check_transports(doc);
  }
}

// C9: "transports" lists only the transports of protocol 1, each once. The
// manager skips names it does not know (a later protocol may add some);
// a plugin of protocol 1 has no reason to list one.
void Checker::check_transports(const Json& doc) {
  served_ = capabilities_.transports;
  tcp_ = detail::choose_transport(served_, Transport::automatic) == Transport::tcp;
  auto member = doc.find("transports");
  bool ok = true;
  if (member != doc.end() && !member->is_null()) {
    std::vector<std::string> seen;
    for (const auto& entry : *member) {
      bool known = entry == "unix" || entry == "tcp";
      ok = ok && known && std::find(seen.begin(), seen.end(), entry.get<std::string>()) == seen.end();
      if (known) seen.push_back(entry.get<std::string>());
    }
  }
  record("C9", "§4.2", "\"transports\", when given, lists \"unix\" and/or \"tcp\", each once", ok,
         "transports " + (member == doc.end() ? std::string("absent") : detail::quote(member->dump())));
}

// C7: every contract with types is described, so that hosts can check it;
// C8: a description of a built-in contract fits the built-in.
void Checker::check_descriptions() {
  std::string undescribed, misfits;
  for (const auto& t : capabilities_.types) {
    if (!capabilities_.contracts.contains(t.contract)) {
      if (undescribed.find(t.contract) == std::string::npos) undescribed += (undescribed.empty() ? "" : ", ") + t.contract;
      continue;
    }
    const ContractInfo* builtin = find_builtin_contract(t.contract);
    if (!builtin || misfits.find(t.contract + ":") != std::string::npos) continue;
    auto fit = check_compatibility(builtin->description, &capabilities_.contracts.at(t.contract));
    if (fit.level != Compatibility::Level::full) misfits += t.contract + ": " + fit.reason + "; ";
  }
  record("C7", "§4.2", "every contract the plugin provides types of is described in \"contracts\"",
         undescribed.empty(), "no description of " + undescribed, Weight::should);
  record("C8", "§4.2", "descriptions of built-in contracts (pluginBase, dataProcessor) fit the built-in ones",
         misfits.empty(), misfits);
}

}  // namespace plugvisor::cli::conformance
