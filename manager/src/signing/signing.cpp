// The public face of signing: keygen, sign, verify (the CLI's commands).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "process/integrity.hpp"
#include "plugvisor/manager.hpp"
#include "signature_file.hpp"
#include "signing_key.hpp"

namespace plugvisor {

namespace {

// Writes `text` to a new file `path` with `mode`; never replaces one.
void write_new_file(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    throw Error(ErrorCode::config, "cannot create " + path.string() + ": " + std::strerror(errno) +
                                       (errno == EEXIST ? " (a key is never overwritten: choose another name)" : ""));
  }
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) throw Error(ErrorCode::config, "cannot write " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

std::string_view to_string(SignaturePolicy policy) noexcept {
  return policy == SignaturePolicy::required ? "required" : "optional";
}

std::string_view to_string(SignatureState state) noexcept {
  switch (state) {
    case SignatureState::unsigned_plugin: return "unsigned";
    case SignatureState::trusted: return "signed";
    case SignatureState::untrusted: return "untrusted";
    case SignatureState::bad: return "bad";
  }
  return "bad";
}

Json signature_json(const SignatureStatus& status) {
  return {{"status", std::string(to_string(status.state))}, {"keyId", status.key_id}, {"note", status.note}};
}

std::string generate_signing_key(const std::filesystem::path& private_key, const std::filesystem::path& public_key) {
  auto key = detail::SigningKey::generate();
  write_new_file(private_key, key->pem(true), 0600);
  try {
    write_new_file(public_key, key->pem(false), 0644);
  } catch (...) {
    ::unlink(private_key.c_str());  // half a pair is of no use
    throw;
  }
  return key->id();
}

std::string sign_plugin(const std::filesystem::path& path, const std::filesystem::path& private_key) {
  auto key = detail::SigningKey::load_private(private_key);
  // Hashed through the descriptor, as the manager does before it executes it.
  auto executable = detail::OpenedExecutable::open(path, true);
  std::string text = detail::format_signature_file(path.filename().string(), executable->sha256(), *key);
  // Written beside it under a temporary name, then renamed over any old one.
  std::filesystem::path target = path.string() + ".sig";
  std::filesystem::path temporary = path.string() + ".sig.tmp-" + std::to_string(::getpid());
  ::unlink(temporary.c_str());
  write_new_file(temporary, text, 0644);
  if (::rename(temporary.c_str(), target.c_str()) != 0) {
    int error = errno;
    ::unlink(temporary.c_str());
    throw Error(ErrorCode::config, "cannot write " + target.string() + ": " + std::strerror(error));
  }
  return key->id();
}

SignatureStatus verify_plugin(const std::filesystem::path& path, const std::vector<std::filesystem::path>& trusted_keys) {
  auto keys = detail::load_trusted_keys(trusted_keys);
  auto executable = detail::OpenedExecutable::open(path, true);
  return detail::read_signature(path, executable->sha256(), *keys);
}

}  // namespace plugvisor
