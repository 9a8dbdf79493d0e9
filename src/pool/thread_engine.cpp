// The engine under mproc::ThreadPool: a Scheduler (scheduler.hpp) whose workers are threads of
// this process.
//
// A worker thread takes the next queued job, encodes it, runs the message with run_packed_call as
// a worker process runs it (worker.cpp), and delivers the reply: the same encoding, decoding and
// exception transport run under ThreadPool as under Pool, so a program behaves the same under
// both. Descriptors of shared objects in a message reach the reading side as a worker process
// would see them: as its own duplicates, closed once the message has been read.
//
// Threads: user threads queue jobs and wake an idle worker thread. Worker threads deliver replies
// themselves, but for jobs whose delivery runs user callbacks: those go to the scheduler's engine
// thread, the pool's own thread, where Pool runs callbacks. The engine thread also watches the
// clock for timed jobs and reports failures. A thread cannot be killed: a job that times out, is
// cancelled while running, or is running when the pool is terminated fails at once, and its
// thread finishes running it in the background, its reply dropped. All state below is guarded by
// the scheduler's `mutex_`; jobs are encoded under it (as the process engine does), and run and
// delivered without it.
#include <mproc/detail/pool_core.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <mproc/detail/item_marker.hpp>
#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>
#include <mproc/log.hpp>

#include "os/threads.hpp"
#include "os/unique_fd.hpp"
#include "os_error.hpp"
#include "pool/channel.hpp"
#include "pool/scheduler.hpp"

namespace mproc::detail {
namespace {

using Clock = std::chrono::steady_clock;

// A message as its reading side holds it: the bytes, and its own duplicates of the descriptors
// that came with them (a worker process receives such duplicates through its socket).
struct ReceivedMessage {
    std::vector<std::byte> bytes;
    std::vector<os::UniqueFd> fds;

    // Takes what `writer` wrote into `bytes`; its descriptors are duplicated, and the writer's
    // own copies closed. Throws SerializationError if a descriptor cannot be duplicated.
    ReceivedMessage(std::vector<std::byte> written, Writer& writer) : bytes(std::move(written)) {
        for (int fd : writer.fds()) fds.emplace_back(duplicate_fd(fd));
        writer.clear_fds();
    }
    std::vector<int> fd_numbers() const {
        std::vector<int> numbers;
        for (const auto& fd : fds) numbers.push_back(fd.get());
        return numbers;
    }
};

struct WorkerThread {
    std::thread thread;
    // The item its job runs now and when that item started, as the chunk marks them
    // (ItemMarker): the engine thread counts per-item timeouts from them.
    std::atomic<std::uint64_t> current_item{0};
    std::atomic<std::int64_t> item_started_ns{0};
    // Under the mutex. The job this thread runs; null when idle, and once the job has failed
    // without it (timeout, terminate, cancel): the thread then drops its reply.
    std::unique_ptr<Job> job;
    // The thread's own: the job's message, and whether the job has a timeout.
    std::optional<ReceivedMessage> task;
    bool timed = false;
};

// A reply for a job that runs callbacks, waiting for the engine thread to deliver it.
struct PendingDelivery {
    std::unique_ptr<Job> job;
    ReceivedMessage reply;
};

class ThreadEngine final : public pool::Scheduler {
public:
    explicit ThreadEngine(const PoolConfig& config) : config_(config) {}

    ~ThreadEngine() override { shut_down(); }

    // Starts the engine thread and the worker threads, and waits until each worker has run the
    // initializer. Rethrows the first initializer error, once the pool is terminated and joined.
    void launch() {
        std::unique_lock lock(mutex_);
        std::exception_ptr error;
        try {
            start_engine_thread("the thread pool's thread", [this] {
                os::InternalThread mark;
                run_rounds();
                join_workers();
            });
            for (int i = 0; i < config_.processes; ++i) {
                auto worker = std::make_unique<WorkerThread>();
                WorkerThread* self = worker.get();
                workers_.push_back(std::move(worker));
                ++live_workers_;
                try {
                    self->thread = start_thread("a thread pool worker", [this, self, number = i + 1] {
                        // As Python names a pool's worker processes: "ForkPoolWorker-3".
                        os::name_this_thread("PoolThread-" + std::to_string(number));
                        serve_jobs(*self);
                    });
                } catch (...) {
                    --live_workers_;
                    throw;
                }
            }
            ready_changed_.wait(lock, [&] { return init_error_ || ready_workers_ == config_.processes; });
            error = init_error_;
        } catch (...) {
            error = std::current_exception();
        }
        if (!error) return;
        lock.unlock();
        terminate();
        join();
        std::rethrow_exception(error);
    }

