// mproc/async_result.hpp: mproc::AsyncResult<T>, the handle to a result that a pool computes in
// the background (Python's multiprocessing.pool.AsyncResult).
//
//   mproc::AsyncResult<int> r = pool.apply_async(square, 7);
//   r.wait(1s);             // true once ready
//   int v = r.get();        // blocks; rethrows the task's exception
//   int w = r.get(2s);      // throws mproc::TimeoutError if not ready within 2 s
//
// get() may be called any number of times, from any thread. Callbacks (see mproc::callbacks in
// pool_options.hpp) run exactly once, on the pool's own thread, before get() returns to any
// waiter; they must be quick and must not wait for other results of the same pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstddef>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/detail/handle.hpp>
#include <mproc/errors.hpp>

namespace mproc {

namespace detail {

// What cancel() and terminate() of one call (an apply, or a map_async's chunks) reach: shared by
// the call's result and its jobs. Set by the engine, under its lock.
struct TaskControl {
    std::size_t jobs = 0;                  // how many jobs the call was cut into; 0: not cancellable
    std::size_t queued = 0;                // how many of them wait in the engine's queue
    std::int64_t queue_position = 0;       // where the last one queued went (pool::Scheduler's numbering)
    std::atomic<bool> dispatched{false};   // a job of it was handed to a worker
    std::atomic<bool> cancelled{false};    // it ends with CancelledError, whatever its jobs deliver
};

// The engine as a result sees it (PoolCore implements it).
class ResultSource {
public:
    // Lets a thread waiting for one of its results receive results itself for a short while,
    // instead of sleeping until the engine's own thread wakes it: a round trip then costs no
    // wake-up at the parent's end when the worker answers within microseconds. Returns true
    // once `ready()` is true, or false after a bounded spin: the caller then sleeps, and calls
    // sleep_ended() when woken. `ready` is called often: it must be cheap.
    virtual bool help_until(const std::function<bool()>& ready) = 0;
    virtual void sleep_ended() = 0;
    // For a thread taking a stream of results (imap): receives the results waiting now, and the
    // next ones for a little while, as they are taken.
    virtual void receive_stream() = 0;
    // Cancels the call: at once if no job of it was handed to a worker yet; with `running`, also a
    // call whose single job runs now (its worker is stopped). Returns whether the call will end
    // with CancelledError.
    virtual bool cancel(TaskControl& control, bool running) = 0;

protected:
    ~ResultSource() = default;
};

// What as_completed and wait listen with: told `completed(tag)` on the thread that completes
// a result it observes. An object rather than a std::function, so that observing one more
// result allocates nothing.
class CompletionListener {
public:
    virtual void completed(std::size_t tag) noexcept = 0;

protected:
    ~CompletionListener() = default;
};

class ResultStateBase {
public:
    void wait() const {
        if (ready()) return;
        const auto source = source_.lock();
        if (source && source->help_until([this] { return ready(); })) return;
        {
            std::unique_lock lock(mutex_);
            ready_.wait(lock, [&] { return ready(); });
        }
        if (source) source->sleep_ended();
    }
    bool wait(std::chrono::duration<double> timeout) const {
        if (ready()) return true;
        const auto source = timeout.count() > 0 ? source_.lock() : nullptr;
        if (source && source->help_until([this] { return ready(); })) return true;
        bool done;
        {
            std::unique_lock lock(mutex_);
            done = ready_.wait_for(lock, timeout, [&] { return ready(); });
        }
        if (source) source->sleep_ended();
        return done;
    }
    bool ready() const noexcept { return done_.load(std::memory_order_acquire); }
    bool successful() const {
        std::lock_guard lock(mutex_);
        if (!ready()) throw StateError("mproc::AsyncResult::successful: the result is not ready");
        return !error_;
    }
    // The failure, once ready (null for a result).
    std::exception_ptr error() const {
        std::lock_guard lock(mutex_);
        return error_;
    }

    bool cancel(bool running) {
        if (control_.jobs == 0) return false;
        if (ready()) return cancelled();
        const auto source = source_.lock();
        return source && source->cancel(control_, running);
    }
    bool cancelled() const noexcept { return ready() && control_.cancelled.load(); }
    bool running() const noexcept {
        return !ready() && control_.dispatched.load() && !control_.cancelled.load();
    }

