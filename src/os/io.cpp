#include "os/io.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>

#include "os/syscall.hpp"

namespace mproc::os {

Result<UniqueFd> open_for_append(const char* path) noexcept {
    const auto fd = sys_call("open", [&] { return ::open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644); });
    if (!fd) return fd.error();
    return UniqueFd(fd.value());
}

SysResult write_all(int fd, std::span<const std::byte> bytes) noexcept {
    while (!bytes.empty()) {
        const auto written = sys_call("write", [&] { return ::write(fd, bytes.data(), bytes.size()); });
        if (!written) return written.error();
        if (written.value() == 0) return SysError{"write", EIO};
        bytes = bytes.subspan(static_cast<std::size_t>(written.value()));
    }
    return {};
}

bool is_terminal(int fd) noexcept { return fd >= 0 && ::isatty(fd) == 1; }

SysResult fill_random(std::span<std::byte> bytes) noexcept {
    while (!bytes.empty()) {
        const auto got = sys_call("getrandom", [&] { return ::getrandom(bytes.data(), bytes.size(), 0); });
        if (!got) return got.error();
        bytes = bytes.subspan(static_cast<std::size_t>(got.value()));
    }
    return {};
}

}  // namespace mproc::os
