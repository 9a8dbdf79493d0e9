#include "connection/wire.hpp"

namespace mproc::connection::wire {

namespace {
template <std::size_t N>
void put_big_endian(std::byte* out, std::uint64_t value) noexcept {
    for (std::size_t i = 0; i < N; ++i) out[i] = static_cast<std::byte>(value >> (8 * (N - 1 - i)));
}
template <std::size_t N>
std::uint64_t get_big_endian(std::span<const std::byte, N> in) noexcept {
    std::uint64_t value = 0;
    for (std::byte b : in) value = (value << 8) | static_cast<std::uint64_t>(b);
    return value;
}
}  // namespace

Header encode_header(std::uint64_t payload_size) noexcept {
    Header header;
    if (payload_size <= max_short_length) {
        put_big_endian<4>(header.bytes.data(), payload_size);
        header.size = 4;
    } else {
        put_big_endian<4>(header.bytes.data(), 0xffffffff);  // -1
        put_big_endian<8>(header.bytes.data() + 4, payload_size);
        header.size = 12;
    }
    return header;
}

std::optional<std::uint64_t> decode_short_length(std::span<const std::byte, 4> bytes) {
    const auto raw = static_cast<std::uint32_t>(get_big_endian<4>(bytes));
    if (raw == 0xffffffff) return std::nullopt;
    if (raw > max_short_length)
        throw OSError("mproc::connection: bad message length (negative length " +
                          std::to_string(static_cast<std::int64_t>(raw) - (std::int64_t{1} << 32)) + ")",
                      EMSGSIZE);
    return raw;
}

std::uint64_t decode_long_length(std::span<const std::byte, 8> bytes) noexcept { return get_big_endian<8>(bytes); }

void throw_bad_length(std::uint64_t size, std::uint64_t maxlength) {
    throw OSError("mproc::connection: bad message length (" + std::to_string(size) + " bytes, more than the " +
                      std::to_string(maxlength) + " allowed)",
                  EMSGSIZE);
}

}  // namespace mproc::connection::wire
