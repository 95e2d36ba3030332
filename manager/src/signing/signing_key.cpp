#include "signing_key.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <sstream>

#include "process/integrity.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

namespace {

// Key files are a few hundred bytes; anything far larger is not one.
constexpr std::size_t max_key_file = 16 * 1024;

using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

EVP_PKEY* pkey(void* key) { return static_cast<EVP_PKEY*>(key); }

std::string read_key_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(ErrorCode::config, "cannot read the key file " + file.string() + ": no such file, or not readable");
  std::string text(max_key_file + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_key_file) {
    throw Error(ErrorCode::config, "the key file " + file.string() + " is larger than 16 KiB: it is not a key "
                                   "(plugvisor keygen writes one)");
  }
  return text;
}

std::string not_a_key(const std::filesystem::path& file, const std::string& text, bool want_private) {
  std::string held = text.find("PRIVATE KEY-----") != std::string::npos  ? "a private key"
                     : text.find("PUBLIC KEY-----") != std::string::npos ? "a public key of another kind"
                                                                         : "no PEM key";
  if (want_private && text.find("-----BEGIN PUBLIC KEY-----") != std::string::npos) held = "a public key";
  std::string wanted = want_private ? "an Ed25519 private key" : "an Ed25519 public key";
  std::string hint = want_private ? "sign with the .key file that `plugvisor keygen` wrote (or `openssl genpkey "
                                    "-algorithm ed25519`)"
                     : held == "a private key"
                         ? "list the public key (the .pub file) instead: never give the private key to the host"
                         : "list a .pub file that `plugvisor keygen` wrote (or `openssl pkey -pubout` made)";
  return "the key file " + file.string() + " holds " + held + ", not " + wanted + " in PEM form: " + hint;
}

std::string key_id_of(EVP_PKEY* key) {
  unsigned char raw[32];
  std::size_t size = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &size) != 1 || size != sizeof raw) {
    throw Error(ErrorCode::internal, "cannot read an Ed25519 public key (OpenSSL)");
  }
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(raw), size)).substr(0, 16);
}

}  // namespace

std::shared_ptr<const SigningKey> SigningKey::load_public(const std::filesystem::path& file) {
  std::string text = read_key_file(file);
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  EVP_PKEY* key = bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr;
  if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    if (key) EVP_PKEY_free(key);
    throw Error(ErrorCode::config, not_a_key(file, text, false));
  }
  std::shared_ptr<SigningKey> out(new SigningKey());
  out->key_ = key;
  out->id_ = key_id_of(key);
  return out;
}

std::shared_ptr<const SigningKey> SigningKey::load_private(const std::filesystem::path& file) {
  std::string text = read_key_file(file);
  Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
  // No passphrase callback: an encrypted key fails here instead of prompting.
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr)
                      : nullptr;
  if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    if (key) EVP_PKEY_free(key);
    throw Error(ErrorCode::config, not_a_key(file, text, true));
  }
  std::shared_ptr<SigningKey> out(new SigningKey());
  out->key_ = key;
  out->private_ = true;
  out->id_ = key_id_of(key);
  return out;
}

std::shared_ptr<const SigningKey> SigningKey::generate() {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                    EVP_PKEY_CTX_free);
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &key) != 1) {
    throw Error(ErrorCode::internal, "cannot generate an Ed25519 key (OpenSSL)");
  }
  std::shared_ptr<SigningKey> out(new SigningKey());
  out->key_ = key;
  out->private_ = true;
  out->id_ = key_id_of(key);
  return out;
}

SigningKey::~SigningKey() { EVP_PKEY_free(pkey(key_)); }

std::string SigningKey::sign(std::string_view message) const {
  if (!private_) throw Error(ErrorCode::config, "key " + id_ + " is a public key: signing needs the private key");
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::string signature(64, '\0');
  std::size_t size = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey(key_)) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      size != 64) {
    throw Error(ErrorCode::internal, "cannot sign with key " + id_ + " (OpenSSL)");
  }
  return signature;
}

bool SigningKey::verify(std::string_view message, std::string_view signature) const {
  if (signature.size() != 64) return false;
  MdCtx ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey(key_)) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

std::string SigningKey::pem(bool private_part) const {
  Bio bio(BIO_new(BIO_s_mem()), BIO_free);
  bool ok = bio && (private_part ? private_ && PEM_write_bio_PrivateKey(bio.get(), pkey(key_), nullptr, nullptr, 0,
                                                                        nullptr, nullptr) == 1
                                 : PEM_write_bio_PUBKEY(bio.get(), pkey(key_)) == 1);
  if (!ok) throw Error(ErrorCode::internal, "cannot write key " + id_ + " as PEM (OpenSSL)");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::shared_ptr<const TrustedKeys> load_trusted_keys(const std::vector<std::filesystem::path>& files) {
  auto keys = std::make_shared<TrustedKeys>();
  for (const auto& file : files) {
    try {
      keys->push_back(SigningKey::load_public(file));
    } catch (const Error& e) {
      throw Error(ErrorCode::config, std::string("trusted key: ") + e.what());
    }
  }
  return keys;
}

}  // namespace plugvisor::detail
