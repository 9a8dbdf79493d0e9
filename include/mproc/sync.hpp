// mproc/sync.hpp: synchronization between processes, as Python's multiprocessing offers it:
// Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier.
//
//   mproc::Lock lock;                          // Python: lock = multiprocessing.Lock()
//   mproc::Process p([](mproc::Lock l) { std::lock_guard guard(l); ... }, lock);
//   p.start();
//   { std::lock_guard guard(lock); ... }       // Python: with lock: ...
//   if (lock.acquire(500ms)) { ...; lock.release(); }
//
// Every object is a handle to state in unnamed shared memory: copies, copies inherited by forked
// children, and copies sent to other processes (they are Transferable; the shared memory travels
// as a file descriptor) all refer to the same lock. Nothing is left behind in /dev/shm or
// anywhere else once the processes using it are gone, however they ended.
//
// Lock and RLock are robust, process-shared mutexes (futexes that follow the kernel's robust-futex
// protocol, as glibc's robust pthread mutexes do) and meet the Lockable and TimedLockable
// requirements: std::lock_guard, std::unique_lock and std::scoped_lock work with them (and with
// Condition and Semaphore, which are lockable too). A Lock and an RLock are owned by the thread
// that acquired them: releasing one this thread does not hold throws StateError (Python allows
// another process to release a multiprocessing.Lock; mproc does not). Acquiring a Lock this
// thread already holds throws StateError instead of never returning.
//
// A holder that dies does not deadlock the others. When a process (or thread) dies holding a
// Lock or RLock, the next acquirer gets it, and its lock()/acquire()/try_lock() throws
// mproc::OwnerDied *while holding the lock*: the data the lock protects may be half-updated, and
// the catcher decides what to do with it, then releases the lock. The lock itself is already
// consistent and usable again. With RAII guards, note that a guard whose constructor threw does
// not own the lock:
//
//   try {
//       std::lock_guard guard(lock);
//       update(shared);
//   } catch (const mproc::OwnerDied&) {
//       repair(shared);                   // we hold the lock here
//       lock.release();
//   }
//
// Semaphore, Event and Barrier are built on shared futexes. A Barrier's internal lock is robust
// as well: a process that dies while running the barrier's action breaks the barrier (the others
// get BrokenBarrierError within about 0.1 s) and reset() makes it usable again.
//
// Timeouts are std::chrono durations (500ms, 2s, std::chrono::duration<double>(0.5)); a plain
// number is refused at compile time, since its unit would be a guess. Negative timeouts mean
// "do not wait", as in Python.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <type_traits>

#include <mproc/detail/codec_fwd.hpp>
#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>

namespace mproc {

class Lock;
class RLock;
class AnyLock;
class Condition;
class BoundedSemaphore;

namespace detail {

template <class T>
class ValueStorage;

// Whether a deadline has passed (never, for none).
inline bool deadline_passed(const Deadline& deadline) noexcept {
    return deadline && std::chrono::steady_clock::now() >= *deadline;
}

// Refuses a plain number where a timeout is expected: 0.5 would otherwise become `true`.
template <class N>
concept plain_number = std::is_arithmetic_v<N> && !std::is_same_v<N, bool>;

// What Lock and RLock share: a handle to a robust mutex, in a block of its own or inside another
// object's block (a Value's lock).
class MutexHandle {
public:
    MutexHandle(const MutexHandle&) = default;
    MutexHandle& operator=(const MutexHandle&) = default;

    // Blocks until acquired. OwnerDied (holding the lock) when the previous holder died.
    void lock() { mutex_lock(*state_); }
    // Never blocks.
    [[nodiscard]] bool try_lock() { return mutex_try_lock(*state_); }
    template <class Rep, class Period>
    [[nodiscard]] bool try_lock_for(const std::chrono::duration<Rep, Period>& timeout) {
        return mutex_lock(*state_, deadline_after(timeout));
    }
    template <class Clock, class Duration>
    [[nodiscard]] bool try_lock_until(const std::chrono::time_point<Clock, Duration>& when) {
        return mutex_lock(*state_, deadline_at(when));
    }
    void unlock() { mutex_unlock(*state_); }

