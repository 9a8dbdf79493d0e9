// Sends mproc-encoded objects, with the descriptors they carry, over a Unix socket (SCM_RIGHTS),
// as the pool transport does: lets tests hand a shared object to a process started before the
// object existed. Raw POSIX, independent of the library under test.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <mproc/serialize.hpp>

namespace mproc::test {

// A connected pair of SOCK_SEQPACKET sockets (messages arrive whole).
struct SocketPair {
    int fds[2] = {-1, -1};
    SocketPair() {
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    }
    ~SocketPair() {
        for (int fd : fds)
            if (fd >= 0) ::close(fd);
    }
    int parent() const { return fds[0]; }
    int child() const { return fds[1]; }
};

template <class T>
bool send_object(int socket, const T& object) {
    std::vector<std::byte> bytes;
    Writer out(bytes);
    mproc::encode(out, object);
    const auto& fds = out.fds();
    iovec data{bytes.data(), bytes.size()};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    msghdr message{};
    message.msg_iov = &data;
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
    return ::sendmsg(socket, &message, 0) == static_cast<ssize_t>(bytes.size());
}

// Decodes the next object; the received descriptors are closed afterwards, as a transport does
// (decode keeps duplicates of those it needs).
template <class T>
T receive_object(int socket) {
    std::vector<std::byte> bytes(1 << 16);
    std::vector<char> control(CMSG_SPACE(sizeof(int) * 16));
    iovec data{bytes.data(), bytes.size()};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    const ssize_t received = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
    if (received < 0) std::abort();
    bytes.resize(static_cast<std::size_t>(received));
    std::vector<int> fds;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header))
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
            const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            fds.resize(count);
            std::memcpy(fds.data(), CMSG_DATA(header), sizeof(int) * count);
        }
    struct CloseAll {
        std::vector<int>& fds;
        ~CloseAll() {
            for (int fd : fds) ::close(fd);
        }
    } close_all{fds};
    Reader in(bytes, fds);
    return mproc::decode<T>(in);
}

// Encodes and decodes within one process, as if sent to ourselves: a second handle to the same
// object, with its own mapping.
template <class T>
T round_trip(const T& object) {
    std::vector<std::byte> bytes;
    Writer out(bytes);
    mproc::encode(out, object);
    Reader in(bytes, out.fds());
    T copy = mproc::decode<T>(in);
    if (!in.at_end()) std::abort();
    return copy;
}

}  // namespace mproc::test
