// Lock semantics of mproc's process-shared mutexes (detail::MutexState), on os::RobustMutex.
//
// A mutex whose holder died is made consistent at once, so that it stays usable whatever the
// caller does next, and the caller is told with mproc::OwnerDied. An RLock counts its levels in
// MutexState::recursion, which only the owner touches.
#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>

#include <cerrno>

#include "os/cpu.hpp"
#include "os/process_ids.hpp"
#include "os/robust_mutex.hpp"
#include "os_error.hpp"

namespace mproc::detail {
namespace {

static_assert(sizeof(MutexState::native) >= os::RobustMutex::native_size &&
                  alignof(MutexState) >= os::RobustMutex::native_alignment,
              "MutexState::native must hold an os::RobustMutex");

os::RobustMutex native(MutexState& mutex) noexcept { return os::RobustMutex(mutex.native); }
os::RobustMutex native(const MutexState& mutex) noexcept {
    // Only read through (owner, looks_free).
    return os::RobustMutex(const_cast<std::byte*>(mutex.native));
}

[[noreturn]] void owner_died(MutexState& mutex) {
    // Consistent first: whatever the caller does with the exception, the mutex stays usable.
    native(mutex).make_consistent();
    mutex.recursion = 1;
    throw OwnerDied(
        "mproc: the previous holder of this lock died while holding it. The lock is now held by "
        "this thread (release it once the data it protects is repaired or discarded)");
}

constexpr int lock_spin_checks = 8;
constexpr int pauses_between_lock_checks = 256;

}  // namespace

void mutex_init(MutexState& mutex, bool recursive) {
    or_throw(native(mutex).init());
    mutex.recursion = 0;
    mutex.recursive = recursive ? 1 : 0;
}

bool mutex_held_by_this_thread(const MutexState& mutex) noexcept {
    return native(mutex).owner() == os::this_thread_id();
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
            if (native(mutex).looks_free() && mutex_try_lock(mutex)) return true;
            if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
            for (int pause = 0; pause < pauses_between_lock_checks; ++pause) os::spin_pause();
        }
    switch (or_throw(native(mutex).lock(deadline))) {
        case os::RobustMutex::Outcome::acquired:
            mutex.recursion = 1;
            return true;
        case os::RobustMutex::Outcome::busy:
            return false;
        case os::RobustMutex::Outcome::owner_died:
            owner_died(mutex);
        case os::RobustMutex::Outcome::already_held:
            if (deadline) return false;
            throw StateError("mproc::Lock::acquire: this thread already holds this Lock, which is not "
                             "recursive (acquiring it again would never return; use an RLock)");
    }
    return false;
}

bool mutex_try_lock(MutexState& mutex) {
    if (mutex.recursive && mutex_held_by_this_thread(mutex)) {
        ++mutex.recursion;
        return true;
    }
    switch (or_throw(native(mutex).try_lock())) {
        case os::RobustMutex::Outcome::acquired:
            mutex.recursion = 1;
            return true;
        case os::RobustMutex::Outcome::busy:
        case os::RobustMutex::Outcome::already_held:
            return false;
        case os::RobustMutex::Outcome::owner_died:
            owner_died(mutex);
    }
    return false;
}

void mutex_unlock(MutexState& mutex) {
    if (!mutex_held_by_this_thread(mutex))
        throw StateError("mproc: release of a lock this thread does not hold");
    if (mutex.recursive && --mutex.recursion > 0) return;
    mutex.recursion = 0;
    or_throw(native(mutex).unlock());
}

std::uint32_t mutex_unlock_all(MutexState& mutex) {
    if (!mutex_held_by_this_thread(mutex))
        throw StateError("mproc::Condition::wait: the condition's lock is not held by this thread");
    const std::uint32_t levels = mutex.recursion;
    mutex.recursion = 0;
    or_throw(native(mutex).unlock());
    return levels;
}

void mutex_relock(MutexState& mutex, std::uint32_t levels) {
    const auto outcome = or_throw(native(mutex).lock(std::nullopt));
    if (outcome == os::RobustMutex::Outcome::owner_died) {
        native(mutex).make_consistent();
        mutex.recursion = levels;
        throw OwnerDied(
            "mproc: the previous holder of this condition's lock died while holding it. The lock "
            "is held again by this thread, as after a normal wait");
    }
    // EDEADLK cannot come here: the lock was released just before, by this thread.
    if (outcome != os::RobustMutex::Outcome::acquired) throw_os_error({"pthread_mutex_lock", EDEADLK});
    mutex.recursion = levels;
}

}  // namespace mproc::detail
