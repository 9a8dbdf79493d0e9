#include "pool/scheduler.hpp"

#include <mproc/errors.hpp>

#include "os_error.hpp"

namespace mproc::pool {

void Scheduler::submit(std::vector<std::unique_ptr<Job>>& jobs, Submission kind) {
    bool wake_engine = false;
    {
        std::lock_guard lock(mutex_);
        if (kind == Submission::new_work) {
            refuse_new_work();
        } else {
            if (state_ == State::terminated) throw PoolTerminated("mproc::Pool: the pool was terminated");
            if (streams_abandoned_)
                throw PoolClosed("mproc::Pool: the pool was destroyed while an imap over it was still reading its input");
        }
        bool timed = false;
        for (auto& job : jobs) {
            timed |= job->timeout().has_value();
            queue_back(std::move(job));
        }
        jobs.clear();
        wake_engine = jobs_queued(timed);
    }
    if (wake_engine) wake();
}

void Scheduler::submit(std::unique_ptr<Job> job) {
    bool wake_engine = false;
    {
        std::lock_guard lock(mutex_);
        refuse_new_work();
        const bool timed = job->timeout().has_value();
        queue_back(std::move(job));
        wake_engine = jobs_queued(timed);
    }
    if (wake_engine) wake();
}

void Scheduler::refuse_new_work() const {
    if (state_ == State::terminated) throw PoolTerminated("mproc::Pool: the pool was terminated");
    if (state_ == State::closed) throw PoolClosed("mproc::Pool: the pool is closed");
    if (streams_abandoned_)
        throw PoolClosed("mproc::Pool: the pool was destroyed while an imap over it was still reading its input");
}

void Scheduler::open_stream() {
    std::lock_guard lock(mutex_);
    ++open_streams_;
}

void Scheduler::close_stream() {
    {
        std::lock_guard lock(mutex_);
        if (!streams_abandoned_) --open_streams_;
    }
    wake();
}

void Scheduler::abandon_streams() {
    {
        std::lock_guard lock(mutex_);
        streams_abandoned_ = true;
        open_streams_ = 0;
    }
    wake();
}

void Scheduler::post(std::function<void()> work) {
    {
        std::lock_guard lock(mutex_);
        posted_.push_back(std::move(work));
    }
    wake();
}

void Scheduler::close() {
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::running) {
            state_ = State::closed;
            closing();
        }
    }
    wake();
}

void Scheduler::terminate() {
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::terminated) return;
        state_ = State::terminated;
        for (auto& job : unqueue_if([](const Job&) { return true; })) failed_.push_back({std::move(job), terminated_error()});
        terminating();
    }
    wake();
}

std::size_t Scheduler::cancel_queued(const detail::TaskControl* of) {
    std::unique_lock lock(mutex_);
    auto cancelled = unqueue_if([&](const Job& job) {
        return job.control && (of ? job.control == of : job.control->jobs == 1);
    });
    for (auto& job : cancelled) job->control->mark_cancelled();
    const std::size_t count = cancelled.size();
    fail_cancelled(std::move(cancelled), lock);
    return count;
}

bool Scheduler::cancel(detail::TaskControl& control, bool running) {
    std::unique_lock lock(mutex_);
    if (control.cancelled()) return true;
    // All of the call's jobs are still queued, or none may be cancelled.
    if (control.queued == control.jobs) {
        std::vector<std::unique_ptr<Job>> cancelled;
        if (control.jobs == 1) {
            cancelled.push_back(unqueue(queued_[control.queue_position - front_position_]));
            drop_empty_slots();
        } else {
            cancelled = unqueue_if([&](const Job& job) { return job.control == &control; });
        }
        control.mark_cancelled();
        fail_cancelled(std::move(cancelled), lock);
        return true;
    }
    if (!running || control.queued != 0 || control.jobs != 1 || !terminate_running(control)) return false;
    control.mark_cancelled();
    lock.unlock();
    wake();
    return true;
}

void Scheduler::queue_back(std::unique_ptr<Job> job) {
    if (job->control) {
        ++job->control->queued;
        job->control->queue_position = front_position_ + static_cast<std::uint32_t>(queued_.size());
    }
    queued_.push_back(std::move(job));
    ++queued_jobs_;
}

