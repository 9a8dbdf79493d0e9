// Sole owner of a file descriptor.
#pragma once

#include <utility>

#include "os/result.hpp"

namespace mproc::os {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) reset(std::exchange(other.fd_, -1));
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept { return std::exchange(fd_, -1); }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

// A close-on-exec copy of fd, numbered `lowest` or above.
[[nodiscard]] Result<UniqueFd> duplicate_fd_cloexec(int fd, int lowest = 0) noexcept;
// Makes descriptor number `onto` a close-on-exec copy of `from` (dup3), closing what it was.
[[nodiscard]] SysResult replace_fd_cloexec(int from, int onto) noexcept;

}  // namespace mproc::os
