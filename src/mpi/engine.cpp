// The engine under mproc::mpi::Pool, on rank 0: a pool::Scheduler (src/pool/scheduler.hpp) whose
// workers are MPI ranks.
//
// User threads queue jobs; the scheduler's engine thread makes every MPI call: it sends jobs to the
// worker ranks with room, receives their replies and delivers them (results and callbacks run on
// it, as on the local pool's thread). A rank is given a few jobs ahead, more when its jobs are
// short, so that it never waits a round trip for work, while the rest stay queued here for
// whichever rank frees up first: uneven tasks balance.
//
// A pool's life on the worker ranks: start (they run the initializer or start their local pools
// and answer ready), tasks, then end, answered by ended once every task has been answered. Replies
// of tasks abandoned by terminate() arrive before ended and are dropped.

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>

#include <mproc/detail/pool_core.hpp>
#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>
#include <mproc/mpi.hpp>
#include <mproc/process.hpp>

#include "pool/scheduler.hpp"
#include "runtime.hpp"

namespace mproc::mpi {
namespace detail {
namespace {

using mproc::detail::Job;
using mproc::detail::PoolCore;
using Clock = std::chrono::steady_clock;

// What a rank's jobs ahead must cover (pool::jobs_ahead): a round trip to the rank, longer than
// the local pool's wake-up.
constexpr std::chrono::microseconds refill_time{300};

struct InFlight {
    std::uint64_t id;
    std::unique_ptr<Job> job;
    Clock::time_point dispatched;
};

struct WorkerRankState {
    int rank = 0;
    int pid = 0;
    std::deque<InFlight> in_flight;  // in dispatch order; with local processes, replies may overtake
    double average_job_ns = 1e9;
    Clock::time_point last_reply{};
};

template <class T>
void append(std::vector<std::byte>& bytes, const T& value) {
    const std::size_t at = bytes.size();
    bytes.resize(at + sizeof value);
    std::memcpy(bytes.data() + at, &value, sizeof value);
}

class Engine final : public pool::Scheduler {
public:
    // (Sized once: std::deque's move constructor may throw, so a growing vector would copy the
    // states, and they hold move-only jobs.)
    Engine(const PoolOptions& options, int ranks) : options_(options), ranks_(static_cast<std::size_t>(ranks)) {
        for (std::size_t i = 0; i < ranks_.size(); ++i) ranks_[i].rank = static_cast<int>(i) + 1;
    }

    ~Engine() override { shut_down(); }

    // Starts the pool on every worker rank and waits until each is ready; rethrows the first
    // initializer error (after ending the pool there).
    void launch() {
        std::vector<std::byte> start;
        append(start, StartHeader{options_.local_processes, options_.max_message_size});
        start.insert(start.end(), options_.initializer.packed().begin(), options_.initializer.packed().end());
        for (const auto& worker : ranks_) send(worker.rank, start_tag, start);

        std::exception_ptr init_error;
        std::size_t ready = 0;
        Backoff backoff;
        while (ready < ranks_.size()) {
            auto message = poll();
            if (!message) {
                backoff.pause();
                continue;
            }
            backoff.reset();
            if (message->tag != ready_tag) continue;
            ++ready;
            try {
                if (message->bytes.size() < sizeof(ReadyHeader)) throw SerializationError("mproc::mpi: truncated ready message");
                ReadyHeader header;
                std::memcpy(&header, message->bytes.data(), sizeof header);
                Reader in(std::span<const std::byte>(message->bytes).subspan(sizeof header));
                auto& worker = ranks_.at(static_cast<std::size_t>(message->source - 1));
                worker.pid = header.pid;
                mproc::detail::unpack_reply<void>(in);
            } catch (...) {
                if (!init_error) init_error = std::current_exception();
            }
        }
        if (init_error) {
            end_on_ranks();
            std::rethrow_exception(init_error);
        }
        try {
            std::lock_guard lock(mutex_);
            start_engine_thread("the MPI pool's thread", [this] {
                backoff_.reset();
                run_rounds();
                end_on_ranks();
            });
        } catch (...) {
            end_on_ranks();
            throw;
        }
    }

    int processes() const override {
        return static_cast<int>(ranks_.size()) * std::max(1, options_.local_processes);
    }
    std::vector<int> worker_pids() const override {
        std::lock_guard lock(mutex_);
        std::vector<int> pids;
        for (const auto& worker : ranks_) pids.push_back(worker.pid);
        return pids;
    }

private:
    // --- The scheduler's hooks (src/pool/scheduler.hpp) ---

