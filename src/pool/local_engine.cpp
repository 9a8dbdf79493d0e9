// The engine under mproc::Pool: a Scheduler (scheduler.hpp) whose workers are processes of this
// machine, each reached through a Channel (channel.hpp) and running run_worker (worker.cpp).
//
// Threads: user threads submit jobs and dispatch them straight to an idle worker when one has
// room; one pool thread per pool (the scheduler's engine thread) receives replies, notices dead
// workers (their pidfds become readable), enforces timeouts, replaces workers and dispatches
// whatever is still queued. All state below is guarded by the scheduler's `mutex_`; replies are
// decoded without holding it. Task rings are written under the mutex. Reply rings are consumed by
// whoever holds `receiving_`: the pool thread while it is awake, or a user thread waiting for a
// result (help_until), which receives replies itself for a few dozen microseconds while the pool
// thread sleeps on. A round trip then wakes nobody in the parent. Jobs whose delivery runs user
// callbacks are left to the pool thread.
#include <mproc/detail/pool_core.hpp>

#include <signal.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>
#include <mproc/log.hpp>

#include "launch.hpp"
#include "os/child_process.hpp"
#include "os/cpu.hpp"
#include "os/event_fd.hpp"
#include "message_fds.hpp"
#include "os/memfd.hpp"
#include "os/poll.hpp"
#include "os/process_ids.hpp"
#include "os/spin.hpp"
#include "os/threads.hpp"
#include "os_error.hpp"
#include "pool/channel.hpp"
#include "pool/scheduler.hpp"
#include "pool/worker.hpp"

namespace mproc::detail {
namespace {

using pool::Channel;

// What a worker's jobs ahead must cover (pool::jobs_ahead): the pool thread waking up to refill.
constexpr std::chrono::microseconds refill_time{200};
// Workers dying before they are ready this many times in a row means the initializer kills them.
constexpr int max_startup_deaths = 3;

using Clock = std::chrono::steady_clock;

// How long a thread waiting for a result receives replies itself (LocalEngine::help_until).
thread_local os::SpinBudget waiting_thread_spin;
// How long a thread taking a stream of results keeps receiving them itself after it last took
// one (LocalEngine::receive_stream).
constexpr std::chrono::nanoseconds stream_lease = std::chrono::milliseconds(2);

struct InFlight {
    std::uint64_t tag;
    std::unique_ptr<Job> job;
};

struct Worker {
    os::MappedMemfd region;
    os::UniqueFd task_spill, reply_spill;  // the rings' spill files
    std::unique_ptr<Channel> channel;
    os::UniqueFd fd_socket;  // ours; the worker has the other end
    os::ChildProcess process;
    std::deque<InFlight> in_flight;  // in dispatch order, which is also reply order
    long dispatched = 0;
    bool ready = false;
    bool retiring = false;  // will exit after its last task (maxtasksperchild), or was told to
    std::optional<std::uint64_t> killed_for_tag;  // killed by the pool for this task: its timeout, or cancelled
    std::vector<std::uint64_t> cancelled_tags;   // in flight here, cancelled: the worker stops once one runs
    std::string name;  // as Python names it, "ForkPoolWorker-3": for the log
    // LocalEngine::jobs_ahead's last answer, and the average it was worked out from.
    std::int64_t planned_for_average_ns = -1;
    std::size_t planned_jobs_ahead = 0;
};

class LocalEngine final : public pool::Scheduler {
public:
    explicit LocalEngine(const PoolConfig& config)
        : config_(config),
          signals_region_(or_throw(os::MappedMemfd::create_writable_here_only("mproc-pool", sizeof(pool::PoolSignals)))),
          signals_(new (signals_region_.data()) pool::PoolSignals),
          reply_count_region_(or_throw(os::MappedMemfd::create("mproc-pool-replies", sizeof(pool::ReplyCount)))),
          reply_count_(new (reply_count_region_.data()) pool::ReplyCount),
          wake_(or_throw(os::EventFd::create())) {
        // Not when workers outnumber CPUs: spinning ones would take the CPUs of busy ones.
        signals_->workers_spin.store(config.processes <= os::usable_cpu_count() ? 1 : 0);
    }

    ~LocalEngine() override { shut_down(); }

