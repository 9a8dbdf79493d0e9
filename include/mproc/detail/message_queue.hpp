// mproc/detail/message_queue.hpp: the engine under Queue, SimpleQueue, JoinableQueue and Pipe:
// a multi-producer, multi-consumer queue of byte messages in unnamed shared memory.
//
// Layout of a block holding `n` queues (a Queue has one, a Pipe two, one per direction):
//   ObjectHeader (padded to 64 bytes)
//   n x { QueueControl, ring of `capacity` bytes }
//   n x spill area of up to `max_item_bytes`, reserved in every process's mapping but only
//       allocated while a large message is in it
// No pointers: positions and offsets only.
//
// Messages of up to capacity / 4 bytes are copied into the ring as records (16-byte header,
// payload padded to 16; a record may wrap around the end of the ring). Larger messages go to the
// queue's spill area, which holds one message at a time; the ring then carries only the record
// header. So items of any size (up to max_item_bytes) travel through shared memory.
//
// A record is published by the first word of its header, its tag (its position + 1), stored
// last; the word after a record is zeroed before the record is published. So a consumer finds
// out whether a record is there by reading the ring line it is about to read anyway, not a
// position the producers keep writing: in a steady stream only the ring's lines travel between
// CPUs, and each side's own words stay in its cache.
//
// Producers take one robust mutex, consumers another, so that a producer and a consumer never
// wait for each other. Each side owns one position (a producer also publishes tail, after the
// record, for the repair and for poll) and a count of items. A side that finds the queue empty
// (or full) spins briefly, then sleeps on an event count that the other side bumps, with a system
// call only when someone sleeps. If a process dies holding either mutex, the next one to
// take it walks the published records from head under both mutexes and reports OwnerDied: the
// queue is consistent again, and only the item the dead process was putting or getting may be
// lost.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <mproc/detail/shared_block.hpp>

namespace mproc::detail {

struct QueueControl {
    // Fixed at creation.
    std::uint64_t capacity;      // ring bytes, a power of two
    std::uint64_t ring_offset;   // from the start of the block
    std::uint64_t spill_offset;  // from the start of the block
    std::uint64_t maxsize;       // items; 0: unbounded
    std::uint64_t spill_keep;    // spill bytes kept allocated after a large item

    // Producers: written under put_mutex.
    alignas(64) MutexState put_mutex;
    std::uint64_t head_seen;  // head, as last read
    std::uint32_t gets_seen;  // gets, as last read (bounded queues only)
    // Read by consumers only before they sleep, and by poll.
    alignas(64) std::atomic<std::uint64_t> tail;  // byte position, ever increasing
    FutexWord puts;  // items put, counted once published (mod 2^32)

    // Consumers: written under get_mutex.
    alignas(64) MutexState get_mutex;
    // Read by producers when they run out of room.
    alignas(64) std::atomic<std::uint64_t> head;  // byte position, ever increasing
    FutexWord gets;  // items taken, counted once off the ring (mod 2^32)

    // Rarely written.
    // Event counts (message_queue.cpp: wait_for_change) that get() and wait_readable() sleep on
    // until something is put, and put() until something is taken.
    alignas(64) FutexWord readers_event;
    FutexWord writers_event;
    FutexWord tasks_done;                        // JoinableQueue: task_done() calls
    FutexWord tasks_done_sequence;               // bumped when tasks_done catches up with puts
    FutexWord spill_state;                       // free, or claimed (see message_queue.cpp)
    FutexWord spill_waiting;
    std::atomic<std::uint64_t> spill_allocated;  // bytes of the spill area allocated; by the spill's claimant
};
static_assert(std::is_standard_layout_v<QueueControl> && sizeof(QueueControl) <= 384,
              "QueueControl is a fixed layout in shared memory");

// A hook called while a get() waits (at its start, then every 50 ms, and less often as the wait
// goes on: after a quarter of the time waited so far, at most a second apart): returning false
// abandons the wait. Pipe uses it to notice that the other end is gone.
struct QueueWaitHook {
    bool (*keep_waiting)(const void* context) = nullptr;
    const void* context = nullptr;
};

class MessageQueue {
public:
    static constexpr std::size_t default_capacity = std::size_t{1} << 20;
    static constexpr std::uint64_t max_item_bytes = std::uint64_t{1} << 34;  // 16 GiB
    static constexpr std::uint64_t default_spill_keep = std::uint64_t{64} << 20;