    // Python's names: acquire(), acquire(false) (never blocks), acquire(timeout), release().
    bool acquire(bool block = true) { return block ? mutex_lock(*state_) : mutex_try_lock(*state_); }
    template <class Rep, class Period>
    [[nodiscard]] bool acquire(const std::chrono::duration<Rep, Period>& timeout) {
        return try_lock_for(timeout);
    }
    template <plain_number N>
    bool acquire(N seconds) = delete;  // pass a std::chrono duration: 500ms, 2s
    void release() { unlock(); }

    // Whether this thread holds the lock.
    bool held_by_this_thread() const noexcept { return mutex_held_by_this_thread(*state_); }

    // Whether two handles refer to the same lock, even when each came from a message of its own
    // (and maps the lock's memory separately).
    friend bool operator==(const MutexHandle& a, const MutexHandle& b) noexcept { return same_lock(a, b); }

protected:
    explicit MutexHandle(bool recursive);
    MutexHandle(SharedBlock block, MutexState* state) : block_(std::move(block)), state_(state) {}

    void encode(Writer& out) const;
    static MutexHandle decode(Reader& in, bool recursive);
    static bool same_lock(const MutexHandle& a, const MutexHandle& b) noexcept;

    SharedBlock block_;
    MutexState* state_ = nullptr;

    friend class mproc::Condition;
    friend class mproc::AnyLock;
    friend struct mproc::Codec<mproc::Lock>;
    friend struct mproc::Codec<mproc::RLock>;
    friend struct mproc::Codec<mproc::AnyLock>;
    template <class T>
    friend class ValueStorage;
};

}  // namespace detail

/// A non-recursive lock (Python's multiprocessing.Lock).
///
/// Its operations, shared with RLock and AnyLock (see the top of this file):
/// - `lock()`, `try_lock()`, `try_lock_for(d)`, `try_lock_until(t)`, `unlock()`: Lockable and
///   TimedLockable, for std::lock_guard, std::unique_lock and std::scoped_lock.
/// - `acquire()`, `acquire(false)` (never blocks), `acquire(timeout)`, `release()`: Python's
///   names; acquire returns whether the lock was taken. A plain number as timeout does not
///   compile: pass a std::chrono duration (500ms, 2s).
/// - `held_by_this_thread()`: whether this thread holds it.
/// - `a == b`: whether two handles refer to the same lock, even from separate messages.
///
/// Errors: acquiring throws mproc::OwnerDied, holding the lock, when the previous holder died;
/// mproc::StateError when this thread already holds the Lock, or releases a lock it does not
/// hold; the constructor throws mproc::OSError if the shared memory cannot be made.
///
/// Thread safety: made to be used from any number of threads and processes at once, through one
/// handle or its copies; the lock belongs to the thread that acquired it. Cost: acquiring and
/// releasing an uncontended lock is one atomic operation each, no system call (a robust,
/// process-shared futex); a contended one sleeps in the kernel.
class Lock : public detail::MutexHandle {
public:
    /// A new, unlocked lock. Python: multiprocessing.Lock().
    Lock() : MutexHandle(false) {}

private:
    explicit Lock(MutexHandle handle) : MutexHandle(std::move(handle)) {}
    friend struct Codec<Lock>;
};

/// A recursive lock (Python's multiprocessing.RLock): the holding thread may acquire it again,
/// and must release it as many times.
///
/// Operations, errors and cost as Lock's, except that the holding thread may acquire it again
/// instead of getting StateError.
/// Thread safety: as Lock's: any number of threads and processes at once.
class RLock : public detail::MutexHandle {
public:
    /// A new, unlocked recursive lock. Python: multiprocessing.RLock().
    RLock() : MutexHandle(true) {}

private:
    explicit RLock(MutexHandle handle) : MutexHandle(std::move(handle)) {}
    RLock(detail::SharedBlock block, detail::MutexState* state) : MutexHandle(std::move(block), state) {}
    friend struct Codec<RLock>;
    template <class T>
    friend class detail::ValueStorage;
};

/// A Lock or an RLock, whichever it was made from: what Value::get_lock() and Array::get_lock()
/// return, since Python's lock= argument accepts either. It locks and unlocks like both (acquire,
/// release, timeouts, OwnerDied), compares equal to the lock it was made from, and travels to
/// another process as that very lock. Python needs no such type.
///
/// Operations, errors and cost as those of the lock it was made from.
/// Thread safety: as Lock's: any number of threads and processes at once.
class AnyLock : public detail::MutexHandle {
public:
    /// A handle to `lock`.
    AnyLock(const Lock& lock);
    /// A handle to `lock`.
    AnyLock(const RLock& lock);
    /// Whether it is an RLock.
    bool recursive() const noexcept;

private:
    explicit AnyLock(MutexHandle handle) : MutexHandle(std::move(handle)) {}
    friend struct Codec<AnyLock>;
    template <class T>
    friend class detail::ValueStorage;
};

/// A counting semaphore (Python's multiprocessing.Semaphore). Any process may release it.
/// Usable with std::lock_guard (lock() acquires, unlock() releases).
///
/// Errors: the constructor throws mproc::OSError if the shared memory cannot be made.
/// Thread safety: made to be used from any number of threads and processes at once, through one
/// handle or its copies. Cost: an acquire that need not wait, and a release with no waiter, are
/// atomic operations with no system call; a wait sleeps on a futex.
class Semaphore {
public:
    /// A semaphore with `value` permits. Python: Semaphore(value).
    explicit Semaphore(unsigned value = 1) : Semaphore(value, 0) {}

