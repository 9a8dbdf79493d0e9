#include "os/socket.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "os/syscall.hpp"

namespace mproc::os {

namespace {

// sockaddr_un for `path`, and the length to pass with it: an abstract name counts exactly its
// bytes (a trailing '\0' would be part of the name), a path its bytes and the terminating '\0'.
Result<std::pair<sockaddr_un, socklen_t>> unix_address(std::string_view path) noexcept {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const bool abstract = !path.empty() && path[0] == '\0';
    if (path.empty() || path.size() + (abstract ? 0 : 1) > sizeof address.sun_path) return SysError{"bind(AF_UNIX)", EINVAL};
    std::memcpy(address.sun_path, path.data(), path.size());
    const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
    return std::pair{address, length};
}

Result<sockaddr_in> tcp_address(const std::string& host, std::uint16_t port, bool passive) noexcept {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    addrinfo* found = nullptr;
    const int status = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), nullptr, &hints, &found);
    if (status != 0 || !found) {
        if (status == EAI_SYSTEM) return SysError{"getaddrinfo", errno};
        return SysError{"getaddrinfo", EADDRNOTAVAIL};
    }
    sockaddr_in address{};
    std::memcpy(&address, found->ai_addr, sizeof address);
    ::freeaddrinfo(found);
    address.sin_port = htons(port);
    return address;
}

Result<UniqueFd> new_socket(int family) noexcept {
    auto fd = sys_call("socket", [&] { return ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0); });
    if (!fd) return fd.error();
    return UniqueFd(fd.value());
}

SocketAddress describe(const sockaddr_storage& storage, socklen_t length) noexcept {
    SocketAddress described;
    if (storage.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(storage);
        char text[INET_ADDRSTRLEN] = {};
        ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
        described.is_unix = false;
        described.host = text;
        described.port = ntohs(in.sin_port);
    } else if (storage.ss_family == AF_UNIX) {
        const auto& un = reinterpret_cast<const sockaddr_un&>(storage);
        const auto offset = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path));
        if (length > offset) {
            std::size_t size = length - offset;
            // A path's length may count its terminating '\0'; an abstract name's never does.
            if (un.sun_path[0] != '\0') size = ::strnlen(un.sun_path, size);
            described.path.assign(un.sun_path, size);
        }
    }
    return described;
}

}  // namespace

Result<UniqueFd> listen_unix(std::string_view path, int backlog) noexcept {
    auto address = unix_address(path);
    if (!address) return address.error();
    auto fd = new_socket(AF_UNIX);
    if (!fd) return fd;
    const sockaddr_un& un = address.value().first;
    const socklen_t length = address.value().second;
    if (auto bound = sys_check("bind(AF_UNIX)", [&] { return ::bind(fd.value().get(), reinterpret_cast<const sockaddr*>(&un), length); }); !bound)
        return bound.error();
    if (auto listening = sys_check("listen", [&] { return ::listen(fd.value().get(), backlog); }); !listening)
        return listening.error();
    return fd;
}

Result<UniqueFd> listen_tcp(const std::string& host, std::uint16_t port, int backlog) noexcept {
    auto address = tcp_address(host, port, true);
    if (!address) return address.error();
    auto fd = new_socket(AF_INET);
    if (!fd) return fd;
    const int on = 1;
    if (auto set = sys_check("setsockopt(SO_REUSEADDR)",
                             [&] { return ::setsockopt(fd.value().get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); });
        !set)
        return set.error();
    const auto& in = address.value();
    if (auto bound = sys_check("bind(AF_INET)", [&] { return ::bind(fd.value().get(), reinterpret_cast<const sockaddr*>(&in), sizeof in); }); !bound)
        return bound.error();
    if (auto listening = sys_check("listen", [&] { return ::listen(fd.value().get(), backlog); }); !listening)
        return listening.error();
    return fd;
}

namespace {
// A connect() interrupted by a signal goes on in the background (retrying it would be EALREADY):
// wait until the socket is writable, then read how the connection attempt ended.
SysResult connect_socket(int fd, const sockaddr* address, socklen_t length, const char* call) noexcept {
    if (::connect(fd, address, length) == 0) return {};
    if (errno != EINTR) return SysError{call, errno};
    pollfd entry{fd, POLLOUT, 0};
    if (auto ready = sys_call("poll", [&] { return ::poll(&entry, 1, -1); }); !ready) return ready.error();
    int error = 0;
    socklen_t size = sizeof error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) return SysError{"getsockopt(SO_ERROR)", errno};
    if (error != 0) return SysError{call, error};
    return {};
}
}  // namespace

Result<UniqueFd> connect_unix(std::string_view path) noexcept {
    auto address = unix_address(path);
    if (!address) return SysError{"connect(AF_UNIX)", address.error().code};
    auto fd = new_socket(AF_UNIX);
    if (!fd) return fd;
    const sockaddr_un& un = address.value().first;
    const socklen_t length = address.value().second;
    if (auto connected = connect_socket(fd.value().get(), reinterpret_cast<const sockaddr*>(&un), length, "connect(AF_UNIX)");
        !connected)
        return connected.error();
    return fd;
}

Result<UniqueFd> connect_tcp(const std::string& host, std::uint16_t port) noexcept {
    auto address = tcp_address(host, port, false);
    if (!address) return address.error();
    auto fd = new_socket(AF_INET);
    if (!fd) return fd;
    const auto& in = address.value();
    if (auto connected = connect_socket(fd.value().get(), reinterpret_cast<const sockaddr*>(&in), sizeof in, "connect(AF_INET)");
        !connected)
        return connected.error();
    const int on = 1;
    if (auto set = sys_check("setsockopt(TCP_NODELAY)",
                             [&] { return ::setsockopt(fd.value().get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on); });
        !set)
        return set.error();
    return fd;
}

Result<std::pair<UniqueFd, SocketAddress>> accept_connection(int listener) noexcept {
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    auto fd = sys_call("accept4", [&] {
        length = sizeof peer;
        return ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
    });
    if (!fd) return fd.error();
    UniqueFd accepted(fd.value());
    if (peer.ss_family == AF_INET) {
        const int on = 1;
        if (auto set = sys_check("setsockopt(TCP_NODELAY)",
                                 [&] { return ::setsockopt(accepted.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on); });
            !set)
            return set.error();
    }
    return std::pair{std::move(accepted), describe(peer, length)};
}

Result<SocketAddress> local_address(int socket) noexcept {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (auto named = sys_check("getsockname", [&] { return ::getsockname(socket, reinterpret_cast<sockaddr*>(&storage), &length); });
        !named)
        return named.error();
    return describe(storage, length);
}

Result<bool> is_unix_socket(int socket) noexcept {
    int domain = 0;
    socklen_t size = sizeof domain;
    if (auto got = sys_check("getsockopt(SO_DOMAIN)", [&] { return ::getsockopt(socket, SOL_SOCKET, SO_DOMAIN, &domain, &size); });
        !got)
        return got.error();
    return domain == AF_UNIX;
}

Result<std::pair<UniqueFd, UniqueFd>> stream_socket_pair() noexcept {
    int fds[2];
    if (auto made = sys_check("socketpair", [&] { return ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }); !made)
        return made.error();
    return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

SysResult unlink_path(const std::string& path) noexcept {
    return sys_check("unlink", [&] { return ::unlink(path.c_str()); });
}

SysResult shut_down(int socket, bool reading) noexcept {
    return sys_check("shutdown", [&] { return ::shutdown(socket, reading ? SHUT_RD : SHUT_WR); });
}

}  // namespace mproc::os
