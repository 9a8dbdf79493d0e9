// Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier (mproc/sync.hpp).
//
// Shared layouts (one unnamed memfd per object, one page):
//   Lock, RLock   ObjectHeader, MutexState
//   Semaphore     ObjectHeader, value (futex word), waiters, maximum (0: unbounded)
//   Condition     ObjectHeader, sequence (futex word, bumped by notify), waiters; the lock has
//                 its own block
//   Event         ObjectHeader, flag (futex word), waiters
//   Barrier       ObjectHeader, MutexState (internal, robust), generation (futex word, bumped
//                 when a round ends), broken, parties, count, reason, outcomes of recent rounds
//
// "waiters" counts only let the waking side skip the futex_wake system call when nobody sleeps;
// a process killed while waiting leaves it too high, which costs spurious wakes, never a hang.
#include <mproc/sync.hpp>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include <mproc/serialize.hpp>

#include "os/code_modules.hpp"
#include "os/file.hpp"
#include "os/futex.hpp"

namespace mproc {
namespace detail {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::size_t page = 4096;

struct LockBlock {
    ObjectHeader header;
    MutexState mutex;
};

struct SemaphoreBlock {
    ObjectHeader header;
    FutexWord value;
    FutexWord waiters;
    std::uint32_t maximum;
};

struct ConditionBlock {
    ObjectHeader header;
    FutexWord sequence;
    FutexWord waiters;
};

struct EventBlock {
    ObjectHeader header;
    FutexWord flag;
    FutexWord waiters;
};

enum BreakReason : std::uint32_t { not_broken = 0, aborted, timed_out, action_failed, holder_died, was_reset };

struct BarrierBlock {
    static constexpr std::uint32_t remembered_rounds = 256;
    ObjectHeader header;
    MutexState mutex;
    FutexWord generation;  // bumped when a round ends, passed or broken
    FutexWord broken;      // from a break until reset()
    std::uint32_t parties;
    std::uint32_t count;   // arrived in the current round; under mutex
    std::uint32_t reason;  // why the barrier broke last (BreakReason)
    // How recent rounds ended: (round << 1) | broken, at index round % remembered_rounds. A
    // waiter reads its own round's entry once woken; it could only be overwritten if 256 more
    // rounds completed before the waiter ran again.
    FutexWord outcomes[remembered_rounds];
};

static_assert(std::is_trivially_destructible_v<SemaphoreBlock> && std::is_standard_layout_v<SemaphoreBlock> &&
                  std::is_standard_layout_v<BarrierBlock> && sizeof(BarrierBlock) <= page &&
                  std::is_standard_layout_v<ConditionBlock> && std::is_standard_layout_v<EventBlock>,
              "shared blocks are fixed layouts of at most one page");

template <class Block>
Block& as(const SharedBlock& block) {
    return *std::launder(reinterpret_cast<Block*>(block.data()));
}

template <class Block>
SharedBlock create_block(const char* name, ObjectKind kind) {
    SharedBlock block = SharedBlock::create(name, page);
    new (block.data()) Block{};
    init_header(block.data(), kind);
    return block;
}

template <class Block>
SharedBlock decode_block(Reader& in, ObjectKind kind, const char* what) {
    SharedBlock block = SharedBlock::decode(in, sizeof(Block));
    check_header(block, kind, what);
    return block;
}

// Remaining time for a futex wait; nothing when waiting forever.
std::optional<std::chrono::nanoseconds> remaining(const Deadline& deadline) {
    if (!deadline) return std::nullopt;
    return std::max<std::chrono::nanoseconds>(*deadline - Clock::now(), 0ns);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Lock, RLock

MutexHandle::MutexHandle(bool recursive) {
    block_ = SharedBlock::create(recursive ? "mproc-rlock" : "mproc-lock", page);
    new (block_.data()) LockBlock{};
    init_header(block_.data(), ObjectKind::lock);
    state_ = &as<LockBlock>(block_).mutex;
    mutex_init(*state_, recursive);
}

void MutexHandle::encode(Writer& out) const {
    block_.encode(out);
    out.write_value(static_cast<std::uint64_t>(reinterpret_cast<std::byte*>(state_) - block_.data()));
}

MutexHandle MutexHandle::decode(Reader& in, bool recursive) {
    SharedBlock block = SharedBlock::decode(in, sizeof(ObjectHeader));
    const auto offset = in.read_value<std::uint64_t>();
    if (offset % alignof(MutexState) != 0 || offset < sizeof(ObjectHeader) ||
        offset + sizeof(MutexState) > block.size_when_mapped())
        in.fail("lock offset out of range");
    ObjectHeader header;
    std::memcpy(&header, block.data(), sizeof header);
    if (header.magic != ObjectHeader::expected_magic) in.fail("the shared object received is not a lock");
    auto* state = std::launder(reinterpret_cast<MutexState*>(block.data() + offset));
    if ((state->recursive != 0) != recursive)
        in.fail(recursive ? "a Lock cannot be received as an RLock" : "an RLock cannot be received as a Lock");
    return MutexHandle(std::move(block), state);
}

bool MutexHandle::same_lock(const MutexHandle& a, const MutexHandle& b) noexcept {
    if (a.state_ == b.state_) return true;
    if (!a.state_ || !b.state_) return false;
    const auto offset = [](const MutexHandle& handle) {
        return reinterpret_cast<std::byte*>(handle.state_) - handle.block_.data();
    };
    if (offset(a) != offset(b)) return false;
    // Two mappings of one block: the same memfd, received twice.
    return os::same_file(a.block_.fd(), b.block_.fd());
}

}  // namespace detail

void Codec<Lock>::encode(Writer& out, const Lock& lock) { lock.encode(out); }
Lock Codec<Lock>::decode(Reader& in) { return Lock(detail::MutexHandle::decode(in, false)); }
void Codec<RLock>::encode(Writer& out, const RLock& lock) { lock.encode(out); }
RLock Codec<RLock>::decode(Reader& in) { return RLock(detail::MutexHandle::decode(in, true)); }

AnyLock::AnyLock(const Lock& lock) : MutexHandle(lock) {}
AnyLock::AnyLock(const RLock& lock) : MutexHandle(lock) {}
bool AnyLock::recursive() const noexcept { return state_->recursive != 0; }

// The kind first: the receiver checks the lock against it, as Codec<Lock> and Codec<RLock> do.
void Codec<AnyLock>::encode(Writer& out, const AnyLock& lock) {
    out.write_value(static_cast<std::uint8_t>(lock.recursive()));
    lock.encode(out);
}
AnyLock Codec<AnyLock>::decode(Reader& in) {
    const auto recursive = in.read_value<std::uint8_t>();
    if (recursive > 1) in.fail("invalid lock kind");
    return AnyLock(detail::MutexHandle::decode(in, recursive == 1));
}

// ---------------------------------------------------------------------------------------------
// Semaphore, BoundedSemaphore

using detail::as;
using detail::Deadline;
using detail::SemaphoreBlock;

Semaphore::Semaphore(unsigned value, unsigned maximum)
    : block_(detail::create_block<SemaphoreBlock>("mproc-semaphore", detail::ObjectKind::semaphore)) {
    auto& state = as<SemaphoreBlock>(block_);
    state.value.store(value);
    state.maximum = maximum;
}

bool Semaphore::acquire(bool block) { return acquire_until(block ? Deadline{} : Deadline{detail::Clock::now()}); }

bool Semaphore::acquire_until(const Deadline& deadline) {
    auto& state = as<SemaphoreBlock>(block_);
    for (;;) {
        std::uint32_t value = state.value.load();
        while (value > 0)
            if (state.value.compare_exchange_weak(value, value - 1)) return true;
        if (detail::deadline_passed(deadline)) return false;
        // Seen by release() before it reads waiters, or the wait below sees the new value.
        state.waiters.fetch_add(1);
        os::futex_wait(state.value, 0, detail::remaining(deadline));
        state.waiters.fetch_sub(1);
    }
}

void Semaphore::release(unsigned n) {
    if (n == 0) return;
    auto& state = as<SemaphoreBlock>(block_);
    if (state.maximum != 0) {
        std::uint32_t value = state.value.load();
        do {
            if (value + n > state.maximum)
                throw StateError("mproc::BoundedSemaphore::release: semaphore or lock released too many times");
        } while (!state.value.compare_exchange_weak(value, value + n));
    } else {
        state.value.fetch_add(n);
    }
    if (state.waiters.load() != 0) os::futex_wake(state.value, static_cast<int>(std::min(n, 0x7fffffffu)));
}

unsigned Semaphore::get_value() const { return as<SemaphoreBlock>(block_).value.load(); }

void Codec<Semaphore>::encode(Writer& out, const Semaphore& semaphore) {
    if (as<SemaphoreBlock>(semaphore.block_).maximum != 0)
        throw SerializationError("mproc: a BoundedSemaphore must be sent as a BoundedSemaphore");
    semaphore.block_.encode(out);
}
Semaphore Codec<Semaphore>::decode(Reader& in) {
    auto block = detail::decode_block<SemaphoreBlock>(in, detail::ObjectKind::semaphore, "Semaphore");
    if (as<SemaphoreBlock>(block).maximum != 0) in.fail("a BoundedSemaphore cannot be received as a Semaphore");
    return Semaphore(std::move(block));
}
void Codec<BoundedSemaphore>::encode(Writer& out, const BoundedSemaphore& semaphore) {
    semaphore.block_.encode(out);
}
BoundedSemaphore Codec<BoundedSemaphore>::decode(Reader& in) {
    auto block = detail::decode_block<SemaphoreBlock>(in, detail::ObjectKind::semaphore, "BoundedSemaphore");
    if (as<SemaphoreBlock>(block).maximum == 0) in.fail("a Semaphore cannot be received as a BoundedSemaphore");
    return BoundedSemaphore(std::move(block));
}

// ---------------------------------------------------------------------------------------------
// Condition

using detail::ConditionBlock;

Condition::Condition(AnyLock lock)
    : lock_(std::move(lock)),
      block_(detail::create_block<ConditionBlock>("mproc-condition", detail::ObjectKind::condition)) {}

bool Condition::wait_until(const Deadline& deadline) {
    auto& state = as<ConditionBlock>(block_);
    if (!lock_.held_by_this_thread())
        throw StateError("mproc::Condition::wait: the condition's lock is not held by this thread");
    const std::uint32_t seen = state.sequence.load();
    state.waiters.fetch_add(1);
    const std::uint32_t levels = detail::mutex_unlock_all(*lock_.state_);
    // Notified means the sequence moved; a futex wait that returns early (a signal) sleeps again.
    // Once the deadline has passed (at once for a zero or negative timeout), only a notify
    // already made counts.
    while (state.sequence.load() == seen && !detail::deadline_passed(deadline))
        os::futex_wait(state.sequence, seen, detail::remaining(deadline));
    state.waiters.fetch_sub(1);
    detail::mutex_relock(*lock_.state_, levels);
    return state.sequence.load() != seen;
}

void Condition::notify(unsigned n) {
    auto& state = as<ConditionBlock>(block_);
    if (n == 0 || state.waiters.load() == 0) return;
    state.sequence.fetch_add(1);
    os::futex_wake(state.sequence, static_cast<int>(std::min(n, 0x7fffffffu)));
}

void Condition::notify_all() { notify(0x7fffffffu); }

void Codec<Condition>::encode(Writer& out, const Condition& condition) {
    mproc::encode(out, condition.lock_);
    condition.block_.encode(out);
}
Condition Codec<Condition>::decode(Reader& in) {
    auto lock = mproc::decode<AnyLock>(in);
    auto block = detail::decode_block<ConditionBlock>(in, detail::ObjectKind::condition, "Condition");
    return Condition(std::move(lock), std::move(block));
}

// ---------------------------------------------------------------------------------------------
// Event

using detail::EventBlock;

Event::Event() : block_(detail::create_block<EventBlock>("mproc-event", detail::ObjectKind::event)) {}

bool Event::is_set() const { return as<EventBlock>(block_).flag.load() != 0; }

void Event::set() {
    auto& state = as<EventBlock>(block_);
    state.flag.store(1);
    if (state.waiters.load() != 0) os::futex_wake(state.flag);
}

void Event::clear() { as<EventBlock>(block_).flag.store(0); }

bool Event::wait_until(const Deadline& deadline) {
    auto& state = as<EventBlock>(block_);
    while (state.flag.load() == 0) {
        if (detail::deadline_passed(deadline)) return false;
        state.waiters.fetch_add(1);
        os::futex_wait(state.flag, 0, detail::remaining(deadline));
        state.waiters.fetch_sub(1);
    }
    return true;
}

void Codec<Event>::encode(Writer& out, const Event& event) { event.block_.encode(out); }
Event Codec<Event>::decode(Reader& in) {
    return Event(detail::decode_block<EventBlock>(in, detail::ObjectKind::event, "Event"));
}

// ---------------------------------------------------------------------------------------------
// Barrier

namespace {

using namespace std::chrono_literals;
using detail::BarrierBlock;
using detail::BreakReason;

// Ends the current round: its waiters are released, or told it broke. Called holding the mutex.
void end_round(BarrierBlock& state, bool broken, BreakReason reason) {
    const std::uint32_t round = state.generation.load();
    state.outcomes[round % BarrierBlock::remembered_rounds].store((round << 1) | (broken ? 1u : 0u));
    if (broken) {
        state.broken.store(1);
        state.reason = reason;
    }
    state.count = 0;
    state.generation.store(round + 1, std::memory_order_release);
    os::futex_wake(state.generation);
}

// Takes the internal mutex. If its holder died (while running the action, or in the middle of
// bookkeeping), the current round cannot be trusted: it is broken, and the barrier stays broken
// until reset().
void lock_barrier(BarrierBlock& state) {
    try {
        detail::mutex_lock(state.mutex);
    } catch (const OwnerDied&) {
        end_round(state, true, detail::holder_died);
    }
}

// Whether the round ended because the barrier broke.
bool round_broke(const BarrierBlock& state, std::uint32_t round) {
    const std::uint32_t outcome = state.outcomes[round % BarrierBlock::remembered_rounds].load();
    return (outcome >> 1) == (round & 0x7fffffffu) && (outcome & 1u) != 0;
}

[[noreturn]] void throw_broken(const BarrierBlock& state) {
    std::string why;
    switch (state.reason) {
        case detail::aborted: why = " (aborted)"; break;
        case detail::timed_out: why = " (a wait timed out)"; break;
        case detail::action_failed: why = " (its action threw)"; break;
        case detail::holder_died: why = " (a process died while running its action or holding its lock)"; break;
        case detail::was_reset: why = " (reset while waiting)"; break;
        default: break;
    }
    throw BrokenBarrierError("mproc::Barrier::wait: the barrier is broken" + why);
}

struct BarrierUnlock {
    BarrierBlock& state;
    ~BarrierUnlock() { detail::mutex_unlock(state.mutex); }
};

}  // namespace

Barrier::Barrier(unsigned parties, Action action, std::optional<std::chrono::duration<double>> timeout)
    : action_(action), timeout_(timeout) {
    if (parties == 0) throw std::invalid_argument("mproc::Barrier: parties must be at least 1");
    block_ = detail::create_block<BarrierBlock>("mproc-barrier", detail::ObjectKind::barrier);
    auto& state = as<BarrierBlock>(block_);
    detail::mutex_init(state.mutex, false);
    state.parties = parties;
    // Round 0's entry must not read as "round 0 broke" before it ends.
    for (std::uint32_t i = 0; i < BarrierBlock::remembered_rounds; ++i) state.outcomes[i].store(0xfffffffeu);
}

unsigned Barrier::wait_until(const Deadline& deadline) {
    auto& state = as<BarrierBlock>(block_);
    std::uint32_t round;
    unsigned index;
    {
        lock_barrier(state);
        BarrierUnlock unlock{state};
        if (state.broken.load()) throw_broken(state);
        round = state.generation.load();
        index = state.count++;
        if (state.count == state.parties) {
            if (action_) {
                try {
                    action_();
                } catch (...) {
                    end_round(state, true, detail::action_failed);
                    throw;
                }
            }
            end_round(state, false, detail::not_broken);
            return index;
        }
    }
    for (;;) {
        if (state.generation.load(std::memory_order_acquire) != round) {
            if (round_broke(state, round)) throw_broken(state);
            return index;
        }
        if (detail::deadline_passed(deadline)) {
            lock_barrier(state);
            BarrierUnlock unlock{state};
            if (state.generation.load() == round) end_round(state, true, detail::timed_out);
            continue;
        }
        // Sleep in slices, to notice a process that died holding the internal lock (running the
        // action): the kernel marks the mutex, and try_lock reports it.
        auto slice = std::chrono::nanoseconds(100ms);
        if (deadline) slice = std::min(slice, *detail::remaining(deadline));
        if (os::futex_wait(state.generation, round, slice)) continue;
        try {
            if (detail::mutex_try_lock(state.mutex)) detail::mutex_unlock(state.mutex);
        } catch (const OwnerDied&) {
            BarrierUnlock unlock{state};
            end_round(state, true, detail::holder_died);
        }
    }
}

void Barrier::reset() {
    auto& state = as<BarrierBlock>(block_);
    lock_barrier(state);
    BarrierUnlock unlock{state};
    if (state.count > 0) end_round(state, true, detail::was_reset);
    state.broken.store(0);
    state.reason = detail::not_broken;
    state.count = 0;
}

void Barrier::abort() {
    auto& state = as<BarrierBlock>(block_);
    lock_barrier(state);
    BarrierUnlock unlock{state};
    end_round(state, true, detail::aborted);
}

unsigned Barrier::parties() const { return as<BarrierBlock>(block_).parties; }

unsigned Barrier::n_waiting() const {
    auto& state = as<BarrierBlock>(block_);
    lock_barrier(state);
    BarrierUnlock unlock{state};
    return state.broken.load() ? 0 : state.count;
}

bool Barrier::broken() const { return as<BarrierBlock>(block_).broken.load() != 0; }

void Codec<Barrier>::encode(Writer& out, const Barrier& barrier) {
    barrier.block_.encode(out);
    out.write_value(static_cast<std::uint8_t>(barrier.action_ != nullptr));
    if (barrier.action_) {
        const auto location = os::locate_code(reinterpret_cast<std::uintptr_t>(barrier.action_));
        if (!location) throw SerializationError("mproc::Barrier: its action is not code of a loaded module");
        mproc::encode(out, std::string(location->module));
        out.write_value(static_cast<std::uint64_t>(location->offset));
    }
    out.write_value(static_cast<std::uint8_t>(barrier.timeout_.has_value()));
    if (barrier.timeout_) out.write_value(barrier.timeout_->count());
}

Barrier Codec<Barrier>::decode(Reader& in) {
    auto block = detail::decode_block<BarrierBlock>(in, detail::ObjectKind::barrier, "Barrier");
    Barrier::Action action = nullptr;
    const auto has_action = in.read_value<std::uint8_t>();
    if (has_action > 1) in.fail("invalid Barrier action flag");
    if (has_action) {
        const auto module = mproc::decode<std::string>(in);
        const auto offset = static_cast<std::uintptr_t>(in.read_value<std::uint64_t>());
        const auto address = os::resolve_code({module, offset});
        if (!address) in.fail("Barrier action does not resolve to code in this process");
        action = reinterpret_cast<Barrier::Action>(address);
    }
    std::optional<std::chrono::duration<double>> timeout;
    const auto has_timeout = in.read_value<std::uint8_t>();
    if (has_timeout > 1) in.fail("invalid Barrier timeout flag");
    if (has_timeout) timeout = std::chrono::duration<double>(in.read_value<double>());
    return Barrier(std::move(block), action, timeout);
}

}  // namespace mproc
