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
// One robust mutex protects the positions; producers and consumers sleep on futex words
// (put_sequence, get_sequence) after spinning briefly. If a process dies holding the mutex, the
// next one to take it walks the records from head to tail, restores the counts, and reports
// OwnerDied: the queue is consistent again, and only the item the dead process was putting or
// getting may be lost.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <mproc/detail/shared_block.hpp>

namespace mproc::detail {

struct QueueControl {
    MutexState mutex;
    std::uint64_t capacity;        // ring bytes, a multiple of 16
    std::uint64_t ring_offset;     // from the start of the block
    std::uint64_t spill_offset;    // from the start of the block
    std::uint64_t maxsize;         // items; 0: unbounded
    std::uint64_t head;            // byte positions, ever increasing; under mutex
    std::uint64_t tail;
    std::atomic<std::uint64_t> count;       // items; written under mutex, read anywhere
    std::atomic<std::uint64_t> unfinished;  // JoinableQueue: put and not yet task_done()
    std::atomic<std::uint64_t> spill_allocated;  // bytes of the spill area allocated; by the spill's claimant
    alignas(64) FutexWord put_sequence;     // bumped by every put; consumers sleep on it
    FutexWord getters_waiting;
    alignas(64) FutexWord get_sequence;     // bumped by every get; producers sleep on it
    FutexWord putters_waiting;
    alignas(64) FutexWord unfinished_sequence;  // bumped when unfinished drops to 0
    FutexWord spill_state;                  // free, or claimed (see message_queue.cpp)
    FutexWord spill_waiting;
    FutexWord closed_for_put;               // reserved
};
static_assert(std::is_standard_layout_v<QueueControl> && sizeof(QueueControl) <= 320,
              "QueueControl is a fixed layout in shared memory");

// A hook called while a get() waits (at its start and then every few dozen milliseconds):
// returning false abandons the wait. Pipe uses it to notice that the other end is gone.
struct QueueWaitHook {
    bool (*keep_waiting)(const void* context) = nullptr;
    const void* context = nullptr;
};

class MessageQueue {
public:
    static constexpr std::size_t default_capacity = std::size_t{1} << 20;
    static constexpr std::uint64_t max_item_bytes = std::uint64_t{1} << 34;  // 16 GiB

    enum class Status { ok, timed_out, abandoned };

    using WaitHook = QueueWaitHook;

    MessageQueue() = default;

    // A new block holding `queues` queues of `capacity` bytes (rounded up) each.
    static SharedBlock create_block(ObjectKind kind, std::size_t queues, std::size_t capacity,
                                    std::uint64_t maxsize);
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

    std::size_t qsize() const noexcept;
    std::uint64_t maxsize() const noexcept;
    bool full() const noexcept;

    // JoinableQueue.
    void task_done();
    bool join(const Deadline& deadline);

    explicit operator bool() const noexcept { return control_ != nullptr; }

private:
    MessageQueue(SharedBlock block, QueueControl* control) : block_(std::move(block)), control_(control) {}

    void lock();
    void unlock() noexcept;
    bool wait_unlocked(FutexWord& sequence, FutexWord& waiters, const Deadline& deadline, const WaitHook& hook);
    void repair() noexcept;
    bool claim_spill(const Deadline& deadline);
    void release_spill() noexcept;
    void write_bytes(std::uint64_t position, const void* data, std::size_t size) noexcept;
    void read_bytes(std::uint64_t position, void* data, std::size_t size) const noexcept;

    SharedBlock block_;
    QueueControl* control_ = nullptr;
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
