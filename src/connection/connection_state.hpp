// What a mproc::connection::Connection handle shares: its socket, its directions, and one lock
// per direction so that messages from threads sharing it are never interleaved.
#pragma once

#include <memory>
#include <mutex>

#include <mproc/connection.hpp>

#include "os/unique_fd.hpp"

namespace mproc::connection::detail {

struct ConnectionState {
    os::UniqueFd socket;
    bool readable = true;
    bool writable = true;
    bool can_pass_fds = false;  // a Unix socket
    std::mutex sending;
    std::mutex receiving;
};

// Makes Connections (their constructor is private to this library).
struct ConnectionAccess {
    // A Connection owning `socket`. OSError (ENOTSOCK) if it is not a socket.
    static Connection adopt(os::UniqueFd socket, bool readable, bool writable);
    static ConnectionState& state(const Connection& connection) { return *connection.state_; }
    static bool has_state(const Connection& connection) noexcept { return connection.state_ != nullptr; }
};

}  // namespace mproc::connection::detail
