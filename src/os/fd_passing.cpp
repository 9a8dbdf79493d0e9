#include "os/fd_passing.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

#include "os/syscall.hpp"

namespace mproc::detail {

int duplicate_fd(int fd) {
    const auto copy = os::sys_call([&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); });
    if (!copy)
        throw SerializationError("mproc: a shared object's file descriptor (" + std::to_string(fd) +
                                 ") is not open: " + std::strerror(copy.error));
    return copy.value;
}

void close_fd(int fd) noexcept { ::close(fd); }

std::shared_ptr<const std::vector<int>> keep_fds(const std::vector<int>& fds) {
    auto copies = std::make_unique<std::vector<int>>();
    try {
        for (int fd : fds) copies->push_back(duplicate_fd(fd));
    } catch (...) {
        for (int fd : *copies) close_fd(fd);
        throw;
    }
    return std::shared_ptr<const std::vector<int>>(copies.release(), [](const std::vector<int>* owned) {
        for (int fd : *owned) close_fd(fd);
        delete owned;
    });
}

}  // namespace mproc::detail

namespace mproc::os {

std::pair<UniqueFd, UniqueFd> socket_pair() {
    int fds[2];
    sys_call([&] { return ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }).or_throw("socketpair");
    return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

bool is_socket_pair_from_parent(int fd) noexcept {
    struct stat status {};
    if (fd < 0 || ::fstat(fd, &status) != 0 || !S_ISSOCK(status.st_mode)) return false;
    int value = 0;
    socklen_t length = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &value, &length) != 0 || value != AF_UNIX) return false;
    length = sizeof value;
    if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &length) != 0 || value != SOCK_SEQPACKET) return false;
    ucred peer{};
    length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) return false;
    return peer.pid == ::getppid() && peer.uid == ::geteuid();
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

void send_message(int socket, std::span<const std::byte> data, std::span<const int> fds) {
    if (fds.size() > max_fds_per_message)
        throw SerializationError("mproc: a message may carry at most " + std::to_string(max_fds_per_message) +
                                 " shared objects");
    iovec iov{const_cast<std::byte*>(data.data()), data.size()};
    std::vector<char> control(fds.empty() ? 0 : CMSG_SPACE(sizeof(int) * fds.size()));
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    if (!fds.empty()) {
        message.msg_control = control.data();
        message.msg_controllen = control.size();
        cmsghdr* header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    }
    sys_call([&] { return ::sendmsg(socket, &message, MSG_NOSIGNAL); }).or_throw("sendmsg");
}

ReceivedMessage receive_message(int socket, std::span<std::byte> buffer) {
    iovec iov{buffer.data(), buffer.size()};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds_per_message));
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    const auto received = sys_call([&] { return ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC); });
    received.or_throw("recvmsg");
    ReceivedMessage result;
    result.size = static_cast<std::size_t>(received.value);
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t n = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < n; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
            result.fds.emplace_back(fd);
        }
    }
    if (message.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) throw SerializationError("mproc: message truncated");
    return result;
}

void send_fds(int socket, std::span<const int> fds) {
    const std::byte marker{0};
    send_message(socket, {&marker, 1}, fds);
}

std::vector<UniqueFd> receive_fds(int socket, std::size_t count) {
    std::byte marker{};
    auto received = receive_message(socket, {&marker, 1});
    if (received.size == 0 || received.fds.size() != count)
        throw SerializationError("mproc: expected " + std::to_string(count) + " file descriptors with a message, got " +
                                 std::to_string(received.fds.size()));
    return std::move(received.fds);
}

}  // namespace mproc::os
