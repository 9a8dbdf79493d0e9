// pool::Scheduler: what the engines under a pool share. The local engine (local_engine.cpp)
// runs jobs on worker processes of this machine, the thread engine (thread_engine.cpp) on threads
// of this process, the MPI engine (mpi/engine.cpp) on worker ranks; each is a Scheduler plus a
// way to reach its workers.
//
// The scheduler holds the pool's state (running, closed, terminated), the queue of jobs no worker
// has yet, the imap iterations that may still submit more, and the outcomes waiting to be reported;
// it implements submit, close, terminate and join over them and runs the engine thread's loop. An
// engine supplies the rest through the hooks below: how queued jobs reach its workers, how replies
// and crashes come back, how its thread sleeps and is woken.
//
// Threads: user threads call the PoolCore interface; one engine thread per pool runs rounds until
// the pool is closed or terminated and nothing is left to do. `mutex_` guards the scheduler's state
// and the engine's alike. Failures and posted work are reported on the engine thread, without the
// mutex, since they run user callbacks (which may call into the pool again).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <mproc/detail/pool_core.hpp>

namespace mproc::pool {

using detail::Job;

// How many jobs a worker is given ahead. Long jobs: two (one running, one waiting, so that it
// never idles for a round trip), keeping the rest queued for whichever worker frees up first.
// Short jobs: enough to cover `refill_time`, what its engine takes to notice that the worker runs
// low and send it more. `average_job` is what the engine assumes until its first job finishes.
inline constexpr std::size_t min_jobs_ahead = 2;
inline constexpr std::size_t max_jobs_ahead = 64;
inline std::size_t jobs_ahead(std::chrono::duration<double, std::nano> average_job,
                              std::chrono::microseconds refill_time) {
    if (average_job.count() <= 0) return min_jobs_ahead;
    const double fit = std::chrono::duration<double, std::nano>(refill_time) / average_job;
    return std::clamp(static_cast<std::size_t>(fit), min_jobs_ahead, max_jobs_ahead);
}

class Scheduler : public detail::PoolCore {
public:
    void submit(std::vector<std::unique_ptr<Job>>& jobs, Submission kind) final;
    void submit(std::unique_ptr<Job> job) final;
    void open_stream() final;
    void close_stream() final;
    void abandon_streams() final;
    void post(std::function<void()> work) final;
    void close() final;
    void terminate() final;
    std::size_t cancel_queued(const detail::TaskControl* of) final;
    bool cancel(detail::TaskControl& control, bool running) final;
    void join() final;
    bool is_terminated() const final;

protected:
    enum class State { running, closed, terminated };

    Scheduler() = default;
    // The engine's destructor calls shut_down() first: the engine thread runs the engine's hooks.
    ~Scheduler() override = default;

    // --- Supplied by the engine. Hooks named "under the mutex" are called with `mutex_` held. ---

    // submit() queued jobs (`timed`: one of them has a timeout). Returns whether the engine thread
    // must be woken. Under the mutex.
    virtual bool jobs_queued(bool timed) = 0;
    // The pool was just closed, or terminated (its queued jobs are failed already). Under the mutex.
    virtual void closing() {}
    virtual void terminating() = 0;
    // Wakes the engine thread for another round. Without the mutex.
    virtual void wake() = 0;
    // One round of the engine thread: receive replies, notice crashed workers, hand queued jobs to
    // workers with room, report(). Under the mutex, which it may release meanwhile. Returns
    // whether anything happened.
    virtual bool serve(std::unique_lock<std::mutex>& lock) = 0;
    // After a round in which nothing happened: waits until another may find something to do.
    // Under the mutex, which it may release meanwhile.
    virtual void wait_for_work(std::unique_lock<std::mutex>& lock) = 0;
    // Once the pool is closed or terminated and every outcome reported: whether the engine's
    // workers are done with it, so that the engine thread may end. Under the mutex.
    [[nodiscard]] virtual bool workers_done() const = 0;
    // cancel(running = true) of a call whose single job a worker has taken: if its reply has not
    // been taken yet, stops the worker running it (or arranges to, once it starts) and returns
    // true; the job then fails with CancelledError whatever it delivers. Under the mutex. By
    // default the engine cannot.
    virtual bool terminate_running(detail::TaskControl&) { return false; }
    // join() has joined the engine thread (once per pool).
    virtual void engine_thread_joined() {}