    enum class Status { ok, timed_out, abandoned };

    using WaitHook = QueueWaitHook;

    MessageQueue() = default;

    // A new block holding `queues` queues of `capacity` bytes (rounded up to a power of two) each,
    // each keeping up to `spill_keep` bytes of its spill area allocated after a large item.
    static SharedBlock create_block(ObjectKind kind, std::size_t queues, std::size_t capacity,
                                    std::uint64_t maxsize, std::uint64_t spill_keep = default_spill_keep);
    // The index-th queue of a block (checked against the block's layout).
    static MessageQueue at(const SharedBlock& block, std::size_t index);
    // How many queues a block made by create_block holds; throws SerializationError if the
    // block is not one of `kind`.
    static std::size_t check_block(const SharedBlock& block, ObjectKind kind, const char* what);

    // Blocks while the queue is full (maxsize items, or no room in the ring), until the deadline.
    // Throws OwnerDied (the queue repaired, nothing put) if a process died holding its lock.
    Status put(std::span<const std::byte> message, const Deadline& deadline, WaitHook hook = {});
    // Replaces `message` with the oldest message. Blocks while the queue is empty, until the
    // deadline or until the hook gives up.
    Status get(std::vector<std::byte>& message, const Deadline& deadline, WaitHook hook = {});
    // Waits until the queue is not empty, without taking anything.
    Status wait_readable(const Deadline& deadline, WaitHook hook = {});
    // Wakes every get() and wait_readable() asleep on it, to look at their hooks again (a
    // watcher of connection::wait() told to stop). They go back to sleep if nothing changed.
    void wake_readers() const noexcept;

    std::size_t qsize() const noexcept;
    std::uint64_t maxsize() const noexcept;
    bool full() const noexcept;

    // JoinableQueue.
    void task_done();
    bool join(const Deadline& deadline);

    explicit operator bool() const noexcept { return control_ != nullptr; }

private:
    MessageQueue(SharedBlock block, QueueControl* control, std::byte* ring, std::uint64_t capacity,
                 std::uint64_t spill_offset, std::uint64_t spill_keep)
        : block_(std::move(block)),
          control_(control),
          ring_(ring),
          capacity_(capacity),
          spill_offset_(spill_offset),
          spill_keep_(spill_keep) {}

    // Takes one side's mutex. If its holder died, repairs the queue and throws OwnerDied.
    void lock(MutexState& mutex);
    void repair_holding(MutexState& held);
    enum DeadSides : unsigned { dead_producer = 1, dead_consumer = 2 };
    void repair(unsigned dead_sides) noexcept;
    inline std::atomic_ref<std::uint64_t> tag(std::uint64_t position) const noexcept;
    inline bool published(std::uint64_t position) const noexcept;
    inline std::uint64_t record_length(std::uint64_t position) const noexcept;
    bool claim_spill(const Deadline& deadline);
    void release_spill() noexcept;
    inline void write_bytes(std::uint64_t position, const void* data, std::size_t size) noexcept;
    inline void read_bytes(std::uint64_t position, void* data, std::size_t size) const noexcept;

    SharedBlock block_;
    QueueControl* control_ = nullptr;
    // The ring, its size and the spill area's offset in the block, as checked when this handle
    // was made: no process sharing the block can make this one read or write outside them.
    std::byte* ring_ = nullptr;
    std::uint64_t capacity_ = 0;
    std::uint64_t spill_offset_ = 0;
    std::uint64_t spill_keep_ = 0;
};

// The liveness link between the two ends of a Pipe: each end holds one socket of a socketpair,
// so an end can tell, without any help from the other process, when every copy of the other end
// is closed (its process may have exited or been killed).
class PeerLink {
public:
    PeerLink() = default;
    // Two linked ends.
    static std::pair<PeerLink, PeerLink> create();
    // Whether some copy of the other end is still open.
    bool peer_open() const noexcept;
    void close() noexcept;
    explicit operator bool() const noexcept { return fd_ != nullptr; }

    void encode(Writer& out) const;
    static PeerLink decode(Reader& in);

private:
    struct Fd;
    std::shared_ptr<Fd> fd_;
};

}  // namespace mproc::detail
