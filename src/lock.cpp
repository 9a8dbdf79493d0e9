// Lock semantics of mproc's process-shared mutexes (detail::MutexState), on os::RobustMutex.
//
// A mutex whose holder died is made consistent at once, so that it stays usable whatever the
// caller does next, and the caller is told with mproc::OwnerDied. An RLock counts its levels in
// MutexState::recursion, which only the owner touches; a Lock leaves it alone (one store fewer on
// each acquire and release, where a few stores are a measurable share).
#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>

#include <cerrno>

#include "os/cpu.hpp"
#include "os/robust_mutex.hpp"
#include "os_error.hpp"

namespace mproc::detail {
namespace {

static_assert(sizeof(MutexState::native) >= os::RobustMutex::native_size &&
                  alignof(MutexState) >= os::RobustMutex::native_alignment,
              "MutexState::native must hold an os::RobustMutex");

os::RobustMutex native(MutexState& mutex) noexcept { return os::RobustMutex(mutex.native); }
os::RobustMutex native(const MutexState& mutex) noexcept {
    // Only read through (held_by_this_thread).
    return os::RobustMutex(const_cast<std::byte*>(mutex.native));
}

// A newly taken mutex is held once.
void count_first_level(MutexState& mutex) noexcept {
    if (mutex.recursive) mutex.recursion = 1;
}

// The mutex is consistent already (os::RobustMutex clears the mark of a dead holder as it takes
// it): whatever the caller does with the exception, it stays usable.
[[noreturn]] void owner_died(MutexState& mutex) {
    count_first_level(mutex);
    throw OwnerDied(
        "mproc: the previous holder of this lock died while holding it. The lock is now held by "
        "this thread (release it once the data it protects is repaired or discarded)");
}

// What an attempt to lock came to: true when taken. Relocking a Lock this thread holds fails,
// and throws where the caller would wait for ever.
bool settle(MutexState& mutex, os::RobustMutex::Outcome outcome, bool waits_for_ever) {
    switch (outcome) {
        case os::RobustMutex::Outcome::acquired:
            count_first_level(mutex);
            return true;
        case os::RobustMutex::Outcome::busy:
            return false;
        case os::RobustMutex::Outcome::owner_died:
            owner_died(mutex);
        case os::RobustMutex::Outcome::already_held:
            if (!waits_for_ever) return false;
            throw StateError("mproc::Lock::acquire: this thread already holds this Lock, which is not "
                             "recursive (acquiring it again would never return; use an RLock)");
    }
    return false;
}

[[noreturn]] void throw_not_held() { throw StateError("mproc: release of a lock this thread does not hold"); }

constexpr int lock_spin_checks = 8;
constexpr int pauses_between_lock_checks = 256;

// mutex_lock once the mutex was found held (or this thread not yet set up). Not inlined, so that
// the uncontended path saves no registers for it.
[[gnu::noinline]] bool lock_contended(MutexState& mutex, const Deadline& deadline) {
    os::RobustMutex native_mutex = native(mutex);
    // Set up first: until then lock_if_free fails, and the spin below would look in vain.
    or_throw(os::RobustMutex::set_up_this_thread());
    // Critical sections on shared objects are short: a holder on another CPU is likely to release
    // the lock within a microsecond or two, sooner than a sleep in the kernel and the wake-up
    // that ends it. The spinner looks only every few microseconds: looking more often takes the
    // lock's cache line from the holder (slowing it), and catches every short gap between its
    // unlock and its next lock, handing the lock (and the data under it) from CPU to CPU on each
    // increment. Spaced out, a holder that re-locks at once keeps it for a while: 2 processes
    // incrementing a Value under its lock do about three times as many increments per second.
    if (os::spinning_helps() && native_mutex.owner() != 0 && !native_mutex.held_by_this_thread())
        for (int i = 0; i < lock_spin_checks; ++i) {
            for (int pause = 0; pause < pauses_between_lock_checks; ++pause) os::spin_pause();
            if (native_mutex.looks_free() && native_mutex.lock_if_free()) {
                count_first_level(mutex);
                return true;
            }
            if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
        }
    return settle(mutex, or_throw(native_mutex.lock(deadline)), !deadline);
}

}  // namespace

void mutex_init(MutexState& mutex, bool recursive) {
    or_throw(native(mutex).init());
    mutex.recursion = 0;
    mutex.recursive = recursive ? 1 : 0;
}

bool mutex_held_by_this_thread(const MutexState& mutex) noexcept { return native(mutex).held_by_this_thread(); }

bool mutex_lock(MutexState& mutex, const Deadline& deadline) {
    os::RobustMutex native_mutex = native(mutex);
    if (mutex.recursive && native_mutex.held_by_this_thread()) {
        ++mutex.recursion;
        return true;
    }
    if (native_mutex.lock_if_free()) {
        count_first_level(mutex);
        return true;
    }
    return lock_contended(mutex, deadline);
}

bool mutex_try_lock(MutexState& mutex) {
    os::RobustMutex native_mutex = native(mutex);
    if (mutex.recursive && native_mutex.held_by_this_thread()) {
        ++mutex.recursion;
        return true;
    }
    return settle(mutex, or_throw(native_mutex.try_lock()), /*waits_for_ever=*/false);
}

void mutex_unlock(MutexState& mutex) {
    os::RobustMutex native_mutex = native(mutex);
    if (mutex.recursive) {
        if (!native_mutex.held_by_this_thread()) throw_not_held();
        if (--mutex.recursion > 0) return;
    }
    // Fails (EPERM) only when this thread does not hold it: one look at the word instead of two.
    if (!native_mutex.unlock()) throw_not_held();
}

std::uint32_t mutex_unlock_all(MutexState& mutex) {
    if (!mutex_held_by_this_thread(mutex))
        throw StateError("mproc::Condition::wait: the condition's lock is not held by this thread");
    const std::uint32_t levels = mutex.recursive ? mutex.recursion : 1;
    or_throw(native(mutex).unlock());
    return levels;
}

void mutex_relock(MutexState& mutex, std::uint32_t levels) {
    const auto outcome = or_throw(native(mutex).lock(std::nullopt));
    // already_held cannot come here: the lock was released just before, by this thread.
    if (outcome != os::RobustMutex::Outcome::acquired && outcome != os::RobustMutex::Outcome::owner_died)
        throw_os_error({"robust mutex lock", EDEADLK});
    if (mutex.recursive) mutex.recursion = levels;
    if (outcome == os::RobustMutex::Outcome::owner_died)
        throw OwnerDied(
            "mproc: the previous holder of this condition's lock died while holding it. The lock "
            "is held again by this thread, as after a normal wait");
}

}  // namespace mproc::detail
