// A counter another thread or process can bump to wake a poll() on it.
#pragma once

#include <utility>

#include "os/result.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {

class EventFd {
public:
    // A new one, close-on-exec and non-blocking.
    static Result<EventFd> create() noexcept;
    EventFd() = default;
    // One received from another process.
    explicit EventFd(UniqueFd fd) noexcept : fd_(std::move(fd)) {}
    int fd() const noexcept { return fd_.get(); }
    void notify() const noexcept;
    // Resets the counter; never blocks.
    void drain() const noexcept;

private:
    UniqueFd fd_;
};

}  // namespace mproc::os
