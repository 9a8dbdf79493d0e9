#include "connection/handshake.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <mproc/errors.hpp>

#include "connection/digest.hpp"
#include "os/io.hpp"
#include "os_error.hpp"

namespace mproc::connection::handshake {

namespace {

constexpr std::string_view challenge_tag = "#CHALLENGE#";
constexpr std::string_view welcome = "#WELCOME#";
constexpr std::string_view failure = "#FAILURE#";
// The digest we ask for.
constexpr std::string_view preferred_digest = "sha256";
// Python <= 3.11 challenges with exactly this many bytes and answers with a bare HMAC-MD5 of
// md5_length bytes; no tagged message is ever of either length.
constexpr std::size_t md5_only_message_length = 20;
constexpr std::size_t md5_length = 16;
// The longest name Python allows ("sha3_256"): its "}" is found within the first 10 bytes.
constexpr std::size_t max_digest_name = 8;

std::span<const std::byte> bytes_of(std::string_view text) noexcept { return std::as_bytes(std::span(text)); }

bool starts_with(std::span<const std::byte> message, std::string_view prefix) noexcept {
    return message.size() >= prefix.size() && std::memcmp(message.data(), prefix.data(), prefix.size()) == 0;
}

bool equals(std::span<const std::byte> message, std::string_view text) noexcept {
    return message.size() == text.size() && starts_with(message, text);
}

// A digest name (empty: the legacy untagged MD5 form) and the bytes after its prefix.
struct Tagged {
    std::string digest;
    std::span<const std::byte> payload;
};

// Python's _get_digest_name_and_payload.
Tagged split_digest(std::span<const std::byte> message) {
    if (message.size() == md5_only_message_length || message.size() == md5_length) return {{}, message};
    if (!message.empty() && message[0] == std::byte{'{'}) {
        const auto search_end = std::min(message.size(), max_digest_name + 2);
        for (std::size_t curly = 1; curly < search_end; ++curly) {
            if (message[curly] != std::byte{'}'}) continue;
            std::string name(reinterpret_cast<const char*>(message.data()) + 1, curly - 1);
            if (is_allowed_digest(name)) return {std::move(name), message.subspan(curly + 1)};
            break;
        }
    }
    throw AuthenticationError("mproc::connection: unsupported message length, missing digest prefix, or unsupported "
                              "digest in a " + std::to_string(message.size()) + "-byte handshake message");
}

// Python's _verify_challenge.
void verify_answer(std::span<const std::byte> key, std::span<const std::byte> challenge,
                   std::span<const std::byte> answer) {
    const Tagged tagged = split_digest(answer);
    const std::string digest = tagged.digest.empty() ? "md5" : tagged.digest;
    const auto expected = hmac(digest, key, challenge);
    if (!expected) throw AuthenticationError("mproc::connection: digest " + digest + " is not available");
    if (expected->size() != tagged.payload.size())
        throw AuthenticationError("mproc::connection: expected a " + digest + " digest of " +
                                  std::to_string(expected->size()) + " bytes, got " +
                                  std::to_string(tagged.payload.size()));
    if (!digests_equal(*expected, tagged.payload))
        throw AuthenticationError("mproc::connection: digest received was wrong (the peer's authkey differs)");
}

// Python's _create_response.
std::vector<std::byte> make_answer(std::span<const std::byte> key, std::span<const std::byte> challenge) {
    std::string digest = split_digest(challenge).digest;
    if (digest.empty()) {
        if (auto legacy = hmac("md5", key, challenge)) return std::move(*legacy);
        digest = std::string(preferred_digest);  // no MD5 here (FIPS): answer in the modern form
    }
    const auto mac = hmac(digest, key, challenge);
    if (!mac) throw AuthenticationError("mproc::connection: digest " + digest + " is not available");
    std::vector<std::byte> answer;
    const std::string prefix = "{" + digest + "}";
    answer.insert(answer.end(), bytes_of(prefix).begin(), bytes_of(prefix).end());
    answer.insert(answer.end(), mac->begin(), mac->end());
    return answer;
}

}  // namespace

void deliver_challenge(Channel& channel, std::span<const std::byte> key, std::span<const std::byte> random) {
    const std::string prefix = "{" + std::string(preferred_digest) + "}";
    std::vector<std::byte> challenge(bytes_of(prefix).begin(), bytes_of(prefix).end());
    challenge.insert(challenge.end(), random.begin(), random.end());
    std::vector<std::byte> message(bytes_of(challenge_tag).begin(), bytes_of(challenge_tag).end());
    message.insert(message.end(), challenge.begin(), challenge.end());
    channel.send(message);
    const auto answer = channel.receive(max_message);
    try {
        verify_answer(key, challenge, answer);
    } catch (const AuthenticationError&) {
        // The verdict is a courtesy: a peer that already hung up still gets our error, not EPIPE.
        try {
            channel.send(bytes_of(failure));
        } catch (const Error&) {
        }
        throw;
    }
    channel.send(bytes_of(welcome));
}

void deliver_challenge(Channel& channel, std::span<const std::byte> key) {
    std::array<std::byte, challenge_bytes> random;
    detail::or_throw(os::fill_random(random), "getrandom for the authkey challenge");
    deliver_challenge(channel, key, random);
}

void answer_challenge(Channel& channel, std::span<const std::byte> key) {
    const auto message = channel.receive(max_message);
    if (!starts_with(message, challenge_tag))
        throw AuthenticationError("mproc::connection: protocol error, expected a #CHALLENGE# message");
    const auto challenge = std::span(message).subspan(challenge_tag.size());
    if (challenge.size() < md5_only_message_length)
        throw AuthenticationError("mproc::connection: challenge too short: " + std::to_string(challenge.size()) +
                                  " bytes");
    channel.send(make_answer(key, challenge));
    const auto verdict = channel.receive(max_message);
    if (!equals(verdict, welcome))
        throw AuthenticationError("mproc::connection: digest sent was rejected (the peer's authkey differs)");
}

}  // namespace mproc::connection::handshake
