// Stream sockets: Unix (a filesystem path, or an abstract name that starts with '\0') and TCP
// over IPv4, listening, accepting, connecting, and sending with descriptors beside the bytes.
// Every socket made here is close-on-exec; sends never raise SIGPIPE (a closed peer is EPIPE).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "os/result.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {

// Where a socket is bound or connected: a Unix address (`path`, abstract when it starts with
// '\0', empty for an unnamed socket) or an IPv4 host and port.
struct SocketAddress {
    bool is_unix = true;
    std::string path;  // Unix
    std::string host;  // TCP: numeric, as the kernel reports it
    std::uint16_t port = 0;
};

// A Unix stream socket bound to `path` and listening. EINVAL for a path longer than sockaddr_un
// holds. An existing file at `path` is EADDRINUSE, as for Python (it is never removed here).
[[nodiscard]] Result<UniqueFd> listen_unix(std::string_view path, int backlog) noexcept;
// A TCP socket bound to host:port (port 0: any free port) and listening, with SO_REUSEADDR as
// Python sets it. A host that does not resolve to IPv4 is EADDRNOTAVAIL ("getaddrinfo").
[[nodiscard]] Result<UniqueFd> listen_tcp(const std::string& host, std::uint16_t port, int backlog) noexcept;

// A connected Unix stream socket (ECONNREFUSED or ENOENT when nobody listens there).
[[nodiscard]] Result<UniqueFd> connect_unix(std::string_view path) noexcept;
// A connected TCP socket, with TCP_NODELAY (messages are small and framed; Nagle only delays them).
[[nodiscard]] Result<UniqueFd> connect_tcp(const std::string& host, std::uint16_t port) noexcept;

// The next connection on a listening socket, and the address of its peer.
[[nodiscard]] Result<std::pair<UniqueFd, SocketAddress>> accept_connection(int listener) noexcept;

// The address a socket is bound to (a TCP listener on port 0: the port the kernel chose).
[[nodiscard]] Result<SocketAddress> local_address(int socket) noexcept;

// Whether `socket` is a Unix socket (only those can carry descriptors). ENOTSOCK for a non-socket.
[[nodiscard]] Result<bool> is_unix_socket(int socket) noexcept;

// A connected pair of Unix stream sockets.
[[nodiscard]] Result<std::pair<UniqueFd, UniqueFd>> stream_socket_pair() noexcept;

// Removes the file of a Unix socket.
[[nodiscard]] SysResult unlink_path(const std::string& path) noexcept;

// Shuts down one direction of a connected socket (reading: SHUT_RD; otherwise SHUT_WR).
[[nodiscard]] SysResult shut_down(int socket, bool reading) noexcept;

}  // namespace mproc::os
