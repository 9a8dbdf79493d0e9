#include "os/file.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <limits>

#include "os/syscall.hpp"

namespace mproc::os {
namespace {

// Whether a file may grow to `size` bytes. Also refuses what off_t cannot hold.
bool within_file_size_limit(std::uint64_t size) noexcept {
    if (size > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) return false;
    const auto limit = file_size_limit();
    return !limit || size <= *limit;
}

}  // namespace

std::optional<std::uint64_t> file_size_limit() noexcept {
    rlimit limit{};
    if (::getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return std::nullopt;
    return static_cast<std::uint64_t>(limit.rlim_cur);
}

SysResult set_file_size(int fd, std::size_t size, const char* call) noexcept {
    if (!within_file_size_limit(size)) return SysError{call, EFBIG};
    return sys_check(call, [&] { return ::ftruncate(fd, static_cast<off_t>(size)); });
}

SysResult extend_file(int fd, std::size_t offset, std::size_t length, const char* call) noexcept {
    if (offset > std::numeric_limits<std::uint64_t>::max() - length || !within_file_size_limit(offset + length))
        return SysError{call, EFBIG};
    return sys_check(call, [&] { return ::fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(length)); });
}

void punch_hole(int fd, std::size_t offset, std::size_t length) noexcept {
    (void)sys_call("fallocate", [&] {
        return ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                           static_cast<off_t>(length));
    });
}

Result<std::size_t> file_size(int fd, const char* call) noexcept {
    const auto status = file_status(fd, call);
    if (!status) return status.error();
    return status.value().size;
}

Result<FileStatus> file_status(int fd, const char* call) noexcept {
    struct stat status {};
    if (const auto done = sys_check(call, [&] { return ::fstat(fd, &status); }); !done) return done.error();
    return FileStatus{static_cast<std::uint64_t>(status.st_dev), static_cast<std::uint64_t>(status.st_ino),
                      static_cast<std::size_t>(status.st_size)};
}

bool same_file(int a, int b) noexcept {
    const auto first = file_status(a), second = file_status(b);
    return first && second && first.value().device == second.value().device &&
           first.value().inode == second.value().inode;
}

}  // namespace mproc::os
