#include "os/robust_mutex.hpp"

#include <linux/futex.h>
#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace mproc::os {
namespace {

static_assert(sizeof(pthread_mutex_t) <= RobustMutex::native_size &&
                  alignof(pthread_mutex_t) <= RobustMutex::native_alignment,
              "RobustMutex::native_size and native_alignment must hold a pthread_mutex_t");

pthread_mutex_t* as_pthread(std::byte* native) noexcept { return reinterpret_cast<pthread_mutex_t*>(native); }

timespec to_timespec(std::chrono::steady_clock::time_point when) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    if (ns <= 0) return {0, 0};
    return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

SysResult RobustMutex::init() noexcept {
    pthread_mutexattr_t attributes;
    if (const int code = pthread_mutexattr_init(&attributes); code != 0) return SysError{"pthread_mutexattr_init", code};
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK);
    const int code = pthread_mutex_init(as_pthread(native_), &attributes);
    pthread_mutexattr_destroy(&attributes);
    if (code != 0) return SysError{"pthread_mutex_init", code};
    return {};
}

Result<RobustMutex::Outcome> RobustMutex::lock(std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
    int code;
    if (!deadline) {
        code = pthread_mutex_lock(as_pthread(native_));
    } else {
        const timespec when = to_timespec(*deadline);
        code = pthread_mutex_clocklock(as_pthread(native_), CLOCK_MONOTONIC, &when);
    }
    switch (code) {
        case 0: return Outcome::acquired;
        case ETIMEDOUT: return Outcome::busy;
        case EOWNERDEAD: return Outcome::owner_died;
        case EDEADLK: return Outcome::already_held;
        default: return SysError{"pthread_mutex_lock", code};
    }
}

Result<RobustMutex::Outcome> RobustMutex::try_lock() noexcept {
    switch (const int code = pthread_mutex_trylock(as_pthread(native_))) {
        case 0: return Outcome::acquired;
        case EBUSY: return Outcome::busy;
        case EOWNERDEAD: return Outcome::owner_died;
        case EDEADLK: return Outcome::already_held;
        default: return SysError{"pthread_mutex_trylock", code};
    }
}

SysResult RobustMutex::unlock() noexcept {
    if (const int code = pthread_mutex_unlock(as_pthread(native_)); code != 0) return SysError{"pthread_mutex_unlock", code};
    return {};
}

void RobustMutex::make_consistent() noexcept { pthread_mutex_consistent(as_pthread(native_)); }

int RobustMutex::owner() const noexcept {
    const auto word = __atomic_load_n(&as_pthread(native_)->__data.__lock, __ATOMIC_RELAXED);
    return static_cast<int>(static_cast<unsigned>(word) & FUTEX_TID_MASK);
}

bool RobustMutex::looks_free() const noexcept {
    return __atomic_load_n(&as_pthread(native_)->__data.__lock, __ATOMIC_RELAXED) == 0;
}

}  // namespace mproc::os
