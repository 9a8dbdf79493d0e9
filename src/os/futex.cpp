#include "os/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace mproc::os {
namespace {

// A time as the futex call takes it: a relative timeout, or an absolute time on CLOCK_MONOTONIC
// (FUTEX_WAIT_BITSET). Never negative.
timespec timespec_of(std::chrono::nanoseconds time) noexcept {
    const auto ns = std::max<long long>(time.count(), 0);
    return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

bool futex_wait(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::optional<std::chrono::nanoseconds> timeout) {
    const timespec relative = timeout ? timespec_of(*timeout) : timespec{};
    const long result = ::syscall(SYS_futex, &word, FUTEX_WAIT, expected, timeout ? &relative : nullptr,
                                  nullptr, 0);
    return !(result == -1 && errno == ETIMEDOUT);
}

bool futex_wait_until(const std::atomic<std::uint32_t>& word, std::uint32_t expected,
                      std::optional<std::chrono::steady_clock::time_point> deadline) {
    const timespec when = deadline ? timespec_of(deadline->time_since_epoch()) : timespec{};
    // FUTEX_WAIT_BITSET takes an absolute time, on CLOCK_MONOTONIC unless told otherwise.
    const long result = ::syscall(SYS_futex, &word, FUTEX_WAIT_BITSET, expected, deadline ? &when : nullptr,
                                  nullptr, FUTEX_BITSET_MATCH_ANY);
    return !(result == -1 && errno == ETIMEDOUT);
}

void futex_wake(const std::atomic<std::uint32_t>& word, int count) {
    ::syscall(SYS_futex, &word, FUTEX_WAKE, count, nullptr, nullptr, 0);
}

void futex_add_and_wake_all(std::atomic<std::uint32_t>& word, std::uint32_t add) {
    // The operation's target is the woken word itself; no second set of waiters is woken (the
    // count in the timeout's place is 0).
    ::syscall(SYS_futex, &word, FUTEX_WAKE_OP, 0x7fffffff, 0, &word,
              FUTEX_OP(FUTEX_OP_ADD, static_cast<int>(add), FUTEX_OP_CMP_EQ, 0));
}

}  // namespace mproc::os
