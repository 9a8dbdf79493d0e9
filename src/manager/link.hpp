// One connection between a manager's client and its server, as each end holds it: the socket it
// was made on, or the Pipe it moved to after the hello (Op::channel), whose rings in shared memory
// make a round trip between two awake ends without a system call. Requests and replies alternate
// on it, so over TCP both ends read ahead: one recv takes a message's length and its bytes.
#pragma once

#include <cerrno>
#include <cstddef>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include <mproc/connection.hpp>
#include <mproc/errors.hpp>
#include <mproc/pipe.hpp>

#include "connection/connection_state.hpp"

namespace mproc::detail::manager {

struct Link {
    using Ring = mproc::Connection<std::vector<std::byte>>;

    connection::Connection socket;  // closed once `ring` is set up
    std::optional<Ring> ring;

    void use_socket(connection::Connection connected) {
        socket = std::move(connected);
        connection::detail::ConnectionAccess::read_ahead(socket);  // TCP only: see read_ahead
    }
    void use_ring(Ring received) {
        ring = std::move(received);
        socket.close();
    }

    void send(std::span<const std::byte> message) {
        if (ring)
            ring->send(std::vector<std::byte>(message.begin(), message.end()));
        else
            socket.send_bytes(message);
    }
    // The next message. OSError (EMSGSIZE) for one over `max_bytes`: on a socket before it is
    // read, on the rings once read (a Pipe's reader takes whole items).
    std::vector<std::byte> receive(std::size_t max_bytes) {
        if (!ring) return socket.recv_bytes(max_bytes);
        std::vector<std::byte> message = ring->recv();
        if (message.size() > max_bytes) throw OSError("mproc: a manager message over its size limit", EMSGSIZE);
        return message;
    }
    // Whether a message, or the other end's close, is waiting.
    bool poll() { return ring ? ring->poll() : socket.poll(); }
    // Closes this process's copies (in a forked child): nothing shared is written.
    void close() noexcept {
        socket.close();
        if (ring) ring->close();
    }
};

}  // namespace mproc::detail::manager
