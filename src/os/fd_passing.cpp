#include "os/fd_passing.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

#include "os/syscall.hpp"

namespace mproc::os {

Result<std::pair<UniqueFd, UniqueFd>> socket_pair() noexcept {
    int fds[2];
    const auto made = sys_check("socketpair", [&] { return ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); });
    if (!made) return made.error();
    return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

std::optional<int> socket_pair_maker(int fd) noexcept {
    struct stat status {};
    if (fd < 0 || ::fstat(fd, &status) != 0 || !S_ISSOCK(status.st_mode)) return std::nullopt;
    int value = 0;
    socklen_t length = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) != 0 || value != AF_UNIX) return std::nullopt;
    length = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) != 0 || value != SOCK_SEQPACKET) return std::nullopt;
    ucred peer{};
    length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 || peer.uid != ::geteuid()) return std::nullopt;
    return peer.pid;
}

bool is_socket_pair_from_parent(int fd) noexcept {
    const auto maker = socket_pair_maker(fd);
    return maker && *maker == ::getppid();
}

std::optional<std::size_t> peek_message(int socket, std::span<std::byte> buffer,
                                        std::chrono::milliseconds timeout) noexcept {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd ready{socket, POLLIN, 0};
        const int polled = ::poll(&ready, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0)));
        if (polled < 0 && errno == EINTR) continue;
        if (polled <= 0) return std::nullopt;
        // MSG_TRUNC: the size of the whole datagram, however little of it fits.
        const ssize_t size = ::recv(socket, buffer.data(), buffer.size(), MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
        if (size < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (size < 0) return std::nullopt;
        return static_cast<std::size_t>(size);
    }
}

Result<std::size_t> send_some(int socket, std::span<const std::byte> head, std::span<const std::byte> tail,
                              std::span<const int> fds) noexcept {
    if (fds.size() > max_fds_per_message) return SysError{"sendmsg", EINVAL};
    iovec iov[2] = {{const_cast<std::byte*>(head.data()), head.size()},
                    {const_cast<std::byte*>(tail.data()), tail.size()}};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_message)]{};
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = tail.empty() ? 1 : 2;
    if (!fds.empty()) {
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    }
    auto sent = sys_call("sendmsg", [&] { return ::sendmsg(socket, &message, MSG_NOSIGNAL); });
    if (!sent) return sent.error();
    return static_cast<std::size_t>(sent.value());
}

SysResult send_message(int socket, std::span<const std::byte> data, std::span<const int> fds) noexcept {
    const auto sent = send_some(socket, data, {}, fds);
    if (!sent) return sent.error();
    return {};
}

Result<ReceivedMessage> receive_message(int socket, std::span<std::byte> buffer, WhenEmpty when_empty,
                                        Descriptors descriptors) noexcept {
    const int flags = when_empty == WhenEmpty::fail ? MSG_DONTWAIT : 0;
    if (descriptors == Descriptors::drop) {
        const auto received = sys_call("recv", [&] { return ::recv(socket, buffer.data(), buffer.size(), flags); });
        if (!received) return received.error();
        ReceivedMessage result;
        result.size = static_cast<std::size_t>(received.value());
        return result;
    }
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * max_fds_per_message)]{};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    const auto received = sys_call("recvmsg", [&] {
        return ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC | flags);
    });
    if (!received) return received.error();
    ReceivedMessage result;
    result.size = static_cast<std::size_t>(received.value());
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < n; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
            try {
                result.fds.emplace_back(fd);
            } catch (const std::bad_alloc&) {
                UniqueFd lost(fd);
                result.truncated = true;
            }
        }
    }
    if (message.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) result.truncated = true;
    return result;
}

}  // namespace mproc::os
