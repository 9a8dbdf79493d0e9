#include "os/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "os/syscall.hpp"

namespace mproc::os {

void UniqueFd::reset(int fd) noexcept {
    // close() must not be retried on EINTR: on Linux the descriptor is released regardless.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Result<UniqueFd> duplicate_fd_cloexec(int fd, int lowest) noexcept {
    const auto copy = sys_call("fcntl(F_DUPFD_CLOEXEC)", [&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, lowest); });
    if (!copy) return copy.error();
    return UniqueFd(copy.value());
}

SysResult replace_fd_cloexec(int from, int onto) noexcept {
    return sys_check("dup3", [&] { return ::dup3(from, onto, O_CLOEXEC); });
}

}  // namespace mproc::os