    void launch() {
        std::unique_lock lock(mutex_);
        // Start every worker, then wait for each to confirm: spawned workers start side by side.
        std::vector<launch::StartingChild> starting;
        for (int i = 0; i < config_.processes; ++i) starting.push_back(spawn_worker(Confirm::later));
        for (std::size_t i = 0; i < starting.size(); ++i) {
            launch::await_start(starting[i]);
            workers_[i]->process = std::move(starting[i].process);
        }
        start_engine_thread("the pool's thread", [this] {
            os::InternalThread mark;
            run_rounds();
        });
        changed_.wait(lock, [&] {
            return init_error_ || std::all_of(workers_.begin(), workers_.end(), [](auto& w) { return w->ready; });
        });
        launched_ = true;
        if (init_error_) {
            const auto error = init_error_;
            lock.unlock();
            terminate();
            join();
            std::rethrow_exception(error);
        }
    }

    int processes() const override { return config_.processes; }

    std::vector<int> worker_pids() const override {
        std::lock_guard lock(mutex_);
        std::vector<int> pids;
        for (const auto& worker : workers_) pids.push_back(worker->process.pid());
        return pids;
    }

    bool help_until(const std::function<bool()>& ready) override {
        if (on_engine_thread()) return false;  // a callback: the pool thread itself
        if (os::this_process_id() != creator_pid_) return false;  // a forked child: the rings are not its own
        // Workers publishing replies now leave the pool thread asleep, until this thread stops
        // helping (however it stops: ready() and delivering may throw).
        struct Helping {
            LocalEngine& engine;
            explicit Helping(LocalEngine& e) : engine(e) { engine.signals_->helpers.fetch_add(1); }
            ~Helping() {
                engine.signals_->helpers.fetch_sub(1);
                // Pairs with the workers' barrier after publishing: a reply we did not see is one
                // whose worker saw no helper (and woke the pool thread if it slept). Under a
                // stream's lease, the pool thread wakes by itself.
                std::atomic_thread_fence(std::memory_order_seq_cst);
                std::lock_guard lock(engine.mutex_);
                if (engine.any_reply_waiting() && !engine.stream_leased()) engine.wake_.notify();
            }
        } helping(*this);
        std::uint32_t seen = reply_count_->replies.load() - 1;  // look once at least
        // A thread waiting for long tasks soon spins for a microsecond only, leaving the CPUs to
        // the workers; one whose results come within microseconds spins long enough to meet them.
        // After a few looks in vain it yields its CPU, as a spinning worker does: the worker it
        // waits for may be runnable on this very CPU, where the kernel placed both, and would
        // otherwise run only once this spin gives up (measured: 15-25 us round trips in such runs
        // instead of 2). While replies keep coming, it does not.
        int fruitless = 0;
        const bool met = os::spin_until(waiting_thread_spin, [&] {
            if (ready()) return true;
            const std::uint32_t replies = reply_count_->replies.load(std::memory_order_acquire);
            if (replies == seen) {
                if (++fruitless % 8 == 0) std::this_thread::yield();
                return false;
            }
            fruitless = 0;
            seen = replies;
            receive_while_waiting();
            return ready();
        });
        // About to sleep: a stream's lease would keep workers from waking the pool thread, which
        // must now receive what this thread waits for.
        if (!met) signals_->stream_lease_ns.store(0, std::memory_order_relaxed);
        return met;
    }

    // The sleep includes waking the pool thread and being woken by it (two wake-ups of idle
    // CPUs, tens of microseconds each). One that ended within 200 us followed a reply that a
    // longer spin would have met: the spin grows. One within a millisecond followed replies that
    // a spin as long as the last might meet: it stays. Tasks of hundreds of microseconds leave
    // it short, and the CPUs to the workers.
    void sleep_ended() override {
        waiting_thread_spin.woke(std::chrono::microseconds(200), std::chrono::milliseconds(1));
    }

    bool stream_leased() const {
        return pool::steady_now_ns() < signals_->stream_lease_ns.load(std::memory_order_relaxed);
    }

