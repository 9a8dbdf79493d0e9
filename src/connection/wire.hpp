// The framing of Python's multiprocessing.connection on a stream: a 4-byte big-endian signed
// length, then the bytes; a message over 2^31 - 1 bytes has the length -1 and then its real
// length as 8 bytes big-endian. What an mproc Connection sends and receives, so that Python
// programs read it (and we read theirs).
//
// The readers take a Source: anything with `std::size_t read_some(std::span<std::byte>)` that
// returns 0 at the end of the stream and throws on an error (a socket, or a span of fuzz input).
#pragma once

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <mproc/errors.hpp>

namespace mproc::connection::wire {

// The largest length the 4-byte form carries; Python switches to the 8-byte form above it.
inline constexpr std::uint64_t max_short_length = 0x7fffffff;

// The bytes that precede a message of `size` bytes: 4, or 12 for the long form.
struct Header {
    std::array<std::byte, 12> bytes{};
    std::size_t size = 0;
    std::span<const std::byte> view() const noexcept { return {bytes.data(), size}; }
};
Header encode_header(std::uint64_t payload_size) noexcept;

// What the first 4 bytes say: the length, or that the 8-byte form follows (nothing). A negative
// length other than -1 is OSError (EMSGSIZE): Python would read it as an empty message, which
// only a corrupt or hostile peer sends.
std::optional<std::uint64_t> decode_short_length(std::span<const std::byte, 4> bytes);
std::uint64_t decode_long_length(std::span<const std::byte, 8> bytes) noexcept;

// Fills `out` from `source`. `message_started` says whether bytes of this message were read
// before: the end of the stream is then OSError (ECONNRESET, Python's "got end of file during
// message"); at the very start of a message it is EOFError.
template <class Source>
void read_exact(Source& source, std::span<std::byte> out, bool message_started) {
    std::size_t done = 0;
    while (done < out.size()) {
        const std::size_t got = source.read_some(out.subspan(done));
        if (got == 0) {
            if (!message_started && done == 0) throw EOFError("mproc::connection: the peer closed the connection");
            throw OSError("mproc::connection: got end of file during message", ECONNRESET);
        }
        done += got;
    }
}

// Reads a message's header and returns the size of the message that follows.
template <class Source>
std::uint64_t read_header(Source& source) {
    std::array<std::byte, 4> short_form;
    read_exact(source, short_form, false);
    if (const auto length = decode_short_length(short_form)) return *length;
    std::array<std::byte, 8> long_form;
    read_exact(source, long_form, true);
    return decode_long_length(long_form);
}

// The error for a message of `size` bytes longer than `maxlength`. Python: OSError("bad message
// length").
[[noreturn]] void throw_bad_length(std::uint64_t size, std::uint64_t maxlength);

// Reads a message of `size` bytes (after its header). The buffer grows with the bytes that arrive,
// never ahead of them by more than a step: a peer that announces a huge length and sends nothing
// costs nothing.
template <class Source>
std::vector<std::byte> read_payload(Source& source, std::uint64_t size) {
    constexpr std::uint64_t first_step = 64 * 1024;
    std::vector<std::byte> payload;
    std::uint64_t done = 0;
    while (done < size) {
        const std::uint64_t target = std::min<std::uint64_t>(size, std::max<std::uint64_t>(first_step, 2 * done));
        payload.resize(static_cast<std::size_t>(target));
        read_exact(source, std::span(payload).subspan(static_cast<std::size_t>(done)), true);
        done = target;
    }
    return payload;
}

// A whole message: header and payload; longer than `maxlength`: throw_bad_length.
template <class Source>
std::vector<std::byte> read_message(Source& source, std::optional<std::uint64_t> maxlength) {
    const std::uint64_t size = read_header(source);
    if (maxlength && size > *maxlength) throw_bad_length(size, *maxlength);
    return read_payload(source, size);
}

}  // namespace mproc::connection::wire
