// Futex waits and wakes on 32-bit words in memory shared between processes. These are the
// shared (not FUTEX_PRIVATE_FLAG) operations: private ones only work within one process.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace mproc::os {

// Sleeps while *word == expected, until woken, the timeout passes, or a signal arrives: callers
// re-check their condition in a loop. Returns false on timeout.
bool futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
// As futex_wait, until a point on steady_clock (CLOCK_MONOTONIC) instead of for a while: a
// caller that loops keeps its deadline however often it is woken. Returns false once it passed.
bool futex_wait_until(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::optional<std::chrono::steady_clock::time_point> deadline);
// Wakes up to `count` waiters (all by default).
void futex_wake(const std::atomic<std::uint32_t>& word, int count = 0x7fffffff);
// Adds `add` (below 4096) to *word and wakes every waiter on it, in one system call
// (FUTEX_WAKE_OP): a process killed meanwhile has done both or neither.
void futex_add_and_wake_all(std::atomic<std::uint32_t>& word, std::uint32_t add);

static_assert(std::atomic<std::uint32_t>::is_always_lock_free,
              "futex words must be lock-free 32-bit atomics");
static_assert(sizeof(std::atomic<std::uint32_t>) == 4, "futex words are 4 bytes");

}  // namespace mproc::os
