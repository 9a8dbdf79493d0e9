// Robust, process-shared mutexes (detail::MutexState) on glibc's pthread mutexes.
//
// PTHREAD_MUTEX_ROBUST: when the holder dies, the kernel (through the robust list glibc
// registers for every thread) marks the mutex and wakes a waiter; the next pthread_mutex_lock
// returns EOWNERDEAD with the mutex held. We make it consistent at once, so that the mutex stays
// usable whatever the caller does next, and tell the caller with mproc::OwnerDied.
// PTHREAD_MUTEX_ERRORCHECK: unlocking a mutex one does not hold, or relocking a non-recursive
// one, is reported instead of being undefined or hanging.
#include "os/robust_mutex.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <fstream>
#include <string>

#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>

#include "os/child_process.hpp"
#include "os/cpu.hpp"
#include "os/syscall.hpp"

namespace mproc::os {
namespace {
thread_local int cached_thread_id = 0;
std::atomic<int> cached_process_id{0};
const bool reset_in_children = [] {
    at_fork_child([] {
        cached_thread_id = 0;
        cached_process_id.store(0, std::memory_order_relaxed);
    });
    return true;
}();
}  // namespace

int this_thread_id() noexcept {
    if (cached_thread_id == 0) cached_thread_id = static_cast<int>(::gettid());
    return cached_thread_id;
}

int this_process_id() noexcept {
    int pid = cached_process_id.load(std::memory_order_relaxed);
    if (pid == 0) {
        pid = static_cast<int>(::getpid());
        cached_process_id.store(pid, std::memory_order_relaxed);
    }
    return pid;
}

bool process_exists(int pid) noexcept {
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    // A zombie has released everything it held; for our purposes it is gone.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

}  // namespace mproc::os

namespace mproc::detail {
namespace {

static_assert(sizeof(pthread_mutex_t) <= sizeof(MutexState::native) &&
                  alignof(pthread_mutex_t) <= alignof(MutexState),
              "MutexState::native must hold a pthread_mutex_t");

pthread_mutex_t* native(MutexState& mutex) noexcept {
    return reinterpret_cast<pthread_mutex_t*>(mutex.native);
}
const pthread_mutex_t* native(const MutexState& mutex) noexcept {
    return reinterpret_cast<const pthread_mutex_t*>(mutex.native);
}

void check(int code, const char* context) {
    if (code != 0) os::throw_os_error(context, code);
}

[[noreturn]] void owner_died(MutexState& mutex) {
    // Consistent first: whatever the caller does with the exception, the mutex stays usable.
    pthread_mutex_consistent(native(mutex));
    mutex.recursion = 1;
    throw OwnerDied(
        "mproc: the previous holder of this lock died while holding it. The lock is now held by "
        "this thread (release it once the data it protects is repaired or discarded)");
}

constexpr int lock_spin_checks = 8;
constexpr int pauses_between_lock_checks = 256;

timespec to_timespec(std::chrono::steady_clock::time_point when) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    if (ns <= 0) return {0, 0};
    return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

void mutex_init(MutexState& mutex, bool recursive) {
    pthread_mutexattr_t attributes;
    check(pthread_mutexattr_init(&attributes), "pthread_mutexattr_init");
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_ERRORCHECK);
    const int code = pthread_mutex_init(native(mutex), &attributes);
    pthread_mutexattr_destroy(&attributes);
    check(code, "pthread_mutex_init");
    mutex.recursion = 0;
    mutex.recursive = recursive ? 1 : 0;
}

bool mutex_held_by_this_thread(const MutexState& mutex) noexcept {
    // The robust futex protocol keeps the owner's thread id in the lock word; the kernel clears
    // it when the owner dies, so a recycled thread id can never look like the owner.
    const auto word = __atomic_load_n(&native(mutex)->__data.__lock, __ATOMIC_RELAXED);
    return (static_cast<unsigned>(word) & FUTEX_TID_MASK) == static_cast<unsigned>(os::this_thread_id());
}

bool mutex_lock(MutexState& mutex, const Deadline& deadline) {
    if (mutex.recursive && mutex_held_by_this_thread(mutex)) {
        ++mutex.recursion;
        return true;
    }
    // Critical sections on shared objects are short: a holder on another CPU is likely to release
    // the lock within a microsecond or two, sooner than a sleep in the kernel and the wake-up
    // that ends it. Robust mutexes never spin by themselves. The spinner looks only every few
    // microseconds: looking more often takes the lock's cache line from the holder (slowing it),
    // and catches every short gap between its unlock and its next lock, handing the lock (and
    // the data under it) from CPU to CPU on each increment. Spaced out, a holder that re-locks at
    // once keeps it for a while: 2 processes incrementing a Value under its lock do about three
    // times as many increments per second.
    if (os::spinning_helps())
        for (int i = 0; i < lock_spin_checks; ++i) {
            if (__atomic_load_n(&native(mutex)->__data.__lock, __ATOMIC_RELAXED) == 0 && mutex_try_lock(mutex))
                return true;
            if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
            for (int pause = 0; pause < pauses_between_lock_checks; ++pause) os::spin_pause();
        }
    int code;
    if (!deadline) {
        code = pthread_mutex_lock(native(mutex));
    } else {
        const timespec when = to_timespec(*deadline);
        code = pthread_mutex_clocklock(native(mutex), CLOCK_MONOTONIC, &when);
    }
    switch (code) {
        case 0:
            mutex.recursion = 1;
            return true;
        case ETIMEDOUT:
            return false;
        case EOWNERDEAD:
            owner_died(mutex);
        case EDEADLK:
            if (deadline) return false;
            throw StateError("mproc::Lock::acquire: this thread already holds this Lock, which is not "
                             "recursive (acquiring it again would never return; use an RLock)");
        default:
            os::throw_os_error("pthread_mutex_lock", code);
    }
}

bool mutex_try_lock(MutexState& mutex) {
    if (mutex.recursive && mutex_held_by_this_thread(mutex)) {
        ++mutex.recursion;
        return true;
    }
    switch (const int code = pthread_mutex_trylock(native(mutex))) {
        case 0:
            mutex.recursion = 1;
            return true;
        case EBUSY:
        case EDEADLK:
            return false;
        case EOWNERDEAD:
            owner_died(mutex);
        default:
            os::throw_os_error("pthread_mutex_trylock", code);
    }
}

void mutex_unlock(MutexState& mutex) {
    if (!mutex_held_by_this_thread(mutex))
        throw StateError("mproc: release of a lock this thread does not hold");
    if (mutex.recursive && --mutex.recursion > 0) return;
    mutex.recursion = 0;
    check(pthread_mutex_unlock(native(mutex)), "pthread_mutex_unlock");
}

std::uint32_t mutex_unlock_all(MutexState& mutex) {
    if (!mutex_held_by_this_thread(mutex))
        throw StateError("mproc::Condition::wait: the condition's lock is not held by this thread");
    const std::uint32_t levels = mutex.recursion;
    mutex.recursion = 0;
    check(pthread_mutex_unlock(native(mutex)), "pthread_mutex_unlock");
    return levels;
}

void mutex_relock(MutexState& mutex, std::uint32_t levels) {
    const int code = pthread_mutex_lock(native(mutex));
    if (code == EOWNERDEAD) {
        pthread_mutex_consistent(native(mutex));
        mutex.recursion = levels;
        throw OwnerDied(
            "mproc: the previous holder of this condition's lock died while holding it. The lock "
            "is held again by this thread, as after a normal wait");
    }
    check(code, "pthread_mutex_lock");
    mutex.recursion = levels;
}

}  // namespace mproc::detail