    // --- For the engine ---

    // Starts the engine thread, which runs `body`; `body` runs the rounds (run_rounds()) with
    // whatever the engine does before and after. Under the mutex.
    void start_engine_thread(const std::string& purpose, std::function<void()> body);
    void run_rounds();
    [[nodiscard]] bool on_engine_thread() const { return std::this_thread::get_id() == engine_thread_id_; }
    // For the engine's destructor: terminates and joins the pool if its engine thread still runs.
    void shut_down();

    // The rest under the mutex.
    [[nodiscard]] State state() const { return state_; }
    [[nodiscard]] bool has_queued_jobs() const { return queued_jobs_ != 0; }
    // Requires has_queued_jobs().
    [[nodiscard]] std::unique_ptr<Job> next_queued_job();
    // Puts jobs back at the front of the queue, in their order: they go out next.
    void requeue(std::vector<std::unique_ptr<Job>>& jobs);
    // Closed, nothing queued, and no imap iteration that may still submit: no more work will come.
    [[nodiscard]] bool out_of_work() const {
        return state_ == State::closed && queued_jobs_ == 0 && open_streams_ == 0;
    }
    // The job failed; the engine thread reports it (report()), as it reports every other outcome:
    // callbacks never run on a submitting thread.
    void fail_later(std::unique_ptr<Job> job, std::exception_ptr error);
    static std::exception_ptr terminated_error();
    // Reports the failures and runs the posted work, without the mutex. Returns whether there was
    // any. Engine thread only.
    bool report(std::unique_lock<std::mutex>& lock);

    mutable std::mutex mutex_;

private:
    struct Failure {
        std::unique_ptr<Job> job;
        std::exception_ptr error;
    };

    [[nodiscard]] bool done() const;
    // Throws PoolTerminated or PoolClosed unless the pool takes new work. Under the mutex.
    void refuse_new_work() const;
    // Fails cancelled jobs: here, or on the engine thread for jobs that run callbacks.
    void fail_cancelled(std::vector<std::unique_ptr<Job>> jobs, std::unique_lock<std::mutex>& lock);
    // The queue. Each job in it has a position that does not change while it waits, so that a
    // call of one job is cancelled without a search: `queued_[position - front_position_]`.
    // Positions count modulo 2^32 (TaskControl keeps them in 32 bits): the difference is right as
    // long as fewer jobs than that are queued.
    // A cancelled job leaves an empty slot behind, dropped when it reaches the front.
    void queue_back(std::unique_ptr<Job> job);
    void queue_front(std::unique_ptr<Job> job);
    [[nodiscard]] std::unique_ptr<Job> unqueue(std::unique_ptr<Job>& slot);
    // Takes every queued job for which `take(job)` is true, in queue order.
    template <class Take>
    std::vector<std::unique_ptr<Job>> unqueue_if(Take take);
    // Once no job is left, the empty slots go too.
    void drop_empty_slots();

    State state_ = State::running;
    std::deque<std::unique_ptr<Job>> queued_;  // jobs, and empty slots of cancelled ones
    std::uint32_t front_position_ = 0;         // the position of queued_.front()
    std::size_t queued_jobs_ = 0;              // jobs in queued_
    int open_streams_ = 0;            // imap iterations still reading their input
    bool streams_abandoned_ = false;  // see abandon_streams()
    std::vector<Failure> failed_;                // to be reported by the engine thread
    std::vector<std::function<void()>> posted_;  // to be run by the engine thread

    std::mutex join_mutex_;
    std::thread engine_thread_;
    std::thread::id engine_thread_id_;
};

}  // namespace mproc::pool