    // A thread taking a stream of results receives the replies itself, under a lease it renews as
    // it takes them: until the lease ends, workers leave the pool thread asleep (a wake-up, and
    // the pool thread taking the consumer's CPU, per few replies is what limits a stream of tiny
    // tasks). The pool thread wakes by itself when the lease ends: replies for others wait at
    // most that long if the consumer stops taking.
    void receive_stream() override {
        if (on_engine_thread()) return;
        if (os::this_process_id() != creator_pid_) return;
        const std::int64_t now = pool::steady_now_ns();
        const std::int64_t lease = signals_->stream_lease_ns.load(std::memory_order_relaxed);
        if (lease - now < stream_lease.count() / 2) {
            signals_->stream_lease_ns.store(now + stream_lease.count(), std::memory_order_relaxed);
            // A pool thread asleep with no lease in view would not wake when this one ends: it is
            // woken once, to sleep until then. Pairs with the fence in sleep().
            std::atomic_thread_fence(std::memory_order_seq_cst);
            if (lease <= now && signals_->parent_sleeping()) wake_.notify();
        }
        const std::uint32_t replies = reply_count_->replies.load(std::memory_order_acquire);
        if (replies != stream_replies_seen_.exchange(replies, std::memory_order_relaxed)) receive_while_waiting();
    }

private:
    // --- The scheduler's hooks (scheduler.hpp) ---

    // Jobs from a user thread go straight to workers with room. The pool thread watches the clock
    // for timed jobs: it must learn of these.
    bool jobs_queued(bool timed) override { return pump() || timed; }

    void closing() override { log_parts(LogLevel::info, "pool closing"); }

    void terminating() override {
        log_parts(LogLevel::info, "pool terminating: killing its ", workers_.size(), " workers");
        for (auto& worker : workers_) worker->process.signal(SIGKILL);
    }

    void wake() override { wake_.notify(); }

    bool workers_done() const override {
        return (exit_sent_ || state() == State::terminated) && workers_.empty();
    }

    enum class Confirm { now, later };
    // Starts a worker. With Confirm::later its process is returned to be confirmed by the caller
    // (launch::await_start) and stored in it; otherwise it is in workers_ already.
    launch::StartingChild spawn_worker(Confirm confirm = Confirm::now) {
        auto worker = std::make_unique<Worker>();
        worker->name = next_pool_worker_name(config_.start_method);
        worker->region = or_throw(os::MappedMemfd::create("mproc-worker", Channel::region_size()));
        worker->task_spill = or_throw(os::create_growing_file("mproc-worker-tasks"));
        worker->reply_spill = or_throw(os::create_growing_file("mproc-worker-replies"));
        worker->channel = std::make_unique<Channel>(worker->region.data(), worker->task_spill.get(),
                                                    worker->reply_spill.get(), config_.max_message_size);
        Channel* channel = worker->channel.get();
        auto [ours, theirs] = socket_pair();
        const int worker_socket = theirs.get();
        auto child = launch::begin_child(
            config_.start_method,
            [this, channel, worker_socket, name = worker->name] {
                set_log_process_name(name);
                // What the parent sleeps by is no task's to scribble over (see pool/channel.hpp).
                or_throw(signals_region_.make_read_only_here());
                std::span<const int> initializer_fds;
                if (config_.initializer_fds) initializer_fds = *config_.initializer_fds;
                return pool::run_worker(*channel, *signals_, *reply_count_, wake_, worker_socket, config_.initializer,
                                        initializer_fds, config_.maxtasksperchild.value_or(0));
            },
            [&] { return worker_bootstrap(*worker, worker_socket); }, {.new_process_group = true});
        worker->fd_socket = std::move(ours);
        log_parts(LogLevel::info, "worker ", worker->name, " (pid ", child.process.pid(), ") started");
        if (confirm == Confirm::now) {
            launch::await_start(child);
            worker->process = std::move(child.process);
        }
        workers_.push_back(std::move(worker));
        return child;
    }

    // What a worker started by spawn or forkserver needs; read by the function of pool::worker_entry.
    launch::Bootstrap worker_bootstrap(const Worker& worker, int worker_socket) const {
        launch::Bootstrap bootstrap{pool::worker_entry, {}, {}, config_.initializer_fds};
        Writer out(bootstrap.payload);
        out.write_value(static_cast<std::uint64_t>(config_.max_message_size));
        out.write_value(static_cast<std::int64_t>(config_.maxtasksperchild.value_or(0)));
        encode(out, config_.initializer);
        encode(out, worker_log_settings(worker.name));
        bootstrap.fds = {worker.region.fd(),   worker.task_spill.get(),    worker.reply_spill.get(),
                         signals_region_.fd(), reply_count_region_.fd(), wake_.fd(),
                         worker_socket};
        if (config_.initializer_fds)
            bootstrap.fds.insert(bootstrap.fds.end(), config_.initializer_fds->begin(), config_.initializer_fds->end());
        return bootstrap;
    }

