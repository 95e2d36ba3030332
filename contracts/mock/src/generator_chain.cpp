// GeneratorChain: the highest offer among responseGenerators generates.
#include "plugvisor/contracts/mock.hpp"

namespace plugvisor::mock {

GeneratorOutcome GeneratorChain::generate(const http::Request& request) const {
  GeneratorOutcome outcome;
  const Provided<ResponseGenerator>* best = nullptr;
  int best_priority = 0;
  auto generators = registry_.ranked<ResponseGenerator>();
  for (const auto& generator : generators) {
    try {
      GeneratorOffer offer = generator.object->can_handle(request);
      // Strictly higher: among equal priorities the earlier in rank order keeps it.
      if (offer.can_handle && (!best || offer.priority > best_priority)) {
        best = &generator;
        best_priority = offer.priority;
      }
    } catch (const Error& e) {
      outcome.failures.push_back(generator.type + " of " + generator.provider + " (" + std::string(to_string(e.code())) +
                                 "): " + e.what());
    }
  }
  if (!best) return outcome;
  try {
    outcome.response = best->object->generate(request);
  } catch (const Error& e) {
    throw Error(e.code(), "responseGenerator type '" + best->type + "' of " + best->provider + " failed: " + e.what());
  }
  outcome.type = best->type;
  outcome.provider = best->provider;
  return outcome;
}

}  // namespace plugvisor::mock
