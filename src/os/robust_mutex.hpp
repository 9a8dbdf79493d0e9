// Robust, process-shared mutexes on glibc's pthread mutexes, in memory shared between processes.
//
// PTHREAD_MUTEX_ROBUST: when the holder dies, the kernel (through the robust list glibc registers
// for every thread) marks the mutex and wakes a waiter; the next lock succeeds with the outcome
// owner_died, and the mutex stays unusable until made consistent. PTHREAD_MUTEX_ERRORCHECK:
// unlocking a mutex one does not hold, or relocking it, is reported instead of being undefined or
// hanging. Recursion, spinning and what a dead owner means are the caller's (src/lock.cpp).
#pragma once

#include <linux/futex.h>
#include <pthread.h>

#include <cerrno>
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
    [[nodiscard]] Result<Outcome> lock(std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
        const int code = deadline ? lock_until(*deadline) : pthread_mutex_lock(as_pthread());
        if (code == ETIMEDOUT) return Outcome::busy;
        return outcome(code, "pthread_mutex_lock");
    }
    [[nodiscard]] Result<Outcome> try_lock() noexcept {
        return outcome(pthread_mutex_trylock(as_pthread()), "pthread_mutex_trylock");
    }
    [[nodiscard]] SysResult unlock() noexcept {
        if (const int code = pthread_mutex_unlock(as_pthread()); code != 0) return SysError{"pthread_mutex_unlock", code};
        return {};
    }
    // After owner_died: the mutex is usable again.
    void make_consistent() noexcept { pthread_mutex_consistent(as_pthread()); }

    // The kernel id of the thread holding it, 0 if none. The robust futex protocol keeps it in the
    // lock word, and the kernel clears it when the owner dies: a recycled thread id can never look
    // like the owner.
    int owner() const noexcept { return static_cast<int>(static_cast<unsigned>(lock_word()) & FUTEX_TID_MASK); }
    // Whether it looked unlocked just now: a cheap look before trying to lock.
    bool looks_free() const noexcept { return lock_word() == 0; }

private:
    // Defined here, not in robust_mutex.cpp: a Lock's uncontended acquire and release are a few
    // nanoseconds, and a call into another translation unit per step would be a sizeable share.
    pthread_mutex_t* as_pthread() const noexcept { return reinterpret_cast<pthread_mutex_t*>(native_); }
    int lock_word() const noexcept { return __atomic_load_n(&as_pthread()->__data.__lock, __ATOMIC_RELAXED); }
    static Result<Outcome> outcome(int code, const char* call) noexcept {
        switch (code) {
            case 0: return Outcome::acquired;
            case EBUSY: return Outcome::busy;
            case EOWNERDEAD: return Outcome::owner_died;
            case EDEADLK: return Outcome::already_held;
            default: return SysError{call, code};
        }
    }
    // pthread_mutex_clocklock on CLOCK_MONOTONIC: its error code.
    int lock_until(std::chrono::steady_clock::time_point deadline) noexcept;

    std::byte* native_;
};

}  // namespace mproc::os
