#include "os/poll.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <vector>

namespace mproc::os {

namespace {

// ppoll for POLLIN on `fds` until one is ready or the deadline passes; then calls
// report(index, revents) for each descriptor. Returns whether one was ready.
template <class Report>
Result<bool> poll_readable(std::span<const int> fds, std::optional<std::chrono::steady_clock::time_point> deadline,
                           Report&& report) noexcept {
    // Most waits watch a few descriptors (a pool thread: its eventfd and one pidfd per worker):
    // those need no allocation on the way to sleep.
    constexpr std::size_t on_stack = 64;
    pollfd small[on_stack];
    std::vector<pollfd> large;
    pollfd* entries = small;
    if (fds.size() > on_stack) {
        try {
            large.resize(fds.size());
        } catch (...) {
            return SysError{"ppoll", ENOMEM};
        }
        entries = large.data();
    }
    for (std::size_t i = 0; i < fds.size(); ++i) entries[i] = {fds[i], POLLIN, 0};
    for (;;) {
        // ppoll takes a timespec: no rounding of sub-millisecond timeouts to zero.
        timespec limit{};
        if (deadline) {
            const auto left = std::max(std::chrono::nanoseconds(0), *deadline - std::chrono::steady_clock::now());
            limit = {static_cast<time_t>(left.count() / 1'000'000'000), static_cast<long>(left.count() % 1'000'000'000)};
        }
        const int ready = ::ppoll(entries, fds.size(), deadline ? &limit : nullptr, nullptr);
        if (ready > 0)
            for (std::size_t i = 0; i < fds.size(); ++i) report(i, entries[i].revents);
        if (ready >= 0) return ready > 0;
        if (errno != EINTR) return SysError{"ppoll", errno};
    }
}

}  // namespace

Result<bool> wait_until_readable(std::span<const int> fds,
                                 std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
    return poll_readable(fds, deadline, [](std::size_t, short) {});
}

Result<std::vector<bool>> readable_among(std::span<const int> fds,
                                         std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
    std::vector<bool> ready;
    try {
        ready.resize(fds.size());
    } catch (...) {
        return SysError{"ppoll", ENOMEM};
    }
    bool invalid = false;
    const auto waited = poll_readable(fds, deadline, [&](std::size_t i, short revents) {
        if (revents & POLLNVAL) invalid = true;
        ready[i] = revents != 0;
    });
    if (!waited) return waited.error();
    if (invalid) return SysError{"ppoll", EBADF};
    return ready;
}

bool peer_hung_up(int socket) noexcept {
    pollfd entry{socket, POLLRDHUP, 0};
    const int ready = ::poll(&entry, 1, 0);
    return ready > 0 && (entry.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

}  // namespace mproc::os
