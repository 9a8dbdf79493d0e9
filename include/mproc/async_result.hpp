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
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>

#include <mproc/detail/handle.hpp>
#include <mproc/errors.hpp>

namespace mproc {

namespace detail {

// An engine that lets a thread waiting for one of its results receive results itself for a short
// while, instead of sleeping until the engine's own thread wakes it: a round trip then costs
// no wake-up at the parent's end when the worker answers within microseconds.
class WaitHelper {
public:
    // Returns true once `ready()` is true, or false after a bounded spin: the caller then sleeps,
    // and calls sleep_ended() when woken. `ready` is called often: it must be cheap.
    virtual bool help_until(const std::function<bool()>& ready) = 0;
    virtual void sleep_ended() = 0;
    // For a thread taking a stream of results (imap): receives the results waiting now, and the
    // next ones for a little while, as they are taken.
    virtual void receive_stream() = 0;

protected:
    ~WaitHelper() = default;
};

class ResultStateBase {
public:
    void wait() const {
        if (ready()) return;
        const auto helper = helper_.lock();
        if (helper && helper->help_until([this] { return ready(); })) return;
        {
            std::unique_lock lock(mutex_);
            ready_.wait(lock, [&] { return ready(); });
        }
        if (helper) helper->sleep_ended();
    }
    bool wait(std::chrono::duration<double> timeout) const {
        if (ready()) return true;
        const auto helper = timeout.count() > 0 ? helper_.lock() : nullptr;
        if (helper && helper->help_until([this] { return ready(); })) return true;
        bool done;
        {
            std::unique_lock lock(mutex_);
            done = ready_.wait_for(lock, timeout, [&] { return ready(); });
        }
        if (helper) helper->sleep_ended();
        return done;
    }
    bool ready() const noexcept { return done_.load(std::memory_order_acquire); }
    bool successful() const {
        std::lock_guard lock(mutex_);
        if (!ready()) throw StateError("mproc::AsyncResult::successful: the result is not ready");
        return !error_;
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
    void set_helper(std::weak_ptr<WaitHelper> helper) { helper_ = std::move(helper); }

protected:
    template <class Store>
    void finish(Store store) {
        {
            std::lock_guard lock(mutex_);
            store();
            done_.store(true, std::memory_order_release);
        }
        ready_.notify_all();
    }

    // A throwing callback must not take the pool's thread down with it.
    template <class Call>
    static void run_callback(Call call) noexcept {
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

    mutable std::mutex mutex_;
    mutable std::condition_variable ready_;
    std::atomic<bool> done_{false};  // written under mutex_, read anywhere
    std::exception_ptr error_;
    std::function<void(const std::exception&)> error_callback_;
    std::weak_ptr<WaitHelper> helper_;
};

template <class T>
class ResultState : public ResultStateBase {
public:
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

private:
    detail::ResultState<T>& state() const { return detail::live(state_, "mproc::AsyncResult"); }
    std::shared_ptr<detail::ResultState<T>> state_;
};

}  // namespace mproc
