// A single-producer, single-consumer queue of variable-length messages in shared memory.
//
// Messages are encoded in place: the producer gets a Writer over the ring's free space and the
// consumer decodes straight out of the ring, so a message is written once and read once. A
// message that outgrows the contiguous free space moves to the spill area, a shared file of its
// own that holds one message at a time; the ring then carries only its header. The spill file
// grows (never shrinks) as larger messages come, up to `spill_limit` bytes, and each side maps
// only as much of it as it has needed: a pool that allows 4 GiB messages does not take 4 GiB of
// address space per ring.
//
// Neither its spill area nor its wait protocol is the message queue's (message_queue.cpp), though
// both spill one large message at a time and sleep on futex words. Here the producer writes a
// message in place and moves it to the spill file mid-message, when the Writer outgrows the ring;
// between one producer and one consumer a busy flag guards the area, and each side maps its own
// window of a file of its own. The queue copies finished messages into a window reserved inside
// its shared block, claimed by one of many producers through a state word that names the
// claimant's pid, so that a claim left by a process that died is found and undone. A sleeper here
// raises a flag that the waker clears (one wake-up per sleep); the queue's many processes set a bit
// in an event count that the waker clears and bumps in the wake-up's own system call, so that a
// waker killed in between leaves nobody asleep. One spill area for both would put the queue's crash recovery on the
// pool's fast path, or take it from the queue. What they share is the deadline arithmetic of their
// futex waits (futex_wait.hpp).
//
// Memory layout (no pointers inside it):
//   region:     RingControl (positions and futex words), then `capacity` ring bytes, records
//               aligned to 32
//   spill file: one message's payload, at its start
// Both sides hold a Ring object (in their own memory) that points at their own mappings.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <mproc/serialize.hpp>

#include "os/growing_mapping.hpp"

namespace mproc::transport {

struct alignas(64) RingControl {
    // Producer side.
    std::atomic<std::uint64_t> write_position{0};  // bytes published, ever
    std::atomic<std::uint32_t> published{0};       // futex word: bumped on every publish
    std::atomic<std::uint32_t> consumer_waiting{0};
    // Consumer side, on its own cache line to avoid false sharing.
    alignas(64) std::atomic<std::uint64_t> read_position{0};
    std::atomic<std::uint32_t> consumed{0};  // futex word: bumped on every release
    std::atomic<std::uint32_t> producer_waiting{0};
    // 1 while the spill area holds a message the consumer has not released. Futex word.
    alignas(64) std::atomic<std::uint32_t> spill_busy{0};
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "ring positions must be lock-free");

struct Record {
    std::uint16_t type = 0;
    std::uint64_t tag = 0;
    std::span<const std::byte> payload;
    // Descriptors the message refers to (Writer::fds()); the ring does not carry them: the
    // producer sends them on a socket before publishing the record.
    std::uint32_t fd_count = 0;
    // Private to the ring: where the record ends, and whether its payload is in the spill area.
    std::uint64_t end_position = 0;
    bool spilled = false;
};

class Ring {
public:
    // Record headers are this size; records start at multiples of it, so that a header never
    // straddles the end of the ring.
    static constexpr std::size_t alignment = 32;

    // Bytes a region needs for a ring of this capacity (a multiple of 32).
    static std::size_t region_size(std::size_t capacity);

    Ring() = default;
    // `region` points at region_size(capacity) bytes of shared memory, zero-filled when new;
    // `spill_file` is the ring's own file from os::create_growing_file (not owned). The side that
    // creates the ring lays it out; a process that maps it later attaches to it.
    enum class Setup { create, attach };
    Ring(std::byte* region, std::size_t capacity, int spill_file, std::size_t spill_limit, Setup setup = Setup::create);

    // --- Producer ---
    // Whether a message can be started without blocking: room for a record header and the
    // spill area free (so that the message can always be completed).
    bool can_start_without_blocking() const noexcept;
    // Starts a message. Blocks (if the consumer is slow) until there is room for a header.
    Writer& begin(std::uint16_t type, std::uint64_t tag);
    // Publishes the message begun last. Returns true if the consumer is asleep and must be woken
    // (wake_consumer()); waking is left to the caller so that it can use another mechanism.
    bool commit();
    // Drops the message begun last; nothing is published.
    void abandon() noexcept;
    void wake_consumer() const noexcept;

    // --- Consumer ---
    // The oldest unreleased record, if any. Records must be released in order.
    // Throws SerializationError if the record is corrupt.
    std::optional<Record> peek() const;
    // Like peek(), but sleeps until a record arrives or the timeout passes.
    std::optional<Record> wait(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    // Frees the record's memory for the producer; its payload must not be read afterwards.
    void release(const Record& record);
    bool empty() const noexcept;

private:
    struct Header;
    static Writer::Storage grow(void* self, std::size_t used, std::size_t needed);
    std::size_t free_bytes() const noexcept;
    void wait_for_space(std::size_t bytes);

    RingControl* control_ = nullptr;
    std::byte* data_ = nullptr;
    std::size_t capacity_ = 0;
    // This side's view of the spill file; the consumer maps more of it when a larger message comes.
    mutable os::GrowingMapping spill_;
    std::size_t spill_limit_ = 0;
    std::size_t spill_reserved_ = 0;  // producer: bytes of the spill file mapped for the message

    // Producer state of the message in progress.
    std::optional<Writer> writer_;
    std::uint64_t header_position_ = 0;
    std::uint16_t type_ = 0;
    std::uint64_t tag_ = 0;
    bool spilling_ = false;
};

}  // namespace mproc::transport
