// mproc/detail/shared_block.hpp: the building blocks of mproc's shared objects (Value, Array,
// locks, queues, pipes): a handle to an unnamed block of shared memory, the fixed header every
// block starts with, the layout of a process-shared robust mutex, and deadlines.
//
// A block is an anonymous memfd mapped into every process that holds a handle to it. It has no
// name anywhere, so nothing can be left behind: the kernel frees it when the last process holding
// its descriptor or a mapping is gone, however that process ended. Handles share the mapping
// (std::shared_ptr); a handle copied into a forked child keeps working there, and a handle
// encoded with mproc::encode travels as its descriptor (Writer::attach_fd) and is mapped again by
// mproc::decode in the receiving process. A pool worker keeps the mappings of the blocks it
// receives, so that the next task bringing the same block finds it mapped, its pages faulted in
// (src/mapping_cache.hpp).
//
// Nothing inside a block is a pointer: layouts are fixed structs of integers, lock-free atomics
// and offsets, checked with static_asserts.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <type_traits>

#include <mproc/detail/codec_fwd.hpp>

namespace mproc::os {
struct MappedMemfd;
}

namespace mproc::detail {

// ---------------------------------------------------------------------------------------------
// Deadlines. Every timed wait in mproc takes an absolute steady-clock deadline; none means forever.

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// The deadline `timeout` from now. Negative timeouts mean "do not wait" (as Python treats them);
// timeouts too long to represent mean forever.
template <class Rep, class Period>
Deadline deadline_after(const std::chrono::duration<Rep, Period>& timeout) {
    using Clock = std::chrono::steady_clock;
    const auto now = Clock::now();
    if (timeout <= timeout.zero()) return now;
    const auto limit = std::chrono::duration<double>(Clock::time_point::max() - now);
    if (std::chrono::duration<double>(timeout) >= limit * 0.5) return std::nullopt;
    return now + std::chrono::ceil<Clock::duration>(timeout);
}

template <class Clock, class Duration>
Deadline deadline_at(const std::chrono::time_point<Clock, Duration>& when) {
    if constexpr (std::is_same_v<Clock, std::chrono::steady_clock>)
        return std::chrono::time_point_cast<std::chrono::steady_clock::duration>(when);
    else
        return deadline_after(when - Clock::now());
}

// ---------------------------------------------------------------------------------------------
// Unnamed shared memory.

class SharedBlock {
public:
    SharedBlock() = default;

    // A new zero-filled block of `size` bytes. When `reserve` is larger, that much address space
    // is mapped: the block can later grow (grow_file) up to it without moving.
    static SharedBlock create(const char* debug_name, std::size_t size, std::size_t reserve = 0);
    // Maps the block whose descriptor a transport lends us (we keep a duplicate of it), or, where
    // received blocks are kept mapped (a pool worker), finds it mapped already.
    static SharedBlock attach(int borrowed_fd, std::size_t reserve = 0);

    std::byte* data() const noexcept { return data_; }
    // Bytes mapped: the file size at creation, or the reservation.
    std::size_t mapped_size() const noexcept { return mapped_size_; }
    explicit operator bool() const noexcept { return data_ != nullptr; }
    int fd() const noexcept;
    // The file's size when this handle was made (created, or received and mapped): what the
    // decoders check a received object's layout against, without asking the kernel again (a
    // worker handed the same object task after task would ask for every task).
    std::size_t size_when_mapped() const noexcept { return size_when_mapped_; }
    // Makes the file at least `size` bytes long, allocating its pages (never shrinks it).
    void grow_file(std::size_t offset, std::size_t length) const;
    // Gives pages back to the kernel; they read as zeros afterwards.
    void discard(std::size_t offset, std::size_t length) const noexcept;

    // Codec support: the descriptor travels out of band, the message holds its index and the
    // mapping size. decode checks that the block holds at least `min_file_size` bytes.
    void encode(Writer& out) const;
    static SharedBlock decode(Reader& in, std::size_t min_file_size);