    static std::size_t jobs_ahead(Worker& worker) {
        // The worker's own measure of its tasks: the parent's (from dispatch to reply) would
        // count the worker's wake-ups and waits for a CPU too, and a worker slowed by those would
        // be given fewer jobs at a time, so woken more often, so slowed more. Zero before the
        // first finishes (or in a scribbled status). Worked out again only when it changed.
        const auto average_ns = worker.channel->status->average_task_ns.load(std::memory_order_relaxed);
        if (average_ns != worker.planned_for_average_ns) {
            worker.planned_jobs_ahead = pool::jobs_ahead(
                std::chrono::duration<double, std::nano>(static_cast<double>(average_ns)), refill_time);
            worker.planned_for_average_ns = average_ns;
        }
        return worker.planned_jobs_ahead;
    }

    bool accepts_work(Worker& worker) const {
        return worker.ready && !worker.retiring && worker.in_flight.size() < jobs_ahead(worker) &&
               worker.channel->tasks.can_start_without_blocking();
    }

    // Hands queued jobs to workers with room. Jobs that cannot even be encoded fail, reported by
    // the pool thread (Scheduler::fail_later); returns whether any did.
    //
    // A sleeping worker is woken once it has all its jobs of this round: woken at its first, it
    // might run it (on our CPU, taking it from us) and sleep again before we send the next, and
    // so on, a wake-up per job.
    //
    // A worker whose sleep a commit ended (Ring::commit cleared its flag) is woken even if a later
    // job throws: nobody else would wake it.
    bool pump() {
        struct Sleepers {
            std::vector<Worker*> workers;
            ~Sleepers() {
                for (Worker* worker : workers) worker->channel->tasks.wake_consumer();
            }
        } sleeping;
        return pump_jobs(sleeping.workers);
    }

    bool pump_jobs(std::vector<Worker*>& sleeping) {
        bool failed = false;
        while (has_queued_jobs()) {
            if (init_error_) {
                fail_later(next_queued_job(), init_error_);
                failed = true;
                continue;
            }
            Worker* chosen = nullptr;
            for (auto& worker : workers_)
                if (accepts_work(*worker) && (!chosen || worker->in_flight.size() < chosen->in_flight.size()))
                    chosen = worker.get();
            if (!chosen) return failed;
            auto job = next_queued_job();
            const std::uint64_t tag = next_tag_++;
            auto& tasks = chosen->channel->tasks;
            Writer& out = tasks.begin(job->timeout() ? pool::timed_task_message : pool::task_message, tag);
            try {
                job->encode(out);
                if (!out.fds().empty()) send_fds(chosen->fd_socket.get(), out.fds());
            } catch (...) {
                tasks.abandon();
                fail_later(std::move(job), std::current_exception());
                failed = true;
                continue;
            }
            if (tasks.commit()) sleeping.push_back(chosen);
            chosen->in_flight.push_back({tag, std::move(job)});
            if (config_.maxtasksperchild && ++chosen->dispatched >= *config_.maxtasksperchild) chosen->retiring = true;
        }
        return failed;
    }

    // A waiting user thread's turn at the reply rings, unless the pool thread is at them.
    void receive_while_waiting() {
        std::unique_lock lock(mutex_);
        if (receiving_) return;
        receiving_ = true;
        bool wake_pool_thread = false;
        try {
            for (std::size_t i = 0; i < workers_.size(); ++i)
                wake_pool_thread |= drain(*workers_[i], lock, Receiver::waiting_thread).left_for_pool_thread;
            wake_pool_thread |= pump() || pool_thread_must_look();
        } catch (...) {
            wake_pool_thread = true;
        }
        receiving_ = false;
        lock.unlock();
        changed_.notify_all();
        if (wake_pool_thread) wake_.notify();
    }

    // --- The pool thread ---