void Scheduler::queue_front(std::unique_ptr<Job> job) {
    --front_position_;
    if (job->control) {
        ++job->control->queued;
        job->control->queue_position = front_position_;
    }
    queued_.push_front(std::move(job));
    ++queued_jobs_;
}

std::unique_ptr<Job> Scheduler::unqueue(std::unique_ptr<Job>& slot) {
    auto job = std::move(slot);
    if (job->control) --job->control->queued;
    --queued_jobs_;
    return job;
}

template <class Take>
std::vector<std::unique_ptr<Job>> Scheduler::unqueue_if(Take take) {
    std::vector<std::unique_ptr<Job>> taken;
    for (auto& slot : queued_)
        if (slot && take(*slot)) taken.push_back(unqueue(slot));
    drop_empty_slots();
    return taken;
}

void Scheduler::drop_empty_slots() {
    if (queued_jobs_ != 0) return;
    front_position_ += static_cast<std::uint32_t>(queued_.size());
    queued_.clear();
}

std::unique_ptr<Job> Scheduler::next_queued_job() {
    for (;;) {
        auto slot = std::move(queued_.front());
        queued_.pop_front();
        ++front_position_;
        if (!slot) continue;  // a cancelled job's
        if (slot->control) {
            --slot->control->queued;
            slot->control->mark_dispatched();
        }
        --queued_jobs_;
        return slot;
    }
}

void Scheduler::fail_cancelled(std::vector<std::unique_ptr<Job>> jobs, std::unique_lock<std::mutex>& lock) {
    if (jobs.empty()) return;
    // Callbacks of a pool run on its own thread only.
    const bool any_callbacks = std::any_of(jobs.begin(), jobs.end(), [](const auto& job) { return job->runs_callbacks; });
    if (any_callbacks && !on_engine_thread()) {
        for (auto& job : jobs) failed_.push_back({std::move(job), detail::cancelled_error()});
        lock.unlock();
        wake();
        return;
    }
    lock.unlock();
    for (auto& job : jobs) job->fail(detail::cancelled_error());
}

void Scheduler::join() {
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::running) throw StateError("mproc::Pool::join: call close() or terminate() first");
    }
    if (on_engine_thread()) throw StateError("mproc::Pool::join: cannot be called from a callback");
    std::lock_guard join_lock(join_mutex_);
    if (engine_thread_.joinable()) {
        engine_thread_.join();
        engine_thread_joined();
    }
}

bool Scheduler::is_terminated() const {
    std::lock_guard lock(mutex_);
    return state_ == State::terminated;
}

void Scheduler::start_engine_thread(const std::string& purpose, std::function<void()> body) {
    engine_thread_ = detail::start_thread(purpose, std::move(body));
    engine_thread_id_ = engine_thread_.get_id();
}

void Scheduler::run_rounds() {
    std::unique_lock lock(mutex_);
    for (;;) {
        const bool progressed = serve(lock);
        if (done()) return;
        if (!progressed) wait_for_work(lock);
    }
}

void Scheduler::shut_down() {
    if (engine_thread_.joinable()) {
        terminate();
        join();
    }
}

void Scheduler::requeue(std::vector<std::unique_ptr<Job>>& jobs) {
    for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) queue_front(std::move(*it));
    jobs.clear();
}

void Scheduler::fail_later(std::unique_ptr<Job> job, std::exception_ptr error) {
    failed_.push_back({std::move(job), std::move(error)});
}

std::exception_ptr Scheduler::terminated_error() {
    return std::make_exception_ptr(PoolTerminated("mproc::Pool: the pool was terminated before the task finished"));
}

bool Scheduler::report(std::unique_lock<std::mutex>& lock) {
    if (failed_.empty() && posted_.empty()) return false;
    auto failures = std::exchange(failed_, {});
    auto posted = std::exchange(posted_, {});
    lock.unlock();
    for (auto& failure : failures) failure.job->fail(failure.error);
    for (auto& work : posted) work();
    failures.clear();  // a job's last reference to its result goes without the mutex too
    lock.lock();
    return true;
}

bool Scheduler::done() const {
    return state_ != State::running && failed_.empty() && posted_.empty() && workers_done();
}

}  // namespace mproc::pool