    // Whether two handles refer to the same mapping in this process.
    bool same_mapping(const SharedBlock& other) const noexcept { return data_ == other.data_; }

private:
    std::shared_ptr<os::MappedMemfd> region_;
    std::byte* data_ = nullptr;
    std::size_t mapped_size_ = 0;
    std::size_t size_when_mapped_ = 0;
};

// Every block starts with this, so that a descriptor decoded as the wrong kind of object is
// refused instead of misread.
enum class ObjectKind : std::uint16_t {
    lock = 1,
    semaphore,
    event,
    condition,
    barrier,
    value,
    array,
    queue,
    pipe,
    dict,
};

struct ObjectHeader {
    // "mpr" and a layout version: 2 since locks are mproc's own robust futexes, which a build
    // that locks them as glibc mutexes must not be handed.
    static constexpr std::uint32_t expected_magic = 0x6d707202;
    std::uint32_t magic;
    ObjectKind kind;
    // 1 once the process that created the block has dropped its last handle to it: other
    // processes then stop keeping it mapped for its next arrival (src/mapping_cache.hpp). Only
    // through creator_released and mark_creator_released (atomically).
    std::uint16_t released;
    std::uint32_t element_size;   // Value/Array: sizeof(T)
    std::uint32_t element_align;  // Value/Array: alignof(T)
};
static_assert(std::is_trivially_copyable_v<ObjectHeader> && sizeof(ObjectHeader) == 16,
              "ObjectHeader is a fixed layout at the start of every shared block");

// Whether the creator of the block (which starts with an ObjectHeader) has let go of it, and
// marking that it has. Other processes may still use the block.
bool creator_released(const std::byte* block) noexcept;
void mark_creator_released(std::byte* block) noexcept;

// Writes the header of a new block.
void init_header(std::byte* block, ObjectKind kind, std::uint32_t element_size = 0,
                 std::uint32_t element_align = 0) noexcept;
// Checks a decoded block's header; throws SerializationError naming `what` when it is not one.
void check_header(const SharedBlock& block, ObjectKind kind, const char* what,
                  std::uint32_t element_size = 0, std::uint32_t element_align = 0);

// ---------------------------------------------------------------------------------------------
// A robust, process-shared, error-checking mutex. `native` holds a futex word that follows the
// kernel's robust-futex protocol, laid out as glibc's pthread_mutex_t (src/os/robust_mutex.hpp);
// the library checks at compile time that it fits.

struct alignas(8) MutexState {
    std::byte native[40];
    // RLock: how many times the owner holds it. Only the owner touches it; a Lock does not.
    std::uint32_t recursion;
    std::uint32_t recursive;  // 1 for an RLock
};
static_assert(std::is_trivially_copyable_v<MutexState> && sizeof(MutexState) == 48,
              "MutexState is a fixed layout in shared memory");

void mutex_init(MutexState& mutex, bool recursive);
// Blocks until acquired, or until the deadline (returns false). When the previous holder died
// holding it, the mutex is made consistent, this thread holds it, and OwnerDied is thrown.
// Locking a non-recursive mutex this thread already holds throws StateError (it would never
// return); with a deadline it returns false, as Python does once its timeout passes.
bool mutex_lock(MutexState& mutex, const Deadline& deadline = std::nullopt);
// Never blocks; false when another thread holds it. OwnerDied as mutex_lock.
bool mutex_try_lock(MutexState& mutex);
// StateError when this thread does not hold it.
void mutex_unlock(MutexState& mutex);
bool mutex_held_by_this_thread(const MutexState& mutex) noexcept;
// Condition support: releases every level this thread holds and returns how many; reacquires.
std::uint32_t mutex_unlock_all(MutexState& mutex);
void mutex_relock(MutexState& mutex, std::uint32_t levels);

// Futex words used by the shared objects: 32-bit lock-free atomics.
using FutexWord = std::atomic<std::uint32_t>;
static_assert(FutexWord::is_always_lock_free && sizeof(FutexWord) == 4,
              "futex words must be lock-free 32-bit atomics");
static_assert(std::atomic<std::uint64_t>::is_always_lock_free,
              "shared counters must be lock-free 64-bit atomics");

}  // namespace mproc::detail