    bool serve(std::unique_lock<std::mutex>& lock) override {
        changed_.wait(lock, [&] { return !receiving_; });
        receiving_ = true;
        bool progressed = false;
        for (std::size_t i = 0; i < workers_.size(); ++i)
            progressed |= drain(*workers_[i], lock, Receiver::pool_thread).any;
        for (std::size_t i = 0; i < workers_.size();) {
            if (workers_[i]->process.has_exited()) {
                handle_exit(i, lock);
                progressed = true;
            } else {
                ++i;
            }
        }
        next_deadline_ = enforce_timeouts();
        pump();
        progressed |= report(lock);
        maybe_send_exit();
        receiving_ = false;
        return progressed;
    }

    void wait_for_work(std::unique_lock<std::mutex>& lock) override { sleep(lock, next_deadline_); }

    // Once closed and idle, tells every worker to exit. A replacement still starting then has no
    // task to start for, so it is stopped rather than waited for: a worker that never gets ready
    // (its initializer stuck, or a lock held forever after a fork in a threaded program) must not
    // make join() or the destructor wait forever.
    void maybe_send_exit() {
        if (exit_sent_ || !out_of_work()) return;
        for (const auto& worker : workers_)
            if (!worker->in_flight.empty()) return;
        for (auto& worker : workers_) {
            if (worker->ready) {
                auto& tasks = worker->channel->tasks;
                tasks.begin(pool::exit_message, 0);
                if (tasks.commit()) tasks.wake_consumer();
            } else {
                worker->process.signal(SIGKILL);
            }
            worker->retiring = true;
        }
        exit_sent_ = true;
    }

    // Receives every reply a worker has published, but for those a waiting thread must leave to
    // the pool thread.
    enum class Receiver { pool_thread, waiting_thread };
    struct Drained {
        bool any = false;
        bool left_for_pool_thread = false;
    };
    Drained drain(Worker& worker, std::unique_lock<std::mutex>& lock, Receiver receiver) {
        Drained drained;
        for (;;) {
            std::optional<transport::Record> record;
            try {
                record = worker.channel->replies.peek();
            } catch (const SerializationError&) {
                // A worker that scribbled over its own channel cannot be trusted with more work.
                worker.process.signal(SIGKILL);
                return drained;
            }
            if (!record) return drained;
            drained.any = true;
            if (record->type == pool::ready_message) {
                receive_ready(worker, *record);
                worker.channel->replies.release(*record);
                continue;
            }
            if (worker.in_flight.empty() || worker.in_flight.front().tag != record->tag) {
                worker.process.signal(SIGKILL);  // out of step with us: treat it as crashed
                return drained;
            }
            if (receiver == Receiver::waiting_thread && worker.in_flight.front().job->runs_callbacks) {
                drained.left_for_pool_thread = true;
                return drained;
            }
            auto job = std::move(worker.in_flight.front().job);
            worker.in_flight.pop_front();
            lock.unlock();
            try {
                std::vector<os::UniqueFd> received;
                if (record->fd_count) received = receive_fds(worker.fd_socket.get(), record->fd_count);
                std::vector<int> fds;
                for (const auto& fd : received) fds.push_back(fd.get());
                Reader in(record->payload, fds);
                job->deliver(in);
            } catch (...) {
                // deliver() reports decoding problems through the job's own result; this is a
                // failure to receive the descriptors.
                job->fail(std::current_exception());
            }
            worker.channel->replies.release(*record);
            job.reset();
            lock.lock();
        }
    }

    void receive_ready(Worker& worker, const transport::Record& record) {
        Reader in(record.payload);
        try {
            unpack_reply<void>(in);
            worker.ready = true;
            startup_deaths_ = 0;
        } catch (...) {
            if (!init_error_) init_error_ = std::current_exception();
        }
        changed_.notify_all();
    }

