// libFuzzer target for what mproc::connection reads from a peer before and after it is
// authenticated: the frame decoder (Python's 4-byte / -1 + 8-byte length prefixes) and both roles
// of the authkey handshake, fed by the same decoder. The first byte of the input picks one, the
// rest is what the peer sends:
//   0: a stream of frames, read until it ends;
//   1: the client role (answer_challenge): the peer's challenge, then its verdict;
//   2: the server role (deliver_challenge, with fixed "random" bytes): the peer's answer.
//
// A step may fail only with EOFError, OSError or AuthenticationError; anything else (another
// exception, a crash, a sanitizer report, a hang, an allocation of an announced length) is a bug.
// A decoded frame must be the bytes that followed its header, and a handshake that succeeds must
// have seen, or sent, "#WELCOME#".
//
// Build with Clang and -DMPROC_BUILD_FUZZERS=ON; run as
//   build/tests/fuzz/mproc_fuzz_connection -max_total_time=60 CORPUS_DIR tests/fuzz/connection_corpus
// `mproc_fuzz_connection --write-seeds=DIR` writes the seeds below into DIR (that is how
// tests/fuzz/connection_corpus was made).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <mproc/errors.hpp>

#include "connection/digest.hpp"
#include "connection/handshake.hpp"
#include "connection/wire.hpp"
#include "seeds.hpp"

namespace {

namespace wire = mproc::connection::wire;
namespace handshake = mproc::connection::handshake;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "%s\n", what);
    std::abort();
}

// The peer's bytes, as a socket would deliver them: in pieces of up to 7 bytes, so that reads
// that must loop do.
struct MemorySource {
    std::span<const std::byte> input;
    std::size_t position = 0;
    std::size_t read_some(std::span<std::byte> out) {
        const std::size_t n = std::min({out.size(), input.size() - position, std::size_t{7}});
        if (n != 0) std::memcpy(out.data(), input.data() + position, n);
        position += n;
        return n;
    }
};

std::span<const std::byte> bytes_of(std::string_view text) { return std::as_bytes(std::span(text)); }

const std::string key = "fuzz key";
std::vector<std::byte> fixed_random() { return std::vector<std::byte>(handshake::challenge_bytes, std::byte{0x5a}); }

class ReplayChannel final : public handshake::Channel {
public:
    explicit ReplayChannel(std::span<const std::byte> input) : source_{input} {}
    void send(std::span<const std::byte> message) override { last_sent.assign(message.begin(), message.end()); }
    std::vector<std::byte> receive(std::size_t maxlength) override {
        last_received = wire::read_message(source_, maxlength);
        return last_received;
    }
    std::vector<std::byte> last_sent, last_received;

private:
    MemorySource source_;
};

bool is_welcome(const std::vector<std::byte>& message) {
    return message.size() == 9 && std::memcmp(message.data(), "#WELCOME#", 9) == 0;
}

void decode_frames(std::span<const std::byte> input) {
    MemorySource source{input};
    for (;;) {
        const std::size_t start = source.position;
        std::vector<std::byte> payload;
        try {
            payload = wire::read_message(source, std::nullopt);
        } catch (const mproc::EOFError&) {
            if (source.position != start) fail("EOFError after part of a frame was read");
            return;
        } catch (const mproc::OSError&) {
            return;
        }
        const std::size_t header = source.position - start - payload.size();
        if (header != 4 && header != 12) fail("a header of an impossible size");
        if (!payload.empty() && std::memcmp(payload.data(), input.data() + start + header, payload.size()) != 0)
            fail("a frame's payload is not the bytes after its header");
    }
}

template <class Step>
void run_handshake(std::span<const std::byte> input, Step&& step, bool welcome_sent) {
    ReplayChannel channel(input);
    try {
        step(channel);
    } catch (const mproc::AuthenticationError&) {
        return;
    } catch (const mproc::EOFError&) {
        return;
    } catch (const mproc::OSError&) {
        return;
    }
    if (!is_welcome(welcome_sent ? channel.last_sent : channel.last_received))
        fail("a handshake succeeded without #WELCOME#");
}

void client_role(std::span<const std::byte> input) {
    run_handshake(input, [](ReplayChannel& c) { handshake::answer_challenge(c, bytes_of(key)); }, false);
}

void server_role(std::span<const std::byte> input) {
    run_handshake(input, [](ReplayChannel& c) { handshake::deliver_challenge(c, bytes_of(key), fixed_random()); }, true);
}

using Decoder = void (*)(std::span<const std::byte>);
constexpr Decoder decoders[] = {decode_frames, client_role, server_role};

std::vector<std::byte> frame(std::span<const std::byte> payload) {
    const auto header = wire::encode_header(payload.size());
    std::vector<std::byte> out(header.view().begin(), header.view().end());
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

std::vector<std::byte> joined(std::initializer_list<std::span<const std::byte>> parts) {
    std::vector<std::byte> out;
    for (auto part : parts) out.insert(out.end(), part.begin(), part.end());
    return out;
}

std::vector<std::vector<std::byte>> seed_inputs() {
    std::vector<std::vector<std::byte>> seeds;
    auto add = [&](std::uint8_t selector, std::span<const std::byte> bytes) { mproc::fuzz::add_seed(seeds, selector, bytes); };
    // Frames: empty, short, and the long form.
    const std::vector<std::byte> long_form{std::byte{0xff}, std::byte{0xff}, std::byte{0xff}, std::byte{0xff},
                                           std::byte{0},    std::byte{0},    std::byte{0},    std::byte{0},
                                           std::byte{0},    std::byte{0},    std::byte{0},    std::byte{3},
                                           std::byte{'a'},  std::byte{'b'},  std::byte{'c'}};
    add(0, joined({frame({}), frame(bytes_of("hello")), long_form}));
    // Client role: a Python 3.12 challenge, and a Python 3.11 (20-byte) one, each welcomed.
    const auto random = fixed_random();
    add(1, joined({frame(joined({bytes_of("#CHALLENGE#{sha256}"), random})), frame(bytes_of("#WELCOME#"))}));
    add(1, joined({frame(joined({bytes_of("#CHALLENGE#"), std::span(random).first(20)})), frame(bytes_of("#WELCOME#"))}));
    // Server role: the right answers to our fixed challenge, in the 3.12 form and the legacy one.
    const auto challenge = joined({bytes_of("{sha256}"), random});
    const auto sha256 = *mproc::connection::hmac("sha256", bytes_of(key), challenge);
    const auto md5 = *mproc::connection::hmac("md5", bytes_of(key), challenge);
    add(2, frame(joined({bytes_of("{sha256}"), sha256})));
    add(2, frame(md5));
    return seeds;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    mproc::fuzz::write_seeds_if_asked(*argc, *argv, seed_inputs(), "connection");
    // The handshake seeds must succeed: one that does not is a bug in the seeds or the handshake.
    for (const auto& seed : seed_inputs()) {
        if (seed[0] == std::byte{0}) continue;
        ReplayChannel channel(std::span(seed).subspan(1));
        try {
            if (seed[0] == std::byte{1})
                handshake::answer_challenge(channel, bytes_of(key));
            else
                handshake::deliver_challenge(channel, bytes_of(key), fixed_random());
        } catch (const mproc::Error&) {
            fail("a handshake seed was refused");
        }
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    mproc::fuzz::feed(decoders, data, size);
    return 0;
}
