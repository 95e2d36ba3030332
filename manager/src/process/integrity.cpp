#include "process/integrity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <cstring>

#include "plugvisor/manager.hpp"

namespace plugvisor {

namespace detail {

namespace {

std::string hex_of(const unsigned char* digest, unsigned int size) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * size);
  for (unsigned int i = 0; i < size; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

}  // namespace

std::string sha256_of_fd(int fd, const std::string& what) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::internal, "cannot set up SHA-256 (OpenSSL)");
  }
  char buffer[65536];
  off_t offset = 0;
  while (true) {
    ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(ErrorCode::start_failed, "cannot read " + what + " to hash it: " + std::strerror(errno));
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buffer, static_cast<std::size_t>(n));
    offset += n;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &size);
  return hex_of(digest, size);
}

std::string sha256_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw Error(ErrorCode::internal, "cannot compute SHA-256 (OpenSSL)");
  }
  return hex_of(digest, size);
}

bool is_sha256_hex(const std::string& text) {
  return text.size() == 64 &&
         std::all_of(text.begin(), text.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::shared_ptr<const OpenedExecutable> OpenedExecutable::open(const std::filesystem::path& path, bool hash) {
  std::shared_ptr<OpenedExecutable> out(new OpenedExecutable());
  out->path_ = path;
  out->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (out->fd_ < 0) throw Error(ErrorCode::start_failed, "cannot open " + path.string() + ": " + std::strerror(errno));
  struct stat st{};
  if (::fstat(out->fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(ErrorCode::start_failed, path.string() + " is not a regular file");
  }
  char head[2] = {};
  ssize_t n = ::pread(out->fd_, head, sizeof head, 0);
  out->script_ = n == 2 && head[0] == '#' && head[1] == '!';
  if (hash) out->sha256_ = sha256_of_fd(out->fd_, path.string());
  return out;
}

OpenedExecutable::~OpenedExecutable() {
  if (fd_ >= 0) ::close(fd_);
}

void OpenedExecutable::check_pin(const std::string& pin) const { detail::check_pin(path_, sha256_, pin); }

void check_pin(const std::filesystem::path& path, const std::string& digest, const std::string& pin) {
  if (pin.empty()) return;
  std::string wanted = pin;
  std::transform(wanted.begin(), wanted.end(), wanted.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (wanted == digest) return;
  throw Error(ErrorCode::start_failed, path.string() + " has SHA-256 " + digest + ", but its pin is " + wanted +
                                           ": the file changed since it was pinned. If the change is yours, set "
                                           "\"sha256\" to the new digest (plugvisor inspect prints it); if not, "
                                           "treat the plugin directory as compromised");
}

}  // namespace detail

std::string file_sha256(const std::filesystem::path& path) {
  return detail::OpenedExecutable::open(path, true)->sha256();
}

}  // namespace plugvisor
