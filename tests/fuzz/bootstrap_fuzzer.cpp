// libFuzzer target for the decoders a spawned program runs on what it finds at start-up, before it
// knows whether mproc started it: the MPROC_BOOTSTRAP_FD value from its environment, and the
// header of the first message on the socket that value names. The first byte of the input picks
// the decoder, the rest is its input.
//
// Each decoder may refuse its input; anything else it does (a crash, a sanitizer report, a hang)
// is a bug. What it accepts must be exactly what the encoder makes: one spelling per value, so a
// stray value can only be taken if it is, byte for byte, what a launcher would have written. An
// accepted header carries the cookie it was checked against. The header decoder checks an entry's
// form only (any number but 0); whether it is registered is looked up after decoding, so the
// seeds name entries whether or not this program registers them.
//
// Build with Clang and -DMPROC_BUILD_FUZZERS=ON; run as
//   build/tests/fuzz/mproc_fuzz_bootstrap -max_total_time=60 CORPUS_DIR tests/fuzz/bootstrap_corpus
// `mproc_fuzz_bootstrap --write-seeds=DIR` writes a valid input for each decoder into DIR (that is
// how tests/fuzz/bootstrap_corpus was made).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "launch.hpp"
#include "seeds.hpp"

namespace {

using mproc::launch::Cookie;

Cookie expected_cookie() {
    Cookie cookie;
    for (std::size_t i = 0; i < cookie.size(); ++i) cookie[i] = static_cast<std::byte>(0x11 * i + 3);
    return cookie;
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "%s\n", what);
    std::abort();
}

void decode_address(std::span<const std::byte> input) {
    const std::string_view text(reinterpret_cast<const char*>(input.data()), input.size());
    const auto address = mproc::launch::decode_bootstrap_address(text);
    if (!address) return;
    if (address->fd < 0) fail("a negative descriptor was accepted");
    if (mproc::launch::encode_bootstrap_address(*address) != text) fail("an address was accepted in a second spelling");
}

void decode_header(std::span<const std::byte> input) {
    const Cookie expected = expected_cookie();
    const auto header = mproc::launch::decode_bootstrap_header(input, expected);
    if (!header) return;
    if (header->cookie != expected) fail("a header with another cookie was accepted");
    const auto again = mproc::launch::make_bootstrap_header(static_cast<mproc::launch::Entry>(header->entry),
                                                            header->fd_count, header->payload_size, header->cookie);
    if (input.size() != sizeof again || std::memcmp(input.data(), &again, sizeof again) != 0)
        fail("a header was accepted that the encoder would not have made");
}

using Decoder = void (*)(std::span<const std::byte>);
constexpr Decoder decoders[] = {decode_address, decode_header};

std::vector<std::vector<std::byte>> seed_inputs() {
    std::vector<std::vector<std::byte>> seeds;
    auto add = [&](std::uint8_t selector, std::span<const std::byte> bytes) { mproc::fuzz::add_seed(seeds, selector, bytes); };
    for (const int fd : {0, 5, 1023, 2147483647}) {
        const std::string text = mproc::launch::encode_bootstrap_address({fd, expected_cookie()});
        add(0, std::as_bytes(std::span(text)));
    }
    // The library's entries (a pool worker, a Process, the fork server), then the largest number.
    for (const mproc::launch::Entry entry : {mproc::launch::Entry{1}, mproc::launch::Entry{2},
                                             mproc::launch::Entry{3}, mproc::launch::Entry{0xffff}}) {
        const auto header = mproc::launch::make_bootstrap_header(entry, 4, 1000, expected_cookie());
        add(1, std::as_bytes(std::span(&header, 1)));
    }
    return seeds;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    mproc::fuzz::write_seeds_if_asked(*argc, *argv, seed_inputs(), "decoder");
    // Every seed must be accepted: one that is not is a bug in the encoder or the decoder.
    const Cookie expected = expected_cookie();
    for (const auto& seed : seed_inputs()) {
        const auto rest = std::span(seed).subspan(1);
        const bool accepted =
            seed[0] == std::byte{0}
                ? mproc::launch::decode_bootstrap_address(
                      std::string_view(reinterpret_cast<const char*>(rest.data()), rest.size()))
                      .has_value()
                : mproc::launch::decode_bootstrap_header(rest, expected).has_value();
        if (!accepted) fail("a seed was refused");
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    mproc::fuzz::feed(decoders, data, size);
    return 0;
}
