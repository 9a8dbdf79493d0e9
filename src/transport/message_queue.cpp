// The shared-memory message queue under Queue and Pipe (mproc/detail/message_queue.hpp).
#include <mproc/detail/message_queue.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <string>

#include <mproc/errors.hpp>

#include "os/futex.hpp"
#include "os/process_ids.hpp"
#include "os/spin.hpp"
#include "transport/futex_wait.hpp"
#include "transport/message_queue_hooks.hpp"

namespace mproc::detail {

void (*queue_locked_hook)() = nullptr;
void (*queue_published_hook)() = nullptr;
void (*queue_before_sleep_hook)() = nullptr;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using transport::expired;
using transport::time_left;

constexpr std::size_t block_header_size = 64;
constexpr std::size_t control_stride = 384;  // QueueControl, padded; the ring follows
constexpr std::size_t record_alignment = 16;
constexpr std::size_t spill_alignment = std::size_t{1} << 20;
static_assert(sizeof(QueueControl) <= control_stride, "QueueControl must fit its stride");

constexpr std::uint64_t pad(std::uint64_t n, std::uint64_t to) { return (n + to - 1) / to * to; }

// A record: this header, then the payload padded to 16 (none when the payload is in the spill
// area). Headers start at multiples of 16 and never wrap around the end of the ring.
struct RecordHeader {
    std::uint64_t tag;     // the record's position + 1 once published; 0 until then
    std::uint64_t length;  // payload bytes, | spilled_flag if the payload is in the spill area
};
static_assert(sizeof(RecordHeader) == record_alignment, "records start at multiples of their header size");
constexpr std::uint64_t spilled_flag = std::uint64_t{1} << 63;
// A record is published at `position` when its tag says so. Whatever else the word holds (the
// zero written after the previous record, or a record being written) differs: a position's tag
// is never 0, and a tag left from an earlier lap names an earlier position.
constexpr std::uint64_t tag_of(std::uint64_t position) { return position + 1; }

// spill_state: free (0), or the claimant's state in the top two bits and its pid below.
constexpr std::uint32_t spill_free = 0;
constexpr std::uint32_t spill_writing = 1u << 30;    // | pid of the producer copying into it
constexpr std::uint32_t spill_published = 2u << 30;  // its message is in the ring, owned by the queue
constexpr std::uint32_t spill_reading = 3u << 30;    // | pid of the consumer copying out of it
constexpr std::uint32_t spill_kind_mask = 3u << 30;

std::uint64_t record_size(std::uint64_t length, bool spilled) {
    return sizeof(RecordHeader) + (spilled ? 0 : pad(length, record_alignment));
}

// Item counts wrap around together (mod 2^32) and differ by less than 2^31: their difference,
// read as signed, is right.
std::int32_t difference(std::uint32_t a, std::uint32_t b) { return static_cast<std::int32_t>(a - b); }

// Copies a few bytes without a call: most items are small (an int takes 4 bytes).
void copy_bytes(std::byte* to, const std::byte* from, std::size_t size) noexcept {
    if (size > 32) {
        std::memcpy(to, from, size);
    } else if (size >= 16) {  // two 16-byte copies, which may overlap
        std::memcpy(to, from, 16);
        std::memcpy(to + size - 16, from + size - 16, 16);
    } else if (size >= 8) {
        std::memcpy(to, from, 8);
        std::memcpy(to + size - 8, from + size - 8, 8);
    } else if (size >= 4) {
        std::memcpy(to, from, 4);
        std::memcpy(to + size - 4, from + size - 4, 4);
    } else if (size > 0) {
        to[0] = from[0];
        if (size > 1) std::memcpy(to + size - 2, from + size - 2, 2);
    }
}

// A store that the next load may not pass: the other half of the exchange described at
// wait_for_change. It follows a mutex unlock, an atomic read-modify-write, which on x86-64
// already orders the two.
void order_store_before_load() noexcept {
#if defined(__x86_64__)
    asm volatile("" ::: "memory");
#else
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
}

thread_local os::SpinBudget queue_spin;

// Returns once `ready()`, the deadline passes, or after a wake-up (callers re-check their
// condition): a short spin on `ready` first, then a futex sleep on `event`. With a hook, the sleep
// lasts at most a slice, and false is returned when the hook, asked before sleeping, gives up.
// The slice is 50 ms, or a quarter of the time waited so far (since `waiting_since`, set by the
// first sleep of a wait) up to a second: a wait that goes on for long asks its hook about once a
// second, so an idle Pipe end (a manager's connection) does not wake twenty times a second.
//
// `event` is an event count: an epoch, times two, plus a bit saying that someone may be asleep on
// it. So the other side pays for a wake-up (a system call) only when someone may be asleep, not
// on every item while we spin; and only once per sleep: the wake-up adds 1, which clears the bit
// and starts a new epoch, so the items put (or taken) while a woken sleeper waits for a CPU cost
// nothing more. (On a busy machine that wait is a scheduler's time slice: thousands of items.)
//
// No wake-up is lost: the other side makes `ready()` true and then reads `event`; we set the bit
// and then check `ready()` once more before the kernel compares `event` with what we set. Both
// sequences are totally ordered, so either we see `ready()`, or the other side sees the bit and
// changes the epoch, which the kernel's comparison (or the wake-up that comes with the change)
// catches. The change and the wake-up are one system call, so a waker killed between them cannot
// leave the bit cleared and the sleepers asleep. A sleeper that timed out leaves the bit set, and
// two wakers may both add 1, setting it again: one wake-up too many, never one too few.
template <class Ready>
bool wait_for_change(Ready ready, FutexWord& event, const Deadline& deadline, Clock::time_point& waiting_since,
                     const QueueWaitHook& hook = {}) {
    if (os::spin_until_yielding(queue_spin, ready)) return true;
    Deadline until = deadline;
    if (hook.keep_waiting) {
        const auto now = Clock::now();
        if (waiting_since == Clock::time_point{}) waiting_since = now;
        const auto slice = std::clamp<Clock::duration>((now - waiting_since) / 4, 50ms, 1s);
        until = std::min(deadline.value_or(Clock::time_point::max()), now + slice);
    }
    const transport::TimeLeft left = time_left(until);
    if (transport::passed(left)) return true;
    if (queue_before_sleep_hook) queue_before_sleep_hook();
    const std::uint32_t asleep = event.fetch_or(1) | 1;
    order_store_before_load();
    if (ready()) return true;
    // Asked after the bit is set, so that a waker that changes what the hook says and then calls
    // wake_all is never missed.
    if (hook.keep_waiting && !hook.keep_waiting(hook.context)) return false;
    os::futex_wait(event, asleep, left);
    queue_spin.woke();
    return true;
}

// The other half of wait_for_change, called once `ready()` is true for the sleepers on `event`:
// wakes them all if any may be asleep.
void wake_sleepers(FutexWord& event) noexcept {
    if ((event.load(std::memory_order_relaxed) & 1) != 0) os::futex_add_and_wake_all(event, 1);
}

// Wakes every sleeper on `event` whatever it says, including one about to sleep: a new epoch,
// the bit kept.
void wake_all(FutexWord& event) noexcept { os::futex_add_and_wake_all(event, 2); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Layout

SharedBlock MessageQueue::create_block(ObjectKind kind, std::size_t queues, std::size_t capacity,
                                       std::uint64_t maxsize, std::uint64_t spill_keep) {
    // At most 2^31 records of 16 bytes: item counts (mod 2^32) never differ by 2^31 or more.
    if (capacity > (std::size_t{1} << 35)) throw std::invalid_argument("mproc: queue buffer too large");
    // A power of two: a position's place in the ring is then a mask, not a division.
    capacity = std::bit_ceil(std::max<std::size_t>(capacity, 1024));
    const std::size_t stride = control_stride + capacity;
    const std::size_t file_size = block_header_size + queues * stride;
    const std::size_t spill_base = pad(file_size, spill_alignment);
    const std::size_t reserve = spill_base + queues * max_item_bytes;
    SharedBlock block = SharedBlock::create(kind == ObjectKind::pipe ? "mproc-pipe" : "mproc-queue", file_size, reserve);
    init_header(block.data(), kind, static_cast<std::uint32_t>(queues), 0);
    for (std::size_t i = 0; i < queues; ++i) {
        auto* control = new (block.data() + block_header_size + i * stride) QueueControl{};
        mutex_init(control->put_mutex, false);
        mutex_init(control->get_mutex, false);
        control->capacity = capacity;
        control->ring_offset = block_header_size + i * stride + control_stride;
        control->spill_offset = spill_base + i * max_item_bytes;
        control->maxsize = maxsize;
        control->spill_keep = std::min(spill_keep, max_item_bytes);
    }
    return block;
}

std::size_t MessageQueue::check_block(const SharedBlock& block, ObjectKind kind, const char* what) {
    ObjectHeader header;
    std::memcpy(&header, block.data(), sizeof header);
    if (header.magic != ObjectHeader::expected_magic || header.kind != kind || header.element_size == 0 ||
        header.element_size > 2 || block.size_when_mapped() < block_header_size + control_stride)
        throw SerializationError(std::string("mproc: cannot decode message: the shared object received is not a ") + what);
    return header.element_size;
}

MessageQueue MessageQueue::at(const SharedBlock& block, std::size_t index) {
    auto* first = std::launder(reinterpret_cast<QueueControl*>(block.data() + block_header_size));
    const std::uint64_t capacity = first->capacity;
    const std::uint64_t stride = control_stride + capacity;
    const std::uint64_t offset = block_header_size + index * stride;
    const auto corrupt = [] { throw SerializationError("mproc: cannot decode message: corrupt queue layout"); };
    // The control is read only once it is known to lie within the file.
    if (!std::has_single_bit(capacity) || capacity < 1024 || capacity > (std::uint64_t{1} << 35) ||
        offset + stride > block.size_when_mapped())
        corrupt();
    auto* control = std::launder(reinterpret_cast<QueueControl*>(block.data() + offset));
    // Read once: the handle keeps what was checked, whatever a process sharing the block writes
    // into it later.
    const std::uint64_t spill_offset = std::atomic_ref(control->spill_offset).load(std::memory_order_relaxed);
    const std::uint64_t spill_keep =
        std::min(std::atomic_ref(control->spill_keep).load(std::memory_order_relaxed), max_item_bytes);
    if (control->capacity != capacity || control->ring_offset != offset + control_stride ||
        spill_offset < offset + stride || spill_offset + max_item_bytes > block.mapped_size())
        corrupt();
    return MessageQueue(block, control, block.data() + offset + control_stride, capacity, spill_offset, spill_keep);
}

// ---------------------------------------------------------------------------------------------
// Locking and repair

void MessageQueue::lock(MutexState& mutex) {
    try {
        mutex_lock(mutex);
    } catch (const OwnerDied&) {
        repair_holding(mutex);
        throw OwnerDied(
            "mproc: a process died while holding this queue's internal lock. The queue has been "
            "repaired and is usable; the item that process was putting or getting may be lost. "
            "This operation was not performed: retry it");
    }
}

// Called holding `held`, whose previous holder died (or after finding a corrupt record). The
// positions are intact (each is one store), but that side's count may lag behind its position.
// Re-counting needs both positions still, so both mutexes, taken in the one order used
// everywhere: put, then get.
void MessageQueue::repair_holding(MutexState& held) {
    auto& c = *control_;
    unsigned dead_sides = &held == &c.put_mutex ? dead_producer : dead_consumer;
    mutex_unlock(held);
    auto take = [&](MutexState& mutex, DeadSides side) {
        try {
            mutex_lock(mutex);
        } catch (const OwnerDied&) {
            dead_sides |= side;  // this one's holder died too
        }
    };
    take(c.put_mutex, dead_producer);
    take(c.get_mutex, dead_consumer);
    repair(dead_sides);
    mutex_unlock(c.get_mutex);
    mutex_unlock(c.put_mutex);
}

// Called holding both mutexes: re-counts the records published from head on, takes the end of
// the last one as tail, and brings the count of the side that died in line with them.
void MessageQueue::repair(unsigned dead_sides) noexcept {
    auto& c = *control_;
    const std::uint64_t head = c.head.load();
    std::uint64_t position = head;
    std::uint32_t records = 0;
    bool spill_in_ring = false;
    // Published records follow each other from head without a gap; the first position without
    // one ends them (a producer that died before publishing left its record unpublished; one
    // that died after, but before moving tail, left a complete record, which counts).
    while (published(position)) {
        const std::uint64_t length = record_length(position);
        const bool spilled = (length & spilled_flag) != 0;
        const std::uint64_t bytes = length & ~spilled_flag;
        const std::uint64_t size = record_size(bytes, spilled);
        if ((spilled ? bytes > max_item_bytes : bytes > capacity_ / 4) || position - head + size > capacity_)
            break;
        ++records;
        spill_in_ring = spill_in_ring || spilled;
        position += size;
    }
    c.tail.store(position);
    if (capacity_ - (position - head) >= sizeof(RecordHeader)) tag(position).store(0);
    // A producer that died between its record and its count left `puts` one short; a consumer,
    // `gets`. When both did, the difference is right as it is.
    if (dead_sides == dead_producer) c.puts.store(c.gets.load() + records);
    if (dead_sides == dead_consumer) c.gets.store(c.puts.load() - records);
    c.head_seen = head;
    c.gets_seen = c.gets.load();
    if (c.spill_state.load() == spill_published && !spill_in_ring) release_spill();
    // A consumer that died copying the large item out had not yet taken its record off the ring:
    // the item is still the queue's.
    if ((c.spill_state.load() & spill_kind_mask) == spill_reading && spill_in_ring) c.spill_state.store(spill_published);
    wake_all(c.readers_event);
    wake_all(c.writers_event);
}

// ---------------------------------------------------------------------------------------------
// Ring access: inline, each put and get makes several of these calls.

[[gnu::always_inline]] inline std::atomic_ref<std::uint64_t> MessageQueue::tag(std::uint64_t position) const noexcept {
    auto* word = reinterpret_cast<std::uint64_t*>(ring_ + (position & (capacity_ - 1)));
    return std::atomic_ref<std::uint64_t>(*word);
}

[[gnu::always_inline]] inline bool MessageQueue::published(std::uint64_t position) const noexcept {
    return tag(position).load(std::memory_order_acquire) == tag_of(position);
}

[[gnu::always_inline]] inline std::uint64_t MessageQueue::record_length(std::uint64_t position) const noexcept {
    std::uint64_t length;
    std::memcpy(&length, ring_ + (position & (capacity_ - 1)) + sizeof(std::uint64_t), sizeof length);
    return length;
}

[[gnu::always_inline]] inline void MessageQueue::write_bytes(std::uint64_t position, const void* data,
                                                            std::size_t size) noexcept {
    const auto* from = static_cast<const std::byte*>(data);
    const std::size_t offset = static_cast<std::size_t>(position & (capacity_ - 1));
    const std::size_t first = std::min<std::size_t>(size, capacity_ - offset);
    copy_bytes(ring_ + offset, from, first);
    if (first < size) std::memcpy(ring_, from + first, size - first);
}

[[gnu::always_inline]] inline void MessageQueue::read_bytes(std::uint64_t position, void* data,
                                                           std::size_t size) const noexcept {
    auto* to = static_cast<std::byte*>(data);
    const std::size_t offset = static_cast<std::size_t>(position & (capacity_ - 1));
    const std::size_t first = std::min<std::size_t>(size, capacity_ - offset);
    copy_bytes(to, ring_ + offset, first);
    if (first < size) std::memcpy(to + first, ring_, size - first);
}

// ---------------------------------------------------------------------------------------------
// The spill area: one large message at a time, claimed by one of many producers (why it is not the
// SPSC ring's: spsc_ring.hpp).

bool MessageQueue::claim_spill(const Deadline& deadline) {
    auto& c = *control_;
    const std::uint32_t mine = spill_writing | static_cast<std::uint32_t>(os::this_process_id());
    for (;;) {
        std::uint32_t state = c.spill_state.load();
        if (state == spill_free) {
            if (c.spill_state.compare_exchange_strong(state, mine)) return true;
            continue;
        }
        if (expired(deadline)) return false;
        const auto slice = std::min<std::chrono::nanoseconds>(50ms, time_left(deadline).value_or(50ms));
        c.spill_waiting.fetch_add(1);
        const bool woken = os::futex_wait(c.spill_state, state, slice);
        c.spill_waiting.fetch_sub(1);
        // A claimant that died while copying would hold the spill area forever.
        const std::uint32_t kind = state & spill_kind_mask;
        if (woken || (kind != spill_writing && kind != spill_reading) ||
            os::process_exists(static_cast<int>(state & ~spill_kind_mask)))
            continue;
        if (kind == spill_reading) {
            // A consumer that died holding the consumers' lock had not taken its record off the
            // ring: the repair that taking the lock triggers gives the item back to the queue.
            try {
                lock(c.get_mutex);
            } catch (const OwnerDied&) {
                continue;
            }
            c.spill_state.compare_exchange_strong(state, spill_free);
            mutex_unlock(c.get_mutex);
            continue;
        }
        c.spill_state.compare_exchange_strong(state, spill_free);
    }
}

void MessageQueue::release_spill() noexcept {
    auto& c = *control_;
    c.spill_state.store(spill_free);
    if (c.spill_waiting.load() != 0) os::futex_wake(c.spill_state);
}

// ---------------------------------------------------------------------------------------------
// put and get

MessageQueue::Status MessageQueue::put(std::span<const std::byte> message, const Deadline& deadline, WaitHook hook) {
    auto& c = *control_;
    const std::uint64_t length = message.size();
    const bool spilled = length > capacity_ / 4;
    if (spilled && length > max_item_bytes)
        throw SerializationError("mproc: an item of " + std::to_string(length) +
                                 " bytes exceeds the largest a queue or pipe carries (16 GiB)");
    const std::uint64_t record = record_size(length, spilled);

    if (spilled) {
        if (!claim_spill(deadline)) return Status::timed_out;
        try {
            const std::uint64_t needed = pad(length, 4096);
            if (c.spill_allocated.load() < needed) {
                block_.grow_file(spill_offset_, needed);
                c.spill_allocated.store(needed);
            }
            std::memcpy(block_.data() + spill_offset_, message.data(), length);
        } catch (...) {
            release_spill();
            throw;
        }
    }
    const auto give_up = [&](Status status) {
        if (spilled) release_spill();
        return status;
    };
    Clock::time_point waiting_since{};
    for (;;) {
        try {
            lock(c.put_mutex);
        } catch (...) {
            if (spilled) release_spill();
            throw;
        }
        const std::uint64_t tail = c.tail.load(std::memory_order_relaxed);
        const std::uint32_t puts = c.puts.load(std::memory_order_relaxed);
        const auto room = [&] {
            // Signed: during a repair, an item may be counted as taken before it is counted as put.
            // The ring keeps room for the zero word after the record.
            return (c.maxsize == 0 || static_cast<std::uint64_t>(std::max(difference(puts, c.gets_seen), 0)) < c.maxsize) &&
                   capacity_ - (tail - c.head_seen) >= record + sizeof(RecordHeader);
        };
        // The consumers' side is read only when what was last seen of it leaves no room.
        const auto look_again = [&] {
            c.head_seen = c.head.load(std::memory_order_acquire);
            if (c.maxsize != 0) c.gets_seen = c.gets.load(std::memory_order_acquire);
        };
        if (!room()) look_again();
        std::uint32_t seen = 0;
        if (!room()) {
            // Before sleeping: the count first, then the positions once more, so that a get that
            // makes room from here on changes the count we wait to change.
            seen = c.gets.load();
            look_again();
        }
        if (room()) {
            const std::uint64_t header_length = length | (spilled ? spilled_flag : 0);
            write_bytes(tail + sizeof(std::uint64_t), &header_length, sizeof header_length);
            if (!spilled) write_bytes(tail + sizeof(RecordHeader), message.data(), length);
            tag(tail + record).store(0, std::memory_order_relaxed);
            if (queue_locked_hook) queue_locked_hook();
            if (spilled) c.spill_state.store(spill_published);
            tag(tail).store(tag_of(tail), std::memory_order_release);
            if (queue_published_hook) queue_published_hook();
            c.tail.store(tail + record, std::memory_order_release);
            c.puts.store(puts + 1, std::memory_order_release);
            mutex_unlock(c.put_mutex);
            // A consumer that saw the queue empty either sees the record or set the sleepers' bit
            // before it sleeps (wait_for_change). Every sleeper is woken: one woken alone might be
            // a poll() (wait_readable) while a get() sleeps on.
            order_store_before_load();
            wake_sleepers(c.readers_event);
            return Status::ok;
        }
        mutex_unlock(c.put_mutex);
        if (expired(deadline)) return give_up(Status::timed_out);
        const auto taken = [&] { return c.gets.load(std::memory_order_relaxed) != seen; };
        if (!wait_for_change(taken, c.writers_event, deadline, waiting_since, hook)) return give_up(Status::abandoned);
    }
}

MessageQueue::Status MessageQueue::get(std::vector<std::byte>& message, const Deadline& deadline, WaitHook hook) {
    auto& c = *control_;
    // Spinning looks at the record it would take, in the ring line it would read anyway.
    const auto arrived = [&] { return published(c.head.load(std::memory_order_relaxed)); };
    Clock::time_point waiting_since{};
    for (;;) {
        lock(c.get_mutex);
        if (arrived()) break;
        mutex_unlock(c.get_mutex);
        if (expired(deadline)) return Status::timed_out;
        const bool keep_waiting = wait_for_change(arrived, c.readers_event, deadline, waiting_since, hook);
        // Whatever arrived before the other end went away is still delivered.
        if (!keep_waiting && !arrived()) return Status::abandoned;
    }
    const std::uint64_t head = c.head.load(std::memory_order_relaxed);
    const std::uint64_t header_length = record_length(head);
    const bool spilled = (header_length & spilled_flag) != 0;
    const std::uint64_t length = header_length & ~spilled_flag;
    if (spilled ? length > max_item_bytes : length > capacity_ / 4) {
        repair_holding(c.get_mutex);
        throw SerializationError("mproc: corrupt record in a queue's shared memory (it was dropped)");
    }
    if (spilled) {
        c.spill_state.store(spill_reading | static_cast<std::uint32_t>(os::this_process_id()));
    } else {
        message.resize(static_cast<std::size_t>(length));
        read_bytes(head + sizeof(RecordHeader), message.data(), message.size());
    }
    if (queue_locked_hook) queue_locked_hook();
    c.head.store(head + record_size(length, spilled), std::memory_order_release);
    c.gets.store(c.gets.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    mutex_unlock(c.get_mutex);
    // Every waiting producer: the space freed may fit more than one of them.
    order_store_before_load();
    wake_sleepers(c.writers_event);
    if (spilled) {
        try {
            message.resize(static_cast<std::size_t>(length));
        } catch (...) {
            release_spill();
            throw;
        }
        std::memcpy(message.data(), block_.data() + spill_offset_, message.size());
        // Spill memory is kept up to spill_keep_, so that the next large item finds it faulted in.
        if (c.spill_allocated.load() > spill_keep_) {
            block_.discard(spill_offset_ + spill_keep_, c.spill_allocated.load() - spill_keep_);
            c.spill_allocated.store(spill_keep_);
        }
        release_spill();
    }
    return Status::ok;
}

MessageQueue::Status MessageQueue::wait_readable(const Deadline& deadline, WaitHook hook) {
    auto& c = *control_;
    const auto readable = [&] { return c.tail.load() != c.head.load(); };
    Clock::time_point waiting_since{};
    for (;;) {
        if (readable()) return Status::ok;
        if (hook.keep_waiting && !hook.keep_waiting(hook.context)) return Status::abandoned;
        if (expired(deadline)) return Status::timed_out;
        wait_for_change(readable, c.readers_event, deadline, waiting_since, hook);
    }
}

void MessageQueue::wake_readers() const noexcept { wake_all(control_->readers_event); }

std::size_t MessageQueue::qsize() const noexcept {
    // An item may be taken before its producer has counted it: never below zero.
    return static_cast<std::size_t>(std::max(difference(control_->puts.load(), control_->gets.load()), 0));
}
std::uint64_t MessageQueue::maxsize() const noexcept { return control_->maxsize; }
bool MessageQueue::full() const noexcept { return control_->maxsize != 0 && qsize() >= control_->maxsize; }

// Unfinished tasks: puts - tasks_done.
void MessageQueue::task_done() {
    auto& c = *control_;
    std::uint32_t done = c.tasks_done.load();
    do {
        // Only an item taken can be done (get() counts it before it returns).
        if (difference(c.gets.load(), done) <= 0)
            throw StateError("mproc::JoinableQueue::task_done: called more times than items were taken");
    } while (!c.tasks_done.compare_exchange_weak(done, done + 1));
    if (difference(c.puts.load(), done + 1) <= 0) {
        c.tasks_done_sequence.fetch_add(1);
        os::futex_wake(c.tasks_done_sequence);
    }
}

bool MessageQueue::join(const Deadline& deadline) {
    auto& c = *control_;
    for (;;) {
        const std::uint32_t seen = c.tasks_done_sequence.load();
        if (difference(c.puts.load(), c.tasks_done.load()) <= 0) return true;
        if (expired(deadline)) return false;
        transport::futex_wait_until(c.tasks_done_sequence, seen, deadline);
    }
}

}  // namespace mproc::detail