    void handle_exit(std::size_t index, std::unique_lock<std::mutex>& lock) {
        Worker& worker = *workers_[index];
        const int exitcode = or_throw(worker.process.wait()).value_or(-SIGKILL);
        log_worker_exit(worker.name, worker.process.pid(), exitcode,
                        worker.retiring || worker.killed_for_tag || state() == State::terminated);
        drain(worker, lock, Receiver::pool_thread);  // replies published before it died still count
        if (!worker.ready && state() != State::terminated && !killed_from_outside(exitcode)) {
            // A worker that exits or faults during start-up, before the pool is up or time and
            // again, does so by itself (its initializer, most likely): fail fast instead of
            // respawning forever. Signals sent from outside (an operator, the OOM killer) only
            // cost a replacement.
            if (!launched_ || ++startup_deaths_ >= max_startup_deaths) {
                if (!init_error_) init_error_ = startup_death_error(exitcode);
            }
        }
        const std::uint64_t running = worker.channel->status->current_task.load(std::memory_order_acquire);
        std::vector<std::unique_ptr<Job>> unstarted;
        while (!worker.in_flight.empty()) {
            auto entry = std::move(worker.in_flight.front());
            worker.in_flight.pop_front();
            if (state() == State::terminated) {
                fail_later(std::move(entry.job), terminated_error());
            } else if (entry.tag == running && !(worker.killed_for_tag && *worker.killed_for_tag != entry.tag)) {
                auto error = crash_error(worker, entry, exitcode);
                fail_later(std::move(entry.job), std::move(error));
            } else {
                // Never started, or started after the job we killed for its timeout had finished
                // after all: another worker will run it, in the same order.
                unstarted.push_back(std::move(entry.job));
            }
        }
        requeue(unstarted);
        workers_.erase(workers_.begin() + static_cast<long>(index));
        const bool needed = state() == State::running || (state() == State::closed && !exit_sent_);
        if (needed && !init_error_) {
            try {
                spawn_worker();
            } catch (...) {
                init_error_ = std::current_exception();
            }
        }
        changed_.notify_all();
    }

    // Whether a worker's death came from outside rather than from what it ran: it exited by a
    // signal that a process does not raise by faulting or by calling abort().
    static bool killed_from_outside(int exitcode) {
        if (exitcode >= 0) return false;
        switch (-exitcode) {
            case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGABRT: case SIGSYS: case SIGTRAP:
            case SIGXCPU: case SIGXFSZ:
                return false;
            default:
                return true;
        }
    }

    std::exception_ptr startup_death_error(int exitcode) const {
        const std::string how = " (exit code " + std::to_string(exitcode) + ")";
        if (!config_.initializer.empty())
            return std::make_exception_ptr(Error("mproc::Pool: a worker died while running the initializer" + how));
        return std::make_exception_ptr(StartError("mproc::Pool: workers keep dying while they start" + how));
    }

    std::exception_ptr crash_error(const Worker& worker, const InFlight& entry, int exitcode) const {
        const auto item = static_cast<long>(worker.channel->status->current_item.load(std::memory_order_relaxed));
        const std::optional<long> index =
            entry.job->first_index >= 0 ? std::optional<long>(entry.job->first_index + item) : std::nullopt;
        if (worker.killed_for_tag == entry.tag) {
            std::string what = "mproc: task";
            if (index) what += ' ' + std::to_string(*index);
            what += " exceeded its timeout; its worker (pid " + std::to_string(worker.process.pid()) + ") was killed";
            return std::make_exception_ptr(TimeoutError(what));
        }
        return std::make_exception_ptr(WorkerCrashed(worker.process.pid(), exitcode, index));
    }

    bool terminate_running(TaskControl& control) override {
        for (auto& worker : workers_)
            for (const auto& entry : worker->in_flight)
                if (entry.job->control == &control) {
                    worker->cancelled_tags.push_back(entry.tag);
                    return true;
                }
        return false;
    }

