#include "os/event_fd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "os/syscall.hpp"

namespace mproc::os {

Result<EventFd> EventFd::create() noexcept {
    const auto fd = sys_call("eventfd", [] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); });
    if (!fd) return fd.error();
    return EventFd(UniqueFd(fd.value()));
}

void EventFd::notify() const noexcept {
    const std::uint64_t one = 1;
    (void)sys_call("write(eventfd)", [&] { return ::write(fd_.get(), &one, sizeof one); });
}

void EventFd::drain() const noexcept {
    std::uint64_t count;
    (void)sys_call("read(eventfd)", [&] { return ::read(fd_.get(), &count, sizeof count); });
}

}  // namespace mproc::os