    // Calls `observer` once the result is ready: at once, on this thread, if it is; otherwise on
    // the thread that completes it. Returns a key for remove_observer (0: it ran already).
    std::uint64_t add_observer(std::function<void()> observer) {
        return add_observer(Observer{0, std::move(observer), nullptr, 0});
    }
    // The same for a listener, told `completed(tag)`.
    std::uint64_t add_observer(std::shared_ptr<CompletionListener> listener, std::size_t tag) {
        return add_observer(Observer{0, nullptr, std::move(listener), tag});
    }
    // Drops an observer that has not run yet.
    void remove_observer(std::uint64_t key) {
        std::lock_guard lock(mutex_);
        observers_.remove(key);
    }

    void set_error(std::exception_ptr error) {
        if (error_callback_) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                run_callback([&] { error_callback_(e); });
            } catch (...) {
            }
        }
        finish([&] { error_ = std::move(error); });
    }

    void set_error_callback(std::function<void(const std::exception&)> callback) {
        error_callback_ = std::move(callback);
    }
    void set_source(std::weak_ptr<ResultSource> source) { source_ = std::move(source); }
    std::shared_ptr<ResultSource> source() const { return source_.lock(); }
    // Makes the call cancellable: its `jobs` jobs share the returned control, which lives as
    // long as this state (jobs hold it through an aliasing shared_ptr to the state).
    TaskControl& enable_cancel(std::size_t jobs) {
        control_.jobs = jobs;
        return control_;
    }

protected:
    template <class Store>
    void finish(Store store) {
        ObserverList observers;
        {
            std::lock_guard lock(mutex_);
            store();
            done_.store(true, std::memory_order_release);
            observers = std::exchange(observers_, {});
        }
        ready_.notify_all();
        observers.for_each([](Observer& observer) { notify(observer); });
    }

    // A throwing callback must not take the pool's thread down with it.
    template <class Call>
    static void run_callback(Call&& call) noexcept {
        try {
            call();
        } catch (const std::exception& e) {
            std::fprintf(stderr, "mproc: exception in result callback: %s\n", e.what());
        } catch (...) {
            std::fprintf(stderr, "mproc: exception in result callback\n");
        }
    }

    void rethrow_if_failed() const {
        if (error_) std::rethrow_exception(error_);
    }

    struct Observer {
        std::uint64_t key;
        std::function<void()> call;                    // a done callback, or
        std::shared_ptr<CompletionListener> listener;  // an as_completed or wait
        std::size_t tag;
    };
    // In the order added. Most results have one observer at most: it is kept in place.
    class ObserverList {
    public:
        void add(Observer observer) {
            if (!first_)
                first_.emplace(std::move(observer));
            else
                rest_.push_back(std::move(observer));
        }
        void remove(std::uint64_t key) {
            if (first_ && first_->key == key) {
                first_.reset();
                if (!rest_.empty()) {
                    first_.emplace(std::move(rest_.front()));
                    rest_.erase(rest_.begin());
                }
                return;
            }
            std::erase_if(rest_, [&](const Observer& o) { return o.key == key; });
        }
        template <class Fn>
        void for_each(Fn fn) {
            if (first_) fn(*first_);
            for (auto& observer : rest_) fn(observer);
        }

    private:
        std::optional<Observer> first_;
        std::vector<Observer> rest_;
    };

    std::uint64_t add_observer(Observer observer) {
        {
            std::lock_guard lock(mutex_);
            if (!ready()) {
                observer.key = ++last_observer_;
                observers_.add(std::move(observer));
                return last_observer_;
            }
        }
        notify(observer);
        return 0;
    }
    static void notify(Observer& observer) {
        if (observer.listener)
            observer.listener->completed(observer.tag);
        else
            run_callback(observer.call);
    }

    mutable std::mutex mutex_;
    mutable std::condition_variable ready_;
    std::atomic<bool> done_{false};  // written under mutex_, read anywhere
    std::exception_ptr error_;
    std::function<void(const std::exception&)> error_callback_;
    std::weak_ptr<ResultSource> source_;
    TaskControl control_;
    ObserverList observers_;
    std::uint64_t last_observer_ = 0;
};

template <class T>
class ResultState : public ResultStateBase {
public:
    using value_type = T;
    void set_value(T value) {
        if (callback_) run_callback([&] { callback_(value); });
        finish([&] { value_.emplace(std::move(value)); });
    }
    void set_callback(std::function<void(const T&)> callback) { callback_ = std::move(callback); }

