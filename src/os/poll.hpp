// Waiting for descriptors to become readable.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <vector>

#include "os/result.hpp"

namespace mproc::os {

// Waits until one of `fds` is readable, or hung up (its other end closed, a pidfd's process
// exited), or the deadline passes (none: forever). A signal handled meanwhile does not end the
// wait. Returns whether one is ready; false once the deadline has passed.
[[nodiscard]] Result<bool> wait_until_readable(std::span<const int> fds,
                                               std::optional<std::chrono::steady_clock::time_point> deadline) noexcept;
[[nodiscard]] inline Result<bool> wait_until_readable(int fd,
                                                      std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
    return wait_until_readable(std::span<const int>(&fd, 1), deadline);
}

// As wait_until_readable, telling which descriptors are ready (readable, hung up or in error):
// all false once the deadline has passed. EBADF if one of them is not an open descriptor.
[[nodiscard]] Result<std::vector<bool>> readable_among(std::span<const int> fds,
                                                      std::optional<std::chrono::steady_clock::time_point> deadline) noexcept;

// Whether the other end of a connected socket has closed (or the socket is in error). Never blocks.
bool peer_hung_up(int socket) noexcept;

}  // namespace mproc::os
