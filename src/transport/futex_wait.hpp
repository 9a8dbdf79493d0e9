// Deadlines for futex waits: the one place where the rings (message_queue.cpp, spsc_ring.cpp)
// turn "wait until this moment" into the relative timeout a futex takes.
//
// No deadline means no limit. A deadline that has passed is never slept on: the wait returns at
// once and the caller, which re-checks its condition in a loop anyway, sees the time is up.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "os/futex.hpp"

namespace mproc::transport {

// The same type as detail::Deadline (mproc/detail/shared_block.hpp): none means no limit.
using Deadline = std::optional<std::chrono::steady_clock::time_point>;
// A relative timeout as os::futex_wait takes it: none means no limit.
using TimeLeft = std::optional<std::chrono::nanoseconds>;

// Whether `deadline` has come. Never, without one.
inline bool expired(const Deadline& deadline) noexcept {
    return deadline && std::chrono::steady_clock::now() >= *deadline;
}

// The time from now until `deadline`: none without one, zero or less once it has come.
inline TimeLeft time_left(const Deadline& deadline) noexcept {
    if (!deadline) return std::nullopt;
    return *deadline - std::chrono::steady_clock::now();
}

// Whether a wait of `left` (from time_left) is over before it began.
inline bool passed(const TimeLeft& left) noexcept { return left && *left <= std::chrono::nanoseconds::zero(); }

// Sleeps while `word` holds `seen`, until woken, a signal, or `deadline`. Returns false, without
// sleeping, if the deadline had come already; true otherwise, whatever ended the sleep: callers
// re-check their condition.
inline bool futex_wait_until(const std::atomic<std::uint32_t>& word, std::uint32_t seen, const Deadline& deadline) {
    const TimeLeft left = time_left(deadline);
    if (passed(left)) return false;
    os::futex_wait(word, seen, left);
    return true;
}

}  // namespace mproc::transport