    // The engine thread dispatches: it alone makes MPI calls.
    bool jobs_queued(bool) override { return true; }

    // Abandoned: their replies, if any come, are dropped.
    void terminating() override {
        for (auto& worker : ranks_)
            for (auto& entry : worker.in_flight) fail_later(std::move(entry.job), terminated_error());
    }

    void wake() override {
        {
            std::lock_guard lock(mutex_);
            poked_ = true;
        }
        changed_.notify_all();
    }

    bool workers_done() const override { return state() == State::terminated || (out_of_work() && !in_flight()); }

    void engine_thread_joined() override { release_pool_slot(); }

    std::size_t capacity(const WorkerRankState& worker) const {
        const std::size_t ahead =
            pool::jobs_ahead(std::chrono::duration<double, std::nano>(worker.average_job_ns), refill_time);
        return ahead * static_cast<std::size_t>(std::max(1, options_.local_processes));
    }

    // Sends queued jobs to the ranks with room, the least busy first. Jobs that cannot go fail
    // (Scheduler::fail_later). Runs on the engine thread, under the mutex.
    void dispatch() {
        while (has_queued_jobs()) {
            WorkerRankState* chosen = nullptr;
            for (auto& worker : ranks_)
                if (worker.in_flight.size() < capacity(worker) &&
                    (!chosen || worker.in_flight.size() < chosen->in_flight.size()))
                    chosen = &worker;
            if (!chosen) return;
            auto job = next_queued_job();
            try {
                if (job->timeout() && options_.local_processes == 0)
                    throw Error("mproc::mpi::Pool: per-task timeouts need PoolOptions::local_processes > 0 (a rank "
                                "cannot stop a task that runs in its own process)");
                const std::uint64_t id = next_id_++;
                std::vector<std::byte> message;
                append(message, TaskHeader{id, job->timeout() ? job->timeout()->count() : -1,
                                           static_cast<std::int64_t>(job->first_index)});
                Writer out(message);
                job->encode(out);
                if (!out.fds().empty())
                    throw SerializationError(
                        "mproc::mpi::Pool: the task's arguments hold a shared object (Value, Array, Lock, Queue, "
                        "...); shared objects live in one machine's memory and only work with the local mproc::Pool");
                if (message.size() > max_mpi_message)
                    throw SerializationError("mproc::mpi::Pool: the task is larger than an MPI message can be (2 GiB)");
                sends_.emplace_back(chosen->rank, task_tag, std::move(message));
                chosen->in_flight.push_back({id, std::move(job), Clock::now()});
            } catch (...) {
                fail_later(std::move(job), std::current_exception());
            }
        }
    }

    bool in_flight() const {
        return std::any_of(ranks_.begin(), ranks_.end(), [](const auto& worker) { return !worker.in_flight.empty(); });
    }

    // Takes one reply off its rank's list and delivers it. Runs on the engine thread, without the
    // mutex.
    void receive(Message& message) {
        if (message.tag != reply_tag || message.bytes.size() < sizeof(ReplyHeader)) return;
        ReplyHeader header;
        std::memcpy(&header, message.bytes.data(), sizeof header);
        std::unique_ptr<Job> job;
        {
            std::lock_guard lock(mutex_);
            if (message.source < 1 || static_cast<std::size_t>(message.source) > ranks_.size()) return;
            auto& worker = ranks_[static_cast<std::size_t>(message.source - 1)];
            const auto found = std::find_if(worker.in_flight.begin(), worker.in_flight.end(),
                                            [&](const InFlight& entry) { return entry.id == header.id; });
            if (found == worker.in_flight.end()) return;  // abandoned by terminate()
            job = std::move(found->job);
            const auto now = Clock::now();
            const auto began = std::max(found->dispatched, worker.last_reply);
            const double took = std::chrono::duration<double, std::nano>(now - began).count();
            worker.average_job_ns =
                worker.last_reply == Clock::time_point{} ? took : 0.8 * worker.average_job_ns + 0.2 * took;
            worker.last_reply = now;
            worker.in_flight.erase(found);
        }
        if (!job) return;  // failed by terminate() already
        Reader in(std::span<const std::byte>(message.bytes).subspan(sizeof header));
        try {
            job->deliver(in);
        } catch (...) {
            job->fail(std::current_exception());
        }
    }

