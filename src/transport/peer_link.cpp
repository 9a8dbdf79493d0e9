// The liveness link between the two ends of a Pipe (PeerLink in mproc/detail/message_queue.hpp):
// a socketpair whose only use is to tell one end that every copy of the other is closed.
#include <mproc/detail/message_queue.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

#include "os/syscall.hpp"
#include "os/unique_fd.hpp"

namespace mproc::detail {

struct PeerLink::Fd {
    os::UniqueFd fd;
};

std::pair<PeerLink, PeerLink> PeerLink::create() {
    int fds[2];
    os::sys_call([&] { return ::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }).or_throw("socketpair");
    PeerLink a, b;
    a.fd_ = std::make_shared<Fd>(Fd{os::UniqueFd(fds[0])});
    b.fd_ = std::make_shared<Fd>(Fd{os::UniqueFd(fds[1])});
    return {std::move(a), std::move(b)};
}

bool PeerLink::peer_open() const noexcept {
    if (!fd_) return false;
    pollfd entry{fd_->fd.get(), POLLRDHUP, 0};
    const int ready = ::poll(&entry, 1, 0);
    return !(ready > 0 && (entry.revents & (POLLHUP | POLLRDHUP | POLLERR)));
}

void PeerLink::close() noexcept { fd_.reset(); }

void PeerLink::encode(Writer& out) const {
    if (!fd_) throw SerializationError("mproc: cannot send a closed Connection");
    out.write_value(out.attach_fd(fd_->fd.get()));
}

PeerLink PeerLink::decode(Reader& in) {
    const int borrowed = in.fd(in.read_value<std::uint32_t>());
    PeerLink link;
    link.fd_ = std::make_shared<Fd>(Fd{os::UniqueFd(os::sys_call([&] {
        return ::fcntl(borrowed, F_DUPFD_CLOEXEC, 0);
    }).or_throw("fcntl(F_DUPFD_CLOEXEC) of a received Connection"))});
    return link;
}

}  // namespace mproc::detail
