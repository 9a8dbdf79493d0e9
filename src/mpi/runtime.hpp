// The MPI side of mproc::mpi: starting and finishing MPI, the messages between rank 0 and the
// worker ranks, and the wait used while polling for them.
//
// Every MPI call of a process is made by one thread at a time (MPI_THREAD_SERIALIZED): on rank 0,
// the pool's engine thread while a pool runs and the thread that creates or finishes a pool
// otherwise; on worker ranks, the main thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mproc::mpi::detail {

// Message tags. Rank 0 sends task, start, cancel, end and stop; worker ranks answer reply (one per
// task), ready (one per start) and ended (one per end). A rank handles its messages in the order
// they were sent.
enum Tag : int {
    task_tag = 1,     // TaskHeader, then the packed job
    reply_tag = 2,    // ReplyHeader, then the reply (detail/task.hpp)
    start_tag = 3,    // StartHeader, then the packed initializer (possibly empty)
    ready_tag = 4,    // ReadyHeader, then the initializer's reply
    cancel_tag = 5,   // terminate(): kill the running tasks (ranks with local processes)
    end_tag = 6,      // the pool is finished: answer every task first, then ended
    ended_tag = 7,
    stop_tag = 8,     // rank 0 is exiting: leave the program
};

struct TaskHeader {
    std::uint64_t id;
    std::int64_t timeout_ns;  // < 0: none
    std::int64_t first_index;
};
struct ReplyHeader {
    std::uint64_t id;
};
struct StartHeader {
    std::int32_t local_processes;
    std::uint64_t max_message_size;
};
struct ReadyHeader {
    std::int32_t pid;
};

struct Message {
    int source = 0;
    int tag = 0;
    std::vector<std::byte> bytes;
};

// Initializes MPI if the program was launched as an MPI job and it is not done yet. Returns
// whether MPI is in use. On a worker rank it serves tasks and leaves the program instead.
bool ensure_started();
// Whether MPI is in use (ensure_started returned true).
bool started() noexcept;
// Rank 0 cannot run a pool's engine thread below MPI_THREAD_SERIALIZED; empty if it can.
std::string thread_support_problem();

// The life of a worker rank (worker.cpp): serve pools until rank 0 says stop.
void serve();
// Terminates and joins the pool that is still alive when rank 0 exits, if any (engine.cpp).
void finish_active_pool() noexcept;

// Point-to-point messages on mproc's own communicator (a duplicate of MPI_COMM_WORLD, so that the
// program's own MPI traffic never mixes with mproc's). send blocks until the buffer may be reused;
// isend returns at once and the buffer must live until the returned request completes.
void send(int destination, int tag, std::span<const std::byte> bytes);
// The next message from `source` (any rank if < 0), if one has arrived.
std::optional<Message> poll(int source = -1);
// A message in flight; completed() frees it once MPI is done with the buffer.
class PendingSend {
public:
    PendingSend(int destination, int tag, std::vector<std::byte> bytes);
    PendingSend(PendingSend&& other) noexcept;
    PendingSend& operator=(PendingSend&&) = delete;
    ~PendingSend();
    bool completed();

private:
    std::vector<std::byte> bytes_;
    void* request_ = nullptr;  // MPI_Request, on the heap: mpi.h stays out of this header
};

// Largest message MPI can carry with byte counts (an int).
constexpr std::size_t max_mpi_message = 0x7fffffff;

// The engine of the rank-0 pool that is alive, if any: only one at a time, since worker ranks serve
// one pool. Claimed by the engine's constructor, released when its thread has finished.
void claim_pool_slot();
void release_pool_slot() noexcept;

// Waiting for something that can only be polled: spins (yielding the CPU) for a little while after
// the last event, then sleeps for longer and longer, up to a millisecond. Busy ranks answer within
// microseconds; idle ones cost next to nothing, which matters when ranks share cores.
class Backoff {
public:
    void reset() { idle_since_ = Clock::now(); }
    // How long to wait now: zero while spinning (yield and look again).
    std::chrono::nanoseconds next() const;
    void pause() const;

private:
    using Clock = std::chrono::steady_clock;
    Clock::time_point idle_since_ = Clock::now();
};

std::string hostname();

}  // namespace mproc::mpi::detail
