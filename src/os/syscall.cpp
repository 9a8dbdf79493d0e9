#include "os/syscall.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <limits>
#include <optional>

#include <mproc/errors.hpp>

#include "os/unique_fd.hpp"

namespace mproc::os {
namespace {

// The soft file-size limit in bytes; nothing when there is none.
std::optional<std::uint64_t> file_size_limit() noexcept {
    rlimit limit{};
    if (::getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
    return static_cast<std::uint64_t>(limit.rlim_cur);
}

// Whether a file may grow to `size` bytes. Also refuses what off_t cannot hold.
bool within_file_size_limit(std::uint64_t size) noexcept {
    if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) return false;
    const auto limit = file_size_limit();
    return !limit || size <= *limit;
}

}  // namespace

void throw_os_error(const std::string& context, int code) { throw OSError(context, code); }

SysResult<int> set_file_size(int fd, std::size_t size) noexcept {
    if (!within_file_size_limit(size)) return {-1, EFBIG};
    return sys_call([&] { return ::ftruncate(fd, static_cast<off_t>(size)); });
}

SysResult<int> extend_file(int fd, std::size_t offset, std::size_t length) noexcept {
    if (offset > std::numeric_limits<std::uint64_t>::max() - length || !within_file_size_limit(offset + length))
        return {-1, EFBIG};
    return sys_call([&] { return ::fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length)); });
}

void throw_file_size_error(const std::string& context, int code) {
    if (code != EFBIG) throw OSError(context, code);
    const auto limit = file_size_limit();
    throw OSError(context + " (over this process's file-size limit, RLIMIT_FSIZE or `ulimit -f`" +
                      (limit ? ", of " + std::to_string(*limit) + " bytes)" : ")"),
                  code);
}

void UniqueFd::reset(int fd) noexcept {
    // close() must not be retried on EINTR: on Linux the descriptor is released regardless.
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

}  // namespace mproc::os