    // Kills workers whose current item has run past its timeout, or whose current task was
    // cancelled. Returns when the pool thread must look again.
    std::optional<Clock::time_point> enforce_timeouts() {
        std::optional<Clock::time_point> next;
        const auto now = Clock::now();
        for (auto& worker : workers_) {
            if (worker->in_flight.empty() || worker->killed_for_tag) continue;
            const auto& front = worker->in_flight.front();
            const auto& status = *worker->channel->status;
            const bool front_started = status.current_task.load(std::memory_order_acquire) == front.tag;
            if (!worker->cancelled_tags.empty()) {
                std::erase_if(worker->cancelled_tags, [&](std::uint64_t tag) { return tag < front.tag; });  // replied
                if (front_started && std::find(worker->cancelled_tags.begin(), worker->cancelled_tags.end(), front.tag) !=
                                         worker->cancelled_tags.end()) {
                    worker->killed_for_tag = front.tag;
                    log_parts(LogLevel::info, "task cancelled while running; stopping worker ", worker->name, " (pid ",
                              worker->process.pid(), ")");
                    worker->process.signal(SIGKILL);
                    continue;
                }
                if (!worker->cancelled_tags.empty()) {
                    const auto look_again = now + std::chrono::milliseconds(5);  // once it starts
                    if (!next || look_again < *next) next = look_again;
                }
            }
            if (!front.job->timeout()) continue;
            std::chrono::steady_clock::time_point deadline;
            if (front_started) {
                const auto started = std::chrono::steady_clock::time_point(
                    std::chrono::nanoseconds(status.item_started_ns.load(std::memory_order_acquire)));
                deadline = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(*front.job->timeout());
                if (deadline <= now) {
                    worker->killed_for_tag = front.tag;
                    log_parts(LogLevel::warning, "task timed out; killing worker ", worker->name, " (pid ",
                              worker->process.pid(), ")");
                    worker->process.signal(SIGKILL);  // the whole process group
                    continue;
                }
            } else {
                deadline = now + std::chrono::milliseconds(5);  // not started yet: look again soon
            }
            if (!next || deadline < *next) next = deadline;
        }
        return next;
    }

    // Whether a reply is published. Not Ring::empty(): a worker starting its reply at the end of
    // its ring publishes the padding that skips there before running the task.
    bool any_reply_waiting() const {
        return std::any_of(workers_.begin(), workers_.end(), [](const auto& worker) {
            try {
                return worker->channel->replies.peek().has_value();
            } catch (const SerializationError&) {
                return true;  // for the pool thread to deal with
            }
        });
    }

    // After a waiting thread received replies or sent jobs: whether the pool thread must look now
    // rather than when it planned to. Its sleep may have no deadline, or a later one, while a job
    // with a timeout now runs first at some worker; and a closed pool that became idle must tell
    // its workers to exit.
    bool pool_thread_must_look() const {
        if (state() != State::running) return true;
        return std::any_of(workers_.begin(), workers_.end(), [](const auto& worker) {
            return !worker->in_flight.empty() && worker->in_flight.front().job->timeout().has_value();
        });
    }

    void sleep(std::unique_lock<std::mutex>& lock, std::optional<std::chrono::steady_clock::time_point> deadline) {
        std::vector<int> fds{wake_.fd()};
        for (const auto& worker : workers_) fds.push_back(worker->process.pidfd());
        // Odd: asleep. Bumped again when awake, so that each worker wakes us at most once a sleep.
        auto& generation = signals_->sleep_generation;
        generation.store(generation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (any_reply_waiting()) {
            generation.store(generation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
            return;
        }
        // Workers do not wake us while a stream's lease runs (receive_stream).
        const Clock::time_point lease_end{std::chrono::nanoseconds(signals_->stream_lease_ns.load(std::memory_order_relaxed))};
        if (lease_end > Clock::now() && (!deadline || lease_end < *deadline)) deadline = lease_end;
        lock.unlock();
        (void)os::wait_until_readable(fds, deadline);
        lock.lock();
        generation.store(generation.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        wake_.drain();
    }

    const PoolConfig config_;
    os::MappedMemfd signals_region_;
    pool::PoolSignals* signals_;
    os::MappedMemfd reply_count_region_;
    pool::ReplyCount* reply_count_;
    os::EventFd wake_;

    std::condition_variable changed_;
    std::vector<std::unique_ptr<Worker>> workers_;
    std::uint64_t next_tag_ = 1;
    bool exit_sent_ = false;
    bool launched_ = false;
    int startup_deaths_ = 0;  // consecutive worker deaths before ready
    std::exception_ptr init_error_;
    std::optional<Clock::time_point> next_deadline_;  // when the pool thread must look at timeouts again

    bool receiving_ = false;  // someone is consuming the reply rings (see the top of this file)
    std::atomic<std::uint32_t> stream_replies_seen_{0};  // reply_count_->replies, as receive_stream last saw it

    const int creator_pid_ = os::this_process_id();
};

}  // namespace

std::shared_ptr<PoolCore> PoolCore::start(const PoolConfig& config) {
    auto engine = std::make_shared<LocalEngine>(config);
    engine->launch();
    return engine;
}

}  // namespace mproc::detail
