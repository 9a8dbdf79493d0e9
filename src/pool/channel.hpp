// What a pool's parent and one of its workers share: two message rings (tasks in, replies out)
// and a status block the worker updates so that the parent can blame a crash or a timeout on
// the right task and item. All of it lives in one memfd region, with the rings' spill files.
//
// Whatever a worker can write, a task running in it can scribble over. The parent never lets such
// memory decide whether it sleeps: the flags it sleeps by (PoolSignals) are writable by the parent
// alone and mapped read-only in workers. Worker-writable words (its WorkerStatus, the pool-wide
// ReplyCount) are checked, or only hints whose corruption can delay that worker's own replies.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "transport/spsc_ring.hpp"

namespace mproc::pool {

// Record types on the task ring. A timed task has a per-item timeout: its worker records when
// each item starts (a clock read per item, which untimed tasks are spared).
enum ToWorker : std::uint16_t { task_message = 1, exit_message = 2, timed_task_message = 3 };
// Record types on the reply ring. `ready` carries the initializer's reply (a value or exception).
enum ToParent : std::uint16_t { reply_message = 1, ready_message = 2 };

struct alignas(64) WorkerStatus {
    std::atomic<std::uint64_t> current_task{0};  // tag of the task being run; 0 between tasks
    std::atomic<std::uint64_t> current_item{0};  // index of the running item within its chunk
    std::atomic<std::int64_t> item_started_ns{0};  // steady clock, shared by all processes
    // The PoolSignals::sleep_generation this worker last woke the parent for: one wake-up per
    // sleep and worker.
    std::atomic<std::uint32_t> woke_generation{0};
    // Moving average of the tasks run; 0 before the first. Read by the parent for every job it
    // hands out and written once per run of tasks: on a line of its own, away from the words
    // above, which the worker writes at every task.
    alignas(64) std::atomic<std::int64_t> average_task_ns{0};
};

// Shared by the parent and all workers of one pool; written by the parent only (see the top).
struct alignas(64) PoolSignals {
    // Odd while the parent's pool thread sleeps, bumped when it starts and stops sleeping. A
    // worker that publishes a reply then wakes it, unless a parent thread waiting for a result is
    // receiving replies itself (`helpers`), or a parent thread taking a stream of results receives
    // them until `stream_lease_ns` (steady clock), when the pool thread wakes by itself.
    std::atomic<std::uint32_t> sleep_generation{0};
    std::atomic<std::uint32_t> helpers{0};
    std::atomic<std::int64_t> stream_lease_ns{0};
    // Whether workers spin while they wait for a task (see run_worker); set before they start.
    std::atomic<std::uint32_t> workers_spin{0};

    bool parent_sleeping() const noexcept { return sleep_generation.load(std::memory_order_relaxed) % 2 == 1; }
};

// Bumped by every reply published, in memory every worker of the pool writes: what parent threads
// waiting for a result watch, as a hint that it is worth looking at the reply rings.
struct alignas(64) ReplyCount {
    std::atomic<std::uint32_t> replies{0};
};

inline std::int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Channel {
    static constexpr std::size_t ring_capacity = 1 << 20;
    static constexpr std::size_t status_size = 4096;
    // The shared region: the status block and both rings. Each ring's spill area is a file of its
    // own (os::create_growing_file), mapped only as far as messages have needed.
    static std::size_t region_size() { return status_size + 2 * transport::Ring::region_size(ring_capacity); }

    // Lays a channel out in a new, zero-filled region, or attaches to one laid out by the parent.
    using Setup = transport::Ring::Setup;
    Channel(std::byte* region, int task_spill, int reply_spill, std::size_t max_message_size, Setup setup = Setup::create)
        : status(setup == Setup::create ? new (region) WorkerStatus : reinterpret_cast<WorkerStatus*>(region)),
          tasks(region + status_size, ring_capacity, task_spill, max_message_size, setup),
          replies(region + status_size + transport::Ring::region_size(ring_capacity), ring_capacity, reply_spill,
                  max_message_size, setup) {}

    WorkerStatus* status;
    transport::Ring tasks;
    transport::Ring replies;
};

}  // namespace mproc::pool
