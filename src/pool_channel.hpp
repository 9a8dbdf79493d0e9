// What a pool's parent and one of its workers share: two message rings (tasks in, replies out)
// and a status block the worker updates so that the parent can blame a crash or a timeout on
// the right task and item. All of it lives in one memfd region.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "transport/ring.hpp"

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
    std::atomic<std::int64_t> average_task_ns{0};  // moving average of the tasks run; 0 before the first
};

// Shared by the parent and all workers of one pool.
struct alignas(64) PoolSignals {
    // Set while the parent's pool thread sleeps; a worker that publishes a reply then wakes it,
    // unless a parent thread waiting for a result is receiving replies itself (`helpers`), or a
    // parent thread taking a stream of results receives them until `stream_lease_ns` (steady
    // clock), when the pool thread wakes by itself.
    std::atomic<std::uint32_t> parent_sleeping{0};
    std::atomic<std::uint32_t> helpers{0};
    std::atomic<std::int64_t> stream_lease_ns{0};
    // Bumped by every reply published: what helpers watch.
    std::atomic<std::uint32_t> replies{0};
    // Whether workers spin while they wait for a task (see run_worker); set before they start.
    std::atomic<std::uint32_t> workers_spin{0};
};

inline std::int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Channel {
    static constexpr std::size_t ring_capacity = 1 << 20;
    static constexpr std::size_t status_size = 4096;

    static std::size_t region_size(std::size_t max_message_size) {
        return status_size + 2 * transport::Ring::region_size(ring_capacity, max_message_size);
    }

    // Lays a channel out in a new, zero-filled region, or attaches to one laid out by the parent.
    using Setup = transport::Ring::Setup;
    Channel(std::byte* region, std::size_t max_message_size, Setup setup = Setup::create)
        : status(setup == Setup::create ? new (region) WorkerStatus : reinterpret_cast<WorkerStatus*>(region)),
          tasks(region + status_size, ring_capacity, max_message_size, setup),
          replies(region + status_size + transport::Ring::region_size(ring_capacity, max_message_size), ring_capacity,
                  max_message_size, setup) {}

    WorkerStatus* status;
    transport::Ring tasks;
    transport::Ring replies;
};

}  // namespace mproc::pool