    /// Takes a permit: waits for one, or with block = false returns false if there is none now.
    /// Python: acquire(block).
    bool acquire(bool block = true);
    /// Takes a permit; false if none came within `timeout`. Python: acquire(timeout=t).
    template <class Rep, class Period>
    [[nodiscard]] bool acquire(const std::chrono::duration<Rep, Period>& timeout) {
        return acquire_until(detail::deadline_after(timeout));
    }
    template <detail::plain_number N>
    bool acquire(N seconds) = delete;  // pass a std::chrono duration: 500ms, 2s
    /// Adds n to the value, waking up to n waiters. A BoundedSemaphore throws StateError (and
    /// changes nothing) when that would take the value above its initial value. Python:
    /// release(n) (BoundedSemaphore raises ValueError).
    void release(unsigned n = 1);
    /// The number of permits now. Python: get_value().
    unsigned get_value() const;

    /// acquire(), for std::lock_guard.
    void lock() { acquire(); }
    /// acquire(false), for std::unique_lock.
    [[nodiscard]] bool try_lock() { return acquire(false); }
    /// release(), for std::lock_guard.
    void unlock() { release(); }

protected:
    /// `value` permits, at most `maximum` (0: no maximum).
    Semaphore(unsigned value, unsigned maximum);
    /// A handle to the semaphore in `block` (one received from another process).
    explicit Semaphore(detail::SharedBlock block) : block_(std::move(block)) {}
    /// acquire until `deadline`.
    bool acquire_until(const detail::Deadline& deadline);

    /// The semaphore's shared memory.
    detail::SharedBlock block_;
    friend struct Codec<Semaphore>;
    friend struct Codec<BoundedSemaphore>;
};

/// A semaphore that may not be released above its initial value (Python's BoundedSemaphore).
/// Errors and cost as Semaphore's; release() past the initial value throws mproc::StateError.
/// Thread safety: as Semaphore's: any number of threads and processes at once.
class BoundedSemaphore : public Semaphore {
public:
    /// A semaphore with `value` permits, never more. Python: BoundedSemaphore(value).
    explicit BoundedSemaphore(unsigned value = 1) : Semaphore(value, value) {}

private:
    explicit BoundedSemaphore(detail::SharedBlock block) : Semaphore(std::move(block)) {}
    friend struct Codec<BoundedSemaphore>;
};

/// A condition variable bound to a Lock or RLock (Python's multiprocessing.Condition; by default
/// a new RLock; a Value's get_lock() will do too). The condition is itself lockable: lock it
/// (std::unique_lock, or acquire()), then wait() or notify(). wait() releases the lock (every
/// level of an RLock), sleeps until notified, and reacquires it; it may also return without a
/// notification, as condition variables do: wait_for(predicate) loops for you.
///
/// Errors: as its lock's (OwnerDied, StateError) for locking; wait() throws StateError when the
/// lock is not held. Thread safety: made to be used from any number of threads and processes at
/// once, through one handle or its copies. Cost: notify() with no waiter is one atomic load, no
/// system call; a wait sleeps on a futex.
class Condition {
public:
    /// A condition with a new RLock of its own. Python: Condition().
    Condition() : Condition(RLock()) {}
    /// A condition bound to `lock` (a Lock, an RLock, or a Value's get_lock()). Python:
    /// Condition(lock).
    explicit Condition(AnyLock lock);

