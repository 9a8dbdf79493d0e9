// What a mproc::connection::Connection handle shares: its socket, its directions, and one lock
// per direction so that messages from threads sharing it are never interleaved.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <span>

#include <mproc/connection.hpp>

#include "os/unique_fd.hpp"

namespace mproc::connection::detail {

// Bytes a read-ahead connection received beyond what its reader has taken so far: a small message
// is then one recv, its length and its bytes together, where reading the length first and the
// bytes then makes two.
struct ReadAhead {
    static constexpr std::size_t capacity = 4096;
    std::array<std::byte, capacity> bytes;
    std::size_t begin = 0;
    std::size_t end = 0;

    bool empty() const noexcept { return begin == end; }
    // Moves what it holds, up to out.size() bytes, into `out`; returns how many.
    std::size_t take(std::span<std::byte> out) noexcept {
        const std::size_t n = std::min(out.size(), end - begin);
        std::memcpy(out.data(), bytes.data() + begin, n);
        begin += n;
        return n;
    }
};

struct ConnectionState {
    os::UniqueFd socket;
    bool readable = true;
    bool writable = true;
    bool can_pass_fds = false;  // a Unix socket
    // Set on connections that read ahead (ConnectionAccess::read_ahead); guarded by `receiving`.
    std::unique_ptr<ReadAhead> ahead;
    std::mutex sending;
    std::mutex receiving;
};

// Makes Connections (their constructor is private to this library).
struct ConnectionAccess {
    // A Connection owning `socket`. OSError (ENOTSOCK) if it is not a socket.
    static Connection adopt(os::UniqueFd socket, bool readable, bool writable);
    static ConnectionState& state(const Connection& connection) { return *connection.state_; }
    // Makes `connection` read ahead (ReadAhead): for this library's own request-and-reply
    // protocols over TCP only. A Unix socket is left as it is, for reading ahead could take the
    // descriptors of the next message; and a message read ahead is one that fileno() does not
    // show as readable, so the connection must not be one a user watches (poll() and wait() do
    // see it).
    static void read_ahead(Connection& connection);
    // Whether `connection` holds bytes it read ahead, so that a recv would not block. False while
    // another thread is receiving on it (what it holds is that thread's).
    static bool holds_read_ahead(const Connection& connection) noexcept;
    static bool has_state(const Connection& connection) noexcept { return connection.state_ != nullptr; }
};

}  // namespace mproc::connection::detail
