// mproc/detail/pool_core.hpp: the type-erased engine under mproc::Pool. The public templates turn
// calls into Jobs; an engine runs them on workers: src/pool/local_engine.cpp on processes of this
// machine, src/pool/thread_engine.cpp on threads of this process (mproc::ThreadPool),
// src/mpi/engine.cpp on MPI ranks, all built on src/pool/scheduler.hpp.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <mproc/async_result.hpp>
#include <mproc/errors.hpp>
#include <mproc/detail/progress.hpp>
#include <mproc/serialize.hpp>
#include <mproc/start_method.hpp>

namespace mproc::detail {

// One message to a worker (a chunk of items) and what to do with its reply.
class Job {
public:
    virtual ~Job() = default;
    // Writes the message. May be called again if the job has to be sent to another worker.
    virtual void encode(Writer& out) = 0;
    // Receives the reply; runs on the pool's thread.
    virtual void deliver(Reader& reply) = 0;
    // The job failed as a whole (worker crashed, timeout, pool terminated, message too large).
    virtual void fail(std::exception_ptr error) = 0;

    // Limit on the run time of each item, counted from the moment a worker starts the job.
    [[nodiscard]] std::optional<std::chrono::nanoseconds> timeout() const noexcept {
        if (timeout_ns_ < 0) return std::nullopt;
        return std::chrono::nanoseconds(timeout_ns_);
    }
    void set_timeout(std::optional<std::chrono::nanoseconds> timeout) noexcept {
        timeout_ns_ = timeout ? std::max<std::int64_t>(timeout->count(), 0) : -1;
    }
    // Position of the job's first item in its map/imap input; -1 if it is not part of one.
    long first_index = -1;
    // Whether deliver() or fail() may run user callbacks, which run on the pool's thread only.
    bool runs_callbacks = false;
    // Shared with the call's result, for its cancel(), or with an executor's map; null for an
    // imap's jobs. It lives as long as the job does: in the result state or the sink that the
    // job holds.
    TaskControl* control = nullptr;

protected:
    // Whether the call was cancelled: the job then fails with CancelledError, whatever it delivers.
    bool cancelled() const noexcept { return control && control->cancelled(); }

private:
    // -1: none. A count rather than a std::optional, which would take 8 bytes more in each of
    // what may be a million pending jobs.
    std::int64_t timeout_ns_ = -1;
};

inline std::exception_ptr cancelled_error() {
    return std::make_exception_ptr(CancelledError("mproc: the task was cancelled"));
}

struct PoolConfig {
    int processes = 1;
    StartMethod start_method = StartMethod::fork;
    std::optional<long> maxtasksperchild;
    std::size_t max_message_size = 0;
    // A packed call (see task.hpp) run by every worker before its first task; empty for none.
    std::vector<std::byte> initializer;
    // Descriptors the initializer's arguments refer to; workers inherit them.
    std::shared_ptr<const std::vector<int>> initializer_fds;
};

class PoolCore : public ResultSource {
public:
    // Starts the workers and waits until each has run the initializer. If an initializer throws,
    // the workers are stopped and its exception is rethrown here.
    static std::shared_ptr<PoolCore> start(const PoolConfig& config);
    // The same with worker threads of this process (mproc::ThreadPool): config.start_method and
    // config.maxtasksperchild do not apply to threads and are ignored.
    static std::shared_ptr<PoolCore> start_threads(const PoolConfig& config);
    virtual ~PoolCore() = default;

    // New work, or more jobs of an imap that was started before close(), which still runs.
    enum class Submission { new_work, continuation };
    // Takes the jobs and queues them, in order. Throws PoolTerminated after terminate() and, for
    // new work, PoolClosed after close(); it then leaves the jobs in `jobs`.
    virtual void submit(std::vector<std::unique_ptr<Job>>& jobs, Submission kind = Submission::new_work) = 0;
    // One job; for an apply.
    virtual void submit(std::unique_ptr<Job> job) = 0;
    // An imap iteration that may submit more jobs: while one is open, a closed pool keeps its
    // workers (join() waits for it to be exhausted or destroyed).
    virtual void open_stream() = 0;
    virtual void close_stream() = 0;
    // For the destructor of a Pool whose imap iterations outlive it: a closed pool stops waiting
    // for them, and their later submissions fail with PoolClosed (what they already submitted
    // still runs). join() would otherwise wait for an iteration that the joining thread owns.
    virtual void abandon_streams() = 0;
    // Runs `work` on the pool's thread, where results and callbacks are delivered.
    virtual void post(std::function<void()> work) = 0;
    virtual void close() = 0;
    virtual void terminate() = 0;
    // Cancels every queued call of one job that no worker has taken yet (an executor's
    // shutdown(cancel_futures)); with `of`, the queued jobs of that call only, however many it
    // has (an executor's map dropped before its end). Returns how many jobs.
    virtual std::size_t cancel_queued(const TaskControl* of = nullptr) = 0;
    // Waits until every submitted job has finished and the workers have exited. Requires close()
    // or terminate() first (StateError otherwise).
    virtual void join() = 0;

    // By default, a waiting thread just waits.
    bool help_until(const std::function<bool()>&) override { return false; }
    void sleep_ended() override {}
    void receive_stream() override {}

    virtual int processes() const = 0;
    virtual std::vector<int> worker_pids() const = 0;
    virtual bool is_terminated() const = 0;
};

}  // namespace mproc::detail
