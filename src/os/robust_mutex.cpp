#include "os/robust_mutex.hpp"

#include <ctime>

namespace mproc::os {
namespace {

static_assert(sizeof(pthread_mutex_t) <= RobustMutex::native_size &&
                  alignof(pthread_mutex_t) <= RobustMutex::native_alignment,
              "RobustMutex::native_size and native_alignment must hold a pthread_mutex_t");

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
    const int code = pthread_mutex_init(as_pthread(), &attributes);
    pthread_mutexattr_destroy(&attributes);
    if (code != 0) return SysError{"pthread_mutex_init", code};
    return {};
}

int RobustMutex::lock_until(std::chrono::steady_clock::time_point deadline) noexcept {
    const timespec when = to_timespec(deadline);
    return pthread_mutex_clocklock(as_pthread(), CLOCK_MONOTONIC, &when);
}

}  // namespace mproc::os
