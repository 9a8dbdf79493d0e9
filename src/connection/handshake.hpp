// The authkey handshake of Python's multiprocessing.connection (3.12+), both roles:
//
//   server (deliver_challenge)                 client (answer_challenge)
//   "#CHALLENGE#" + "{sha256}" + 40 random  ->
//                                           <-  "{sha256}" + HMAC-SHA256(key, "{sha256}" + random)
//   "#WELCOME#" or "#FAILURE#"              ->
//
// Listener::accept delivers a challenge then answers one; Client answers then delivers: each side
// proves it knows the key to the other. Every message is at most max_message bytes, checked
// before it is read.
//
// Older peers (Python 3.11 and before) are met exactly where Python 3.12 meets them: their 20-byte
// challenge is answered with a bare 16-byte HMAC-MD5, and a bare 16-byte answer to our challenge
// is checked as HMAC-MD5 of it. A "{digest}" prefix may name any digest Python allows (md5, sha256,
// sha384, sha3_256, sha3_384); the MAC covers the prefix, so a peer cannot downgrade our choice
// without the key.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace mproc::connection::handshake {

// How the handshake talks: whole messages, framed as a Connection frames them.
class Channel {
public:
    virtual void send(std::span<const std::byte> message) = 0;
    // The next message; longer than maxlength: OSError (EMSGSIZE).
    virtual std::vector<std::byte> receive(std::size_t maxlength) = 0;

protected:
    ~Channel() = default;
};

// Python's limit on each handshake message ("reject large message").
inline constexpr std::size_t max_message = 256;
// The random bytes of our challenge (Python 3.12's MESSAGE_LENGTH).
inline constexpr std::size_t challenge_bytes = 40;

// Server side: sends a challenge made from `random` (challenge_bytes of them), checks the answer,
// and sends "#WELCOME#" or "#FAILURE#". AuthenticationError when the answer is wrong or malformed
// (after "#FAILURE#" is sent, if it can be).
void deliver_challenge(Channel& channel, std::span<const std::byte> key, std::span<const std::byte> random);
// As above, with fresh random bytes from the kernel.
void deliver_challenge(Channel& channel, std::span<const std::byte> key);

// Client side: answers the peer's challenge and reads its verdict. AuthenticationError for a
// malformed challenge or a "#FAILURE#" (or anything but "#WELCOME#").
void answer_challenge(Channel& channel, std::span<const std::byte> key);

}  // namespace mproc::connection::handshake
