#include "signature_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "process/integrity.hpp"

namespace plugvisor::detail {

namespace {

constexpr std::string_view format_line = "plugvisor-signature 1";
// A signature file is about 300 bytes.
constexpr std::size_t max_signature_file = 4096;

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> unhex(std::string_view text) {
  if (text.size() % 2) return std::nullopt;
  auto value = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int high = value(text[i]), low = value(text[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
  }
  return out;
}

bool lower_hex(std::string_view text, std::size_t size) {
  return text.size() == size &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

struct SignatureFile {
  std::string plugin, sha256, key_id, signature;
};

// nullopt when there is no file; throws std::string (the reason) when it is unreadable or malformed.
std::optional<std::string> read_bounded(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0 && errno == ENOENT) return std::nullopt;
  if (fd < 0) throw std::string("cannot be read: ") + std::strerror(errno);
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::string("is not a regular file");
  }
  std::string text(max_signature_file + 1, '\0');
  std::size_t size = 0;
  while (size < text.size()) {
    ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (size > max_signature_file) throw std::string("is larger than 4 KiB");
  text.resize(size);
  return text;
}

// The five lines, in order: the format line, then "plugin ID", "sha256 HEX",
// "key ID", "ed25519 HEX", each ending in a newline.
SignatureFile parse(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) throw std::string("it does not end with a newline (truncated?)");
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  if (lines.empty() || lines[0] != format_line) {
    throw std::string("its first line is not \"") + std::string(format_line) + "\"";
  }
  static const char* const fields[] = {"plugin", "sha256", "key", "ed25519"};
  if (lines.size() != 5) {
    throw "it has " + std::to_string(lines.size()) + " lines, not 5 (" + std::string(format_line) +
        ", plugin, sha256, key, ed25519): truncated?";
  }
  std::string values[4];
  for (int i = 0; i < 4; ++i) {
    const std::string& line = lines[static_cast<std::size_t>(i) + 1];
    std::string prefix = std::string(fields[i]) + " ";
    if (!line.starts_with(prefix)) throw "line " + std::to_string(i + 2) + " does not start with \"" + prefix + "\"";
    values[i] = line.substr(prefix.size());
  }
  if (values[0].empty()) throw std::string("its plugin id is empty");
  if (!lower_hex(values[1], 64)) throw std::string("its sha256 is not 64 lowercase hex digits");
  if (!lower_hex(values[2], 16)) throw std::string("its key id is not 16 lowercase hex digits");
  if (!lower_hex(values[3], 128)) throw std::string("its ed25519 signature is not 128 lowercase hex digits");
  return {values[0], values[1], values[2], *unhex(values[3])};
}

SignatureStatus bad(std::string key_id, std::string note) {
  return {SignatureState::bad, std::move(key_id), std::move(note)};
}

}  // namespace

std::string signed_message(const std::string& plugin_id, const std::string& sha256) {
  return std::string(format_line) + "\nplugin " + plugin_id + "\nsha256 " + sha256 + "\n";
}

std::string format_signature_file(const std::string& plugin_id, const std::string& sha256, const SigningKey& key) {
  std::string message = signed_message(plugin_id, sha256);
  return message + "key " + key.id() + "\ned25519 " + hex(key.sign(message)) + "\n";
}

SignatureStatus read_signature(const std::filesystem::path& executable, const std::string& digest,
                               const TrustedKeys& keys) {
  const std::filesystem::path file = executable.string() + ".sig";
  const std::string id = executable.filename().string();
  SignatureFile signature;
  try {
    auto text = read_bounded(file);
    if (!text) return {};
    signature = parse(*text);
  } catch (const std::string& reason) {
    return bad("", "the signature file " + file.string() + " is malformed: " + reason +
                       ". Sign the plugin again (plugvisor sign --key KEY PLUGIN), or remove the file");
  }
  if (signature.plugin != id) {
    return bad(signature.key_id, "the signature file " + file.string() + " (key " + signature.key_id +
                                     ") is for plugin " + signature.plugin + ", not " + id +
                                     ": a signature cannot be moved to another plugin. Sign " + id + " itself");
  }
  if (signature.sha256 != digest) {
    return bad(signature.key_id, executable.string() + " has SHA-256 " + digest + ", but its signature (key " +
                                     signature.key_id + ") is for " + signature.sha256 +
                                     ": the file changed after it was signed. If the change is yours, sign it "
                                     "again (plugvisor sign); if not, treat the plugin directory as compromised");
  }
  auto key = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k->id() == signature.key_id; });
  if (key == keys.end()) {
    return {SignatureState::untrusted, signature.key_id,
            "signed by key " + signature.key_id + ", which is not a trusted key here: if you trust it, add its "
            "public key file to \"trustedKeys\" in the configuration"};
  }
  if (!(*key)->verify(signed_message(id, digest), signature.signature)) {
    return bad(signature.key_id, "the signature in " + file.string() + " does not verify with the trusted key " +
                                     signature.key_id + ": it was forged or damaged. Sign the plugin again "
                                     "(plugvisor sign); if you did not change it, treat the directory as compromised");
  }
  return {SignatureState::trusted, signature.key_id, ""};
}

SignatureStatus check_signature(const std::filesystem::path& executable, const std::string& digest,
                                const SignatureCheck& check) {
  static const TrustedKeys none;
  SignatureStatus status = read_signature(executable, digest, check.keys ? *check.keys : none);
  const bool required = check.policy == SignaturePolicy::required;
  const std::string where = "its directory " + executable.parent_path().string() + " requires a signature by a trusted key";
  switch (status.state) {
    case SignatureState::bad:
      throw Error(ErrorCode::start_failed, "bad signature: " + status.note);
    case SignatureState::unsigned_plugin:
      if (required) {
        throw Error(ErrorCode::start_failed, executable.string() + " is not signed (no " + executable.filename().string() +
                                                 ".sig beside it), but " + where +
                                                 ": sign it with plugvisor sign --key KEY " + executable.string());
      }
      break;
    case SignatureState::untrusted:
      if (required) throw Error(ErrorCode::start_failed, status.note + " (" + where + ")");
      break;
    case SignatureState::trusted:
      break;
  }
  return status;
}

}  // namespace plugvisor::detail
