// A plugin's signature file, EXECUTABLE.sig, and checking it against the
// digest of the descriptor that is executed (docs/security.md, "Signatures").
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "plugvisor/manager.hpp"
#include "signing_key.hpp"

namespace plugvisor::detail {

/// What a plugin's signature is checked against: the keys and its directory's policy.
struct SignatureCheck {
  std::shared_ptr<const TrustedKeys> keys;
  SignaturePolicy policy = SignaturePolicy::optional;
};

/// The signed statement: the format line, the plugin id and the digest.
/// Binding the id means a signature cannot be moved to another plugin.
std::string signed_message(const std::string& plugin_id, const std::string& sha256);

/// The text of a signature file for `plugin_id` with content digest `sha256`.
std::string format_signature_file(const std::string& plugin_id, const std::string& sha256, const SigningKey& key);

/// Reads `executable`.sig and checks it for `digest` (of the descriptor that
/// will run) and the plugin id (the file name). Never throws for a bad
/// signature: the status says what is wrong and what to do.
SignatureStatus read_signature(const std::filesystem::path& executable, const std::string& digest,
                               const TrustedKeys& keys);

/// read_signature, then the policy: throws Error(start_failed) naming the
/// plugin, the key and what to do for a bad signature, or under `required`
/// for an unsigned plugin or an untrusted key.
SignatureStatus check_signature(const std::filesystem::path& executable, const std::string& digest,
                                const SignatureCheck& check);

}  // namespace plugvisor::detail