    /// Locks the condition's lock (Lockable, for std::unique_lock).
    void lock() { lock_.lock(); }
    /// Tries to lock the condition's lock without blocking.
    [[nodiscard]] bool try_lock() { return lock_.try_lock(); }
    /// Unlocks the condition's lock.
    void unlock() { lock_.unlock(); }
    /// Python: acquire(block).
    bool acquire(bool block = true) { return lock_.acquire(block); }
    /// Python: acquire(timeout=t).
    template <class Rep, class Period>
    [[nodiscard]] bool acquire(const std::chrono::duration<Rep, Period>& timeout) {
        return lock_.acquire(timeout);
    }
    template <detail::plain_number N>
    bool acquire(N seconds) = delete;  // pass a std::chrono duration: 500ms, 2s
    /// Python: release().
    void release() { lock_.release(); }

    /// The lock must be held (StateError otherwise). Returns true when notified, false when the
    /// timeout passed first; a zero or negative timeout still releases and retakes the lock (letting
    /// others in), and returns false unless a notify landed meanwhile, as in Python.
    /// Python: wait().
    void wait() { (void)wait_until(std::nullopt); }
    /// As wait(), for at most `timeout`. Python: wait(timeout).
    template <class Rep, class Period>
    bool wait(const std::chrono::duration<Rep, Period>& timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    template <detail::plain_number N>
    bool wait(N seconds) = delete;  // pass a std::chrono duration: 500ms, 2s

    /// Waits until predicate() is true; returns its last value (false only on timeout). With a
    /// timeout, the predicate is checked once more when the time is up, and never waited for after
    /// that, however often the condition is notified: a zero or negative timeout only checks it.
    /// Python: wait_for(predicate).
    template <class Predicate>
    bool wait_for(Predicate predicate) {
        while (!predicate()) wait();
        return true;
    }
    /// As wait_for(predicate), for at most `timeout`. Python: wait_for(predicate, timeout).
    template <class Predicate, class Rep, class Period>
    bool wait_for(Predicate predicate, const std::chrono::duration<Rep, Period>& timeout) {
        const auto deadline = detail::deadline_after(timeout);
        bool result = predicate();
        while (!result && !detail::deadline_passed(deadline)) {
            (void)wait_until(deadline);
            result = predicate();
        }
        return result;
    }

    /// Wakes up to n waiters. Python: notify(n).
    /// The lock should be held, as in Python (not checked: notifying without it is harmless here).
    void notify(unsigned n = 1);
    /// Wakes every waiter. Python: notify_all().
    void notify_all();

private:
    Condition(AnyLock lock, detail::SharedBlock block) : lock_(std::move(lock)), block_(std::move(block)) {}
    bool wait_until(const detail::Deadline& deadline);

    AnyLock lock_;
    detail::SharedBlock block_;
    friend struct Codec<Condition>;
};

/// A flag processes can wait for (Python's multiprocessing.Event).
///
/// Errors: the constructor throws mproc::OSError if the shared memory cannot be made.
/// Thread safety: made to be used from any number of threads and processes at once, through one
/// handle or its copies. Cost: is_set() and clear() are one atomic operation; set() makes a
/// system call only when some process waits.
class Event {
public:
    /// A new, unset flag. Python: Event().
    Event();
    /// Python: is_set().
    bool is_set() const;
    /// Sets the flag and wakes every waiter. Python: set().
    void set();
    /// Unsets the flag. Python: clear().
    void clear();
    /// Waits until the flag is set. Python: wait().
    /// Returns whether the flag is set (false only when the timeout passed first).
    bool wait() { return wait_until(std::nullopt); }
    /// As wait(), for at most `timeout`. Python: wait(timeout).
    template <class Rep, class Period>
    bool wait(const std::chrono::duration<Rep, Period>& timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    template <detail::plain_number N>
    bool wait(N seconds) = delete;  // pass a std::chrono duration: 500ms, 2s

private:
    explicit Event(detail::SharedBlock block) : block_(std::move(block)) {}
    bool wait_until(const detail::Deadline& deadline);
    detail::SharedBlock block_;
    friend struct Codec<Event>;
};

/// A barrier for a fixed number of parties (Python's multiprocessing.Barrier).
///
/// wait() returns a different index in [0, parties) to each of the parties of one round (the last
/// to arrive gets parties - 1). The action, when given, is run by the last process to arrive,
/// before any is released; if it throws, the barrier breaks and the exception propagates in that
/// process. The barrier breaks, and every waiting process gets BrokenBarrierError, when a wait
/// times out, when abort() is called, when the action throws, or when a process dies while
/// running the action; it stays broken until reset(). reset() while processes wait breaks their
/// round and leaves the barrier ready for a new one.
///
/// The action is a plain function (a captureless lambda converts to one), so that a Barrier can
/// be sent to another process, where it is found again by its offset in the program.
///
/// Errors: wait() throws mproc::BrokenBarrierError as described above, and what the action
/// threw in the process that ran it; the constructor throws mproc::OSError if the shared memory
/// cannot be made. Thread safety: made to be used from any number of threads and processes at
/// once (each thread that waits is one party), through one handle or its copies. Cost: each
/// wait takes the barrier's internal lock once; all but the last party sleep on a futex.
class Barrier {
public:
    /// The action run by the last party to arrive: a plain function.
    using Action = void (*)();

