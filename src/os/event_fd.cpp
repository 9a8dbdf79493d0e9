#include "os/event_fd.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

#include "os/syscall.hpp"

namespace mproc::os {

EventFd::EventFd()
    : fd_(sys_call([] { return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }).or_throw("eventfd")) {}

void EventFd::notify() const noexcept {
    const std::uint64_t one = 1;
    sys_call([&] { return ::write(fd_.get(), &one, sizeof one); });
}

void EventFd::drain() const noexcept {
    std::uint64_t count;
    sys_call([&] { return ::read(fd_.get(), &count, sizeof count); });
}

}  // namespace mproc::os