    int processes() const override { return config_.processes; }
    std::vector<int> worker_pids() const override { return {}; }

private:
    // --- The scheduler's hooks (scheduler.hpp) ---

    // An idle worker thread takes the first job; one that takes a job and sees more wakes
    // another. The engine thread learns of a timed job when a worker starts it.
    bool jobs_queued(bool) override {
        work_available_.notify_one();
        return false;
    }

    void closing() override { log_parts(LogLevel::info, "thread pool closing"); }

    // Running jobs fail now; their threads finish them, their replies dropped.
    void terminating() override {
        std::size_t abandoned = 0;
        for (auto& worker : workers_) {
            if (!worker->job) continue;
            fail_later(std::move(worker->job), terminated_error());
            ++abandoned;
        }
        for (auto& delivery : deliveries_) fail_later(std::move(delivery.job), terminated_error());
        deliveries_.clear();
        log_parts(LogLevel::info, "thread pool terminating: ", abandoned,
                  " running tasks failed; their threads finish them in the background");
    }

    void wake() override {
        {
            std::lock_guard lock(mutex_);
            poke_engine();
        }
        work_available_.notify_all();
    }

    bool workers_done() const override { return live_workers_ == 0 && deliveries_.empty(); }

    bool terminate_running(TaskControl& control) override {
        for (auto& worker : workers_)
            if (worker->job && worker->job->control == &control) {
                fail_later(std::move(worker->job), cancelled_error());
                log_parts(LogLevel::info, "task cancelled while running; its thread finishes it in the background");
                return true;
            }
        // Its reply is in but not delivered: the delivery sees the call cancelled.
        return std::any_of(deliveries_.begin(), deliveries_.end(),
                           [&](const PendingDelivery& delivery) { return delivery.job->control == &control; });
    }

    // --- The engine thread ---

    bool serve(std::unique_lock<std::mutex>& lock) override {
        engine_poked_ = false;
        bool progressed = false;
        while (!deliveries_.empty()) {
            auto delivery = std::move(deliveries_.front());
            deliveries_.pop_front();
            lock.unlock();
            deliver(std::move(delivery.job), delivery.reply);
            lock.lock();
            progressed = true;
        }
        next_deadline_ = enforce_timeouts();
        progressed |= report(lock);
        return progressed;
    }

    void wait_for_work(std::unique_lock<std::mutex>& lock) override {
        if (next_deadline_)
            engine_changed_.wait_until(lock, *next_deadline_, [&] { return engine_poked_; });
        else
            engine_changed_.wait(lock, [&] { return engine_poked_; });
    }

    // Fails the jobs whose running item is past its timeout. Returns when to look again.
    std::optional<Clock::time_point> enforce_timeouts() {
        std::optional<Clock::time_point> next;
        const auto now = Clock::now();
        for (auto& worker : workers_) {
            if (!worker->job || !worker->job->timeout()) continue;
            const Clock::time_point started{std::chrono::nanoseconds(worker->item_started_ns.load(std::memory_order_acquire))};
            const auto deadline = started + std::chrono::duration_cast<Clock::duration>(*worker->job->timeout());
            if (deadline > now) {
                if (!next || deadline < *next) next = deadline;
                continue;
            }
            const auto item = static_cast<long>(worker->current_item.load(std::memory_order_acquire));
            std::string what = "mproc: task";
            if (worker->job->first_index >= 0) what += ' ' + std::to_string(worker->job->first_index + item);
            what += " exceeded its timeout; its thread cannot be stopped and finishes it in the background";
            log_parts(LogLevel::warning, "task timed out; its thread finishes it in the background");
            fail_later(std::move(worker->job), std::make_exception_ptr(TimeoutError(what)));
        }
        return next;
    }

    void join_workers() {
        for (auto& worker : workers_)
            if (worker->thread.joinable()) worker->thread.join();
    }

    // Under the mutex.
    void poke_engine() {
        engine_poked_ = true;
        engine_changed_.notify_one();
    }

    // --- A worker thread ---

    void serve_jobs(WorkerThread& self) {
        const bool initialized = run_initializer();
        std::unique_lock lock(mutex_);
        if (initialized) {
            ++ready_workers_;
            ready_changed_.notify_all();
            while (take_job(self, lock)) {
                lock.unlock();
                run_job(self);
                lock.lock();
            }
        }
        --live_workers_;
        poke_engine();
    }

    // Runs the initializer on this thread; false (the error kept for launch()) if it threw.
    bool run_initializer() {
        if (config_.initializer.empty()) return true;
        std::vector<std::byte> reply;
        Writer out(reply);
        std::span<const int> fds;
        if (config_.initializer_fds) fds = *config_.initializer_fds;
        Reader in(config_.initializer, fds);
        run_packed_call(in, out);
        Reader result(reply);
        try {
            unpack_reply<void>(result);
            return true;
        } catch (...) {
            std::lock_guard lock(mutex_);
            if (!init_error_) init_error_ = std::current_exception();
            ready_changed_.notify_all();
            return false;
        }
    }

