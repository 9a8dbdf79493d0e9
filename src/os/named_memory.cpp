#include "os/named_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include "os/syscall.hpp"

namespace mproc::os {
namespace {

Result<UniqueFd> open_flags(const char* path, int flags) noexcept {
    const auto fd = sys_call("shm_open", [&] { return ::shm_open(path, flags | O_RDWR | O_CLOEXEC, 0600); });
    if (!fd) return fd.error();
    return UniqueFd(fd.value());
}

}  // namespace

Result<UniqueFd> create_named_memory(const char* path) noexcept { return open_flags(path, O_CREAT | O_EXCL); }

Result<UniqueFd> open_named_memory(const char* path) noexcept { return open_flags(path, 0); }

SysResult unlink_named_memory(const char* path) noexcept {
    return sys_check("shm_unlink", [&] { return ::shm_unlink(path); });
}

}  // namespace mproc::os
