#include "os/syscall.hpp"

#include <unistd.h>

#include <mproc/errors.hpp>

#include "os/unique_fd.hpp"

namespace mproc::os {

void throw_os_error(const std::string& context, int code) { throw OSError(context, code); }

void UniqueFd::reset(int fd) noexcept {
    // close() must not be retried on EINTR: on Linux the descriptor is released regardless.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

}  // namespace mproc::os