    // Waits for a job and makes it this thread's, encoded into self.task. Returns false when the
    // thread is to end: the pool was terminated, or is closed with no more work to come.
    bool take_job(WorkerThread& self, std::unique_lock<std::mutex>& lock) {
        for (;;) {
            work_available_.wait(lock, [&] {
                return has_queued_jobs() || state() == State::terminated || out_of_work();
            });
            if (state() == State::terminated || !has_queued_jobs()) return false;
            auto job = next_queued_job();
            if (has_queued_jobs()) work_available_.notify_one();
            std::vector<std::byte> bytes;
            Writer out(bytes);
            try {
                job->encode(out);
                if (bytes.size() > config_.max_message_size) throw too_large("task");
                self.task.emplace(std::move(bytes), out);
            } catch (...) {
                fail_later(std::move(job), std::current_exception());
                poke_engine();
                continue;
            }
            self.timed = job->timeout().has_value();
            self.current_item.store(0, std::memory_order_relaxed);
            self.item_started_ns.store(pool::steady_now_ns(), std::memory_order_release);
            if (self.timed) poke_engine();  // to watch its clock
            self.job = std::move(job);
            return true;
        }
    }

    // Runs this thread's job and delivers its reply, or hands it to the engine thread; drops it
    // if the job failed meanwhile.
    void run_job(WorkerThread& self) {
        std::optional<ReceivedMessage> reply;
        {
            const ReceivedMessage task = std::move(*self.task);
            self.task.reset();
            const std::vector<int> task_fds = task.fd_numbers();
            Reader in(task.bytes, task_fds);
            std::vector<std::byte> bytes;
            Writer out(bytes);
            ItemMarker::set_current(&self.current_item, self.timed ? &self.item_started_ns : nullptr);
            run_packed_call(in, out);
            ItemMarker::set_current(nullptr, nullptr);
            reply.emplace(received_reply(std::move(bytes), out));
        }  // the task's descriptors are closed here, as a worker process closes them
        std::unique_ptr<Job> job;
        {
            std::lock_guard lock(mutex_);
            job = std::move(self.job);
            if (!job) return;  // failed already: timed out, cancelled or terminated
            if (job->runs_callbacks) {
                deliveries_.push_back({std::move(job), std::move(*reply)});
                poke_engine();
                return;
            }
        }
        deliver(std::move(job), *reply);
    }

    // The reply as the reading side gets it; a reply that cannot be (too large, its descriptors
    // not duplicated) becomes the exception that says why, as in a worker process.
    ReceivedMessage received_reply(std::vector<std::byte> bytes, Writer& out) const {
        try {
            if (bytes.size() > config_.max_message_size) throw too_large("result");
            return ReceivedMessage(std::move(bytes), out);
        } catch (...) {
            out.clear_fds();
            std::vector<std::byte> failure;
            Writer failure_out(failure);
            encode_current_exception(failure_out);
            return ReceivedMessage(std::move(failure), failure_out);
        }
    }

    static void deliver(std::unique_ptr<Job> job, const ReceivedMessage& reply) {
        const std::vector<int> fds = reply.fd_numbers();
        Reader in(reply.bytes, fds);
        try {
            job->deliver(in);
        } catch (...) {
            job->fail(std::current_exception());
        }
    }

    SerializationError too_large(const char* what) const {
        return SerializationError(std::string("mproc: the ") + what + " is larger than max_message_size (" +
                                  std::to_string(config_.max_message_size) + " bytes)");
    }

    const PoolConfig config_;
    std::vector<std::unique_ptr<WorkerThread>> workers_;
    int live_workers_ = 0;   // worker threads that have not ended
    int ready_workers_ = 0;  // worker threads past the initializer
    std::exception_ptr init_error_;
    std::condition_variable ready_changed_;
    std::condition_variable work_available_;  // for idle worker threads
    std::condition_variable engine_changed_;  // for the engine thread
    bool engine_poked_ = false;               // something for the engine thread since its round began
    std::deque<PendingDelivery> deliveries_;  // replies of jobs that run callbacks
    std::optional<Clock::time_point> next_deadline_;
};

}  // namespace

std::shared_ptr<PoolCore> PoolCore::start_threads(const PoolConfig& config) {
    auto engine = std::make_shared<ThreadEngine>(config);
    engine->launch();
    return engine;
}

}  // namespace mproc::detail
