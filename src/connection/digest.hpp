// The keyed digests of the authkey handshake, computed by OpenSSL: HMAC under the digests Python's
// multiprocessing.connection allows, compared in constant time.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace mproc::connection {

// Whether Python 3.12+ allows `name` in a "{name}" prefix: md5, sha256, sha384, sha3_256, sha3_384.
bool is_allowed_digest(std::string_view name) noexcept;

// HMAC-`name` of `message` under `key`; nothing for a digest that is not allowed, or that OpenSSL
// refuses (MD5 in FIPS mode).
std::optional<std::vector<std::byte>> hmac(std::string_view name, std::span<const std::byte> key,
                                           std::span<const std::byte> message);

// Whether two digests are equal, in time that does not depend on where they differ.
bool digests_equal(std::span<const std::byte> a, std::span<const std::byte> b) noexcept;

}  // namespace mproc::connection
