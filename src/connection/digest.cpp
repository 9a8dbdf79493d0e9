#include "connection/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace mproc::connection {

namespace {
// Python's names (hashlib's) for OpenSSL's digests.
const EVP_MD* digest_named(std::string_view name) noexcept {
    if (name == "md5") return EVP_md5();
    if (name == "sha256") return EVP_sha256();
    if (name == "sha384") return EVP_sha384();
    if (name == "sha3_256") return EVP_sha3_256();
    if (name == "sha3_384") return EVP_sha3_384();
    return nullptr;
}
}  // namespace

bool is_allowed_digest(std::string_view name) noexcept { return digest_named(name) != nullptr; }

std::optional<std::vector<std::byte>> hmac(std::string_view name, std::span<const std::byte> key,
                                           std::span<const std::byte> message) {
    const EVP_MD* digest = digest_named(name);
    if (!digest) return std::nullopt;
    std::vector<std::byte> out(EVP_MAX_MD_SIZE);
    unsigned int size = 0;
    // HMAC() takes a null key as "reuse the previous one": an empty key needs a valid pointer.
    static const unsigned char no_key = 0;
    const auto* key_data = key.empty() ? &no_key : reinterpret_cast<const unsigned char*>(key.data());
    if (!HMAC(digest, key_data, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
              message.size(), reinterpret_cast<unsigned char*>(out.data()), &size))
        return std::nullopt;
    out.resize(size);
    return out;
}

bool digests_equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace mproc::connection
