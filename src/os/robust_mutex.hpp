// Robust, process-shared mutexes on glibc's pthread mutexes, in memory shared between processes.
//
// PTHREAD_MUTEX_ROBUST: when the holder dies, the kernel (through the robust list glibc registers
// for every thread) marks the mutex and wakes a waiter; the next lock succeeds with the outcome
// owner_died, and the mutex stays unusable until made consistent. PTHREAD_MUTEX_ERRORCHECK:
// unlocking a mutex one does not hold, or relocking it, is reported instead of being undefined or
// hanging. Recursion, spinning and what a dead owner means are the caller's (src/lock.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

#include "os/result.hpp"

namespace mproc::os {

// A view of the mutex whose bytes lie at `native`; it owns nothing.
class RobustMutex {
public:
    // What `native` must hold (a pthread_mutex_t; checked where it is defined).
    static constexpr std::size_t native_size = 40;
    static constexpr std::size_t native_alignment = 8;

    explicit RobustMutex(std::byte* native) noexcept : native_(native) {}

    [[nodiscard]] SysResult init() noexcept;

    enum class Outcome {
        acquired,
        busy,          // held by another thread (try_lock), or the deadline passed (lock)
        owner_died,    // acquired, but its previous holder died holding it: make it consistent
        already_held,  // by this thread
    };
    // Blocks until acquired, or until the deadline (none: forever).
    [[nodiscard]] Result<Outcome> lock(std::optional<std::chrono::steady_clock::time_point> deadline) noexcept;
    [[nodiscard]] Result<Outcome> try_lock() noexcept;
    [[nodiscard]] SysResult unlock() noexcept;
    // After owner_died: the mutex is usable again.
    void make_consistent() noexcept;

    // The kernel id of the thread holding it, 0 if none. The robust futex protocol keeps it in the
    // lock word, and the kernel clears it when the owner dies: a recycled thread id can never look
    // like the owner.
    int owner() const noexcept;
    // Whether it looked unlocked just now: a cheap look before trying to lock.
    bool looks_free() const noexcept;

private:
    std::byte* native_;
};

}  // namespace mproc::os