    bool serve(std::unique_lock<std::mutex>& lock) override {
        poked_ = false;
        dispatch();
        bool progressed = report(lock);
        const bool cancel = state() == State::terminated && !cancel_sent_ && options_.local_processes > 0;
        lock.unlock();
        if (cancel) {
            // Ranks with local processes can stop their running tasks: the ones abandoned.
            for (const auto& worker : ranks_) send(worker.rank, cancel_tag, {});
            cancel_sent_ = true;
        }
        while (auto message = poll()) {
            receive(*message);
            progressed = true;
        }
        std::erase_if(sends_, [](PendingSend& send) { return send.completed(); });
        lock.lock();
        if (progressed) backoff_.reset();
        return progressed;
    }

    void wait_for_work(std::unique_lock<std::mutex>& lock) override {
        if (poked_) {
            backoff_.reset();
            return;
        }
        const auto wait = backoff_.next();
        if (wait.count() == 0) {
            lock.unlock();
            std::this_thread::yield();
            lock.lock();
        } else if (!in_flight() && sends_.empty()) {
            // Nothing can arrive: sleep until a user thread has something for us.
            changed_.wait(lock, [&] { return poked_; });
        } else {
            changed_.wait_for(lock, wait, [&] { return poked_; });
        }
    }

    // Ends the pool on every rank: once each has answered ended, none of its messages is left.
    void end_on_ranks() {
        for (const auto& worker : ranks_) send(worker.rank, end_tag, {});
        std::size_t ended = 0;
        Backoff backoff;
        while (ended < ranks_.size()) {
            auto message = poll();
            if (!message) {
                std::erase_if(sends_, [](PendingSend& send) { return send.completed(); });
                backoff.pause();
                continue;
            }
            backoff.reset();
            if (message->tag == ended_tag) ++ended;
        }
        sends_.clear();
    }

    const PoolOptions options_;
    std::vector<WorkerRankState> ranks_;

    std::condition_variable changed_;
    bool poked_ = false;  // wake() was called since the round began
    std::uint64_t next_id_ = 1;

    // Engine thread only.
    std::list<PendingSend> sends_;
    Backoff backoff_;
    bool cancel_sent_ = false;
};

std::mutex active_mutex;
std::weak_ptr<Engine> active_engine;

std::shared_ptr<PoolCore> start_engine(const PoolOptions& options, int ranks) {
    if (options.local_processes < 0) throw std::invalid_argument("mproc::mpi::Pool: local_processes must be at least 0");
    if (const auto problem = thread_support_problem(); !problem.empty()) throw Error(problem);
    if (options.initializer.fds() && !options.initializer.fds()->empty())
        throw SerializationError(
            "mproc::mpi::Pool: the initializer's arguments hold a shared object; shared objects only work with the "
            "local mproc::Pool");
    claim_pool_slot();
    try {
        auto engine = std::make_shared<Engine>(options, ranks);
        engine->launch();
        std::lock_guard lock(active_mutex);
        active_engine = engine;
        return engine;
    } catch (...) {
        release_pool_slot();
        throw;
    }
}

std::shared_ptr<PoolCore> start_local(const PoolOptions& options) {
    mproc::detail::PoolConfig config;
    config.processes = options.local_processes > 0 ? options.local_processes : cpu_count();
    config.start_method = get_start_method();
    config.max_message_size = options.max_message_size;
    config.initializer = options.initializer.packed();
    config.initializer_fds = options.initializer.fds();
    return PoolCore::start(config);
}

int serving_ranks() { return started() && world_size() > 1 ? world_size() - 1 : 0; }

std::shared_ptr<PoolCore> start_pool(const PoolOptions& options) {
    // On a worker rank this does not return: it serves (programs that skip mproc::init).
    ensure_started();
    if (rank() != 0)  // a task running on a worker rank (or one of its local workers)
        throw StateError("mproc::mpi::Pool: only rank 0 can create one; a task cannot");
    if (serving_ranks() == 0) return start_local(options);
    return start_engine(options, serving_ranks());
}

}  // namespace

void finish_active_pool() noexcept {
    std::shared_ptr<Engine> engine;
    {
        std::lock_guard lock(active_mutex);
        engine = active_engine.lock();
    }
    if (!engine) return;
    try {
        engine->terminate();
        engine->join();
    } catch (...) {
        // Called at exit: nothing may escape.
    }
}

}  // namespace detail

Pool::Pool(const PoolOptions& options) : mproc::Pool(detail::start_pool(options)), ranks_(detail::serving_ranks()) {}

}  // namespace mproc::mpi