    const T& get() const {
        wait();
        rethrow_if_failed();
        return *value_;
    }
    const T& get(std::chrono::duration<double> timeout) const {
        if (!wait(timeout)) throw TimeoutError("mproc::AsyncResult::get: timed out");
        rethrow_if_failed();
        return *value_;
    }
    // For the blocking pool calls, which own their result: no copy.
    T take() {
        wait();
        rethrow_if_failed();
        return std::move(*value_);
    }

private:
    std::optional<T> value_;
    std::function<void(const T&)> callback_;
};

template <>
class ResultState<void> : public ResultStateBase {
public:
    using value_type = void;
    void set_value() {
        if (callback_) run_callback([&] { callback_(); });
        finish([] {});
    }
    void set_callback(std::function<void()> callback) { callback_ = std::move(callback); }
    void get() const {
        wait();
        rethrow_if_failed();
    }
    void get(std::chrono::duration<double> timeout) const {
        if (!wait(timeout)) throw TimeoutError("mproc::AsyncResult::get: timed out");
        rethrow_if_failed();
    }
    void take() { get(); }

private:
    std::function<void()> callback_;
};

// How futures.hpp's free functions reach the state under a Future or an AsyncResult.
struct ResultAccess {
    template <class Handle>
    static const auto& state(const Handle& handle) {
        return handle.state_ptr();
    }
};

}  // namespace detail

/// The handle to one result computed in the background: what apply_async, map_async and
/// starmap_async return. Python: multiprocessing.pool.AsyncResult (ApplyResult, MapResult).
///
/// get() rethrows the task's exception, or the mproc::Error that failed it (WorkerCrashed,
/// TimeoutError, PoolTerminated, RemoteError; see errors.hpp). Every method of a moved-from
/// AsyncResult throws mproc::StateError.
///
/// Thread safety: all methods are const and may be called from any number of threads at once
/// (get() returns each of them the value; the result is kept until the last copy of the handle
/// is gone). Cost: ready() is one atomic load; a wait first receives replies itself for a few
/// dozen microseconds, then sleeps.
template <class T>
class AsyncResult {
public:
    /// Made by the Pool.
    explicit AsyncResult(std::shared_ptr<detail::ResultState<T>> state) : state_(std::move(state)) {}

    /// The result, once ready; rethrows the task's exception (see errors.hpp). Python:
    /// AsyncResult.get().
    decltype(auto) get() const { return state().get(); }
    /// As get(), but throws mproc::TimeoutError if the result is not ready within `timeout`.
    /// Python: AsyncResult.get(timeout).
    decltype(auto) get(std::chrono::duration<double> timeout) const { return state().get(timeout); }
    /// Blocks until the result is ready. Python: AsyncResult.wait().
    void wait() const { state().wait(); }
    /// True if the result became ready within `timeout`. Python: AsyncResult.wait(timeout), which
    /// returns None instead.
    bool wait(std::chrono::duration<double> timeout) const { return state().wait(timeout); }
    /// Whether the result is ready, without waiting. Python: AsyncResult.ready().
    [[nodiscard]] bool ready() const { return state().ready(); }
    /// Whether the task completed without an exception. StateError if it is not ready yet (Python
    /// raises ValueError). Python: AsyncResult.successful().
    [[nodiscard]] bool successful() const { return state().successful(); }
    /// Cancels the task if no worker has taken it yet: it then fails with mproc::CancelledError
    /// (error_callback included), and cancel() returns true, as it does for a task cancelled
    /// before. Returns false once a worker has the task or it is done; a map_async is cancelled
    /// whole or not at all. Python's AsyncResult cannot be cancelled (concurrent.futures'
    /// Future.cancel can; see futures.hpp).
    bool cancel() const { return state().cancel(false); }
    /// Whether the task was cancelled (and is done).
    [[nodiscard]] bool cancelled() const { return state().cancelled(); }

private:
    friend struct detail::ResultAccess;
    detail::ResultState<T>& state() const { return detail::live(state_, "mproc::AsyncResult"); }
    const std::shared_ptr<detail::ResultState<T>>& state_ptr() const {
        state();
        return state_;
    }
    std::shared_ptr<detail::ResultState<T>> state_;
};

}  // namespace mproc
