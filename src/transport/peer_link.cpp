// The liveness link between the two ends of a Pipe (PeerLink in mproc/detail/message_queue.hpp):
// a socketpair whose only use is to tell one end that every copy of the other is closed.
#include <mproc/detail/message_queue.hpp>

#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

#include "message_fds.hpp"
#include "os/poll.hpp"
#include "os/unique_fd.hpp"
#include "os_error.hpp"

namespace mproc::detail {

struct PeerLink::Fd {
    os::UniqueFd fd;
};

std::pair<PeerLink, PeerLink> PeerLink::create() {
    auto [first, second] = socket_pair();
    PeerLink a, b;
    a.fd_ = std::make_shared<Fd>(Fd{std::move(first)});
    b.fd_ = std::make_shared<Fd>(Fd{std::move(second)});
    return {std::move(a), std::move(b)};
}

bool PeerLink::peer_open() const noexcept {
    return fd_ && !os::peer_hung_up(fd_->fd.get());
}

void PeerLink::close() noexcept { fd_.reset(); }

void PeerLink::encode(Writer& out) const {
    if (!fd_) throw SerializationError("mproc: cannot send a closed Connection");
    out.write_value(out.attach_fd(fd_->fd.get()));
}

PeerLink PeerLink::decode(Reader& in) {
    const int borrowed = in.fd(in.read_value<std::uint32_t>());
    PeerLink link;
    link.fd_ = std::make_shared<Fd>(
        Fd{or_throw(os::duplicate_fd_cloexec(borrowed), "fcntl(F_DUPFD_CLOEXEC) of a received Connection")});
    return link;
}

}  // namespace mproc::detail