    /// A barrier for `parties` parties. Python: Barrier(parties, action, timeout).
    explicit Barrier(unsigned parties, Action action = nullptr,
                     std::optional<std::chrono::duration<double>> timeout = std::nullopt);

    /// Waits for the round's other parties; returns this party's index. Python: wait().
    /// With the default timeout given to the constructor, if any.
    unsigned wait() { return wait_until(default_deadline()); }
    /// As wait(), for at most `timeout` (then the barrier breaks). Python: wait(timeout).
    template <class Rep, class Period>
    unsigned wait(const std::chrono::duration<Rep, Period>& timeout) {
        return wait_until(detail::deadline_after(timeout));
    }
    template <detail::plain_number N>
    unsigned wait(N seconds) = delete;  // pass a std::chrono duration: 500ms, 2s

    /// Returns the barrier to its empty state; waiters get BrokenBarrierError. Python: reset().
    void reset();
    /// Breaks the barrier: current and later waits throw BrokenBarrierError until reset().
    /// Python: abort().
    void abort();
    /// Python: parties.
    unsigned parties() const;
    /// Processes waiting in the current round. Python: n_waiting.
    unsigned n_waiting() const;
    /// Whether the barrier is broken. Python: broken.
    bool broken() const;

private:
    Barrier(detail::SharedBlock block, Action action, std::optional<std::chrono::duration<double>> timeout)
        : block_(std::move(block)), action_(action), timeout_(timeout) {}
    detail::Deadline default_deadline() const {
        return timeout_ ? detail::deadline_after(*timeout_) : std::nullopt;
    }
    unsigned wait_until(const detail::Deadline& deadline);

    detail::SharedBlock block_;
    Action action_ = nullptr;
    std::optional<std::chrono::duration<double>> timeout_;
    friend struct Codec<Barrier>;
};

/// How each object travels to another process (see mproc/serialize.hpp).
template <>
struct Codec<Lock> {
    static void encode(Writer& out, const Lock& lock);
    static Lock decode(Reader& in);
};
template <>
struct Codec<RLock> {
    static void encode(Writer& out, const RLock& lock);
    static RLock decode(Reader& in);
};
template <>
struct Codec<AnyLock> {
    static void encode(Writer& out, const AnyLock& lock);
    static AnyLock decode(Reader& in);
};
template <>
struct Codec<Semaphore> {
    static void encode(Writer& out, const Semaphore& semaphore);
    static Semaphore decode(Reader& in);
};
template <>
struct Codec<BoundedSemaphore> {
    static void encode(Writer& out, const BoundedSemaphore& semaphore);
    static BoundedSemaphore decode(Reader& in);
};
template <>
struct Codec<Condition> {
    static void encode(Writer& out, const Condition& condition);
    static Condition decode(Reader& in);
};
template <>
struct Codec<Event> {
    static void encode(Writer& out, const Event& event);
    static Event decode(Reader& in);
};
template <>
struct Codec<Barrier> {
    static void encode(Writer& out, const Barrier& barrier);
    static Barrier decode(Reader& in);
};

}  // namespace mproc
