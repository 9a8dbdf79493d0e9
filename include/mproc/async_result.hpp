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
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/detail/handle.hpp>
#include <mproc/errors.hpp>

namespace mproc {

namespace detail {

// What cancel() and terminate() of one call (an apply, or a map_async's chunks) reach: shared by
// the call's result and its jobs. The counts are set by the engine, under its lock. Kept small:
// a pool may hold a million pending applies, each with one.
struct TaskControl {
    static constexpr std::uint32_t dispatched_bit = 1u << 0;  // a job of it was handed to a worker
    static constexpr std::uint32_t cancelled_bit = 1u << 1;   // it ends with CancelledError, whatever its jobs deliver
    // The bits from here up are free for the call's result (ResultStateBase), whose futex word
    // this is.
    static constexpr std::uint32_t first_free_bit = 1u << 2;

    std::uint32_t jobs = 0;            // how many jobs the call was cut into; 0: not cancellable
    std::uint32_t queued = 0;          // how many of them wait in the engine's queue
    std::uint32_t queue_position = 0;  // where the last one queued went (pool::Scheduler's numbering, modulo 2^32)
    std::atomic<std::uint32_t> status{0};

    [[nodiscard]] bool dispatched() const noexcept { return (status.load() & dispatched_bit) != 0; }
    [[nodiscard]] bool cancelled() const noexcept { return (status.load() & cancelled_bit) != 0; }
    void mark_dispatched() noexcept {
        // Once per call, not once per job: the read is cheaper than a locked write.
        if ((status.load(std::memory_order_relaxed) & dispatched_bit) == 0)
            status.fetch_or(dispatched_bit, std::memory_order_relaxed);
    }
    void mark_cancelled() noexcept { status.fetch_or(cancelled_bit); }
};
static_assert(sizeof(TaskControl) == 16, "TaskControl is in every pending result: keep it to four 32-bit words");

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
// result allocates no function object.
class CompletionListener {
public:
    virtual void completed(std::size_t tag) noexcept = 0;

protected:
    ~CompletionListener() = default;
};

// One listener's watch on one result: a node its owner (an as_completed or wait) keeps, one per
// result, so that observing a result allocates nothing. The result refers to it until it is
// told, or until ResultStateBase::remove_listener returns.
struct ListenerNode {
    CompletionListener* listener;
    std::size_t tag;
};

// What waits for a result: a done callback (add_done_callback), or an as_completed or wait.
struct ResultObserver {
    std::uint64_t key;          // of a callback; 0 for a listener
    std::function<void()> call;  // a done callback, or
    ListenerNode* node;          // an as_completed or wait
};

// The observers of one result, in the order added. Most results have one at most: it is kept in
// place.
class ResultObserverList {
public:
    void add(ResultObserver observer) {
        if (!first_)
            first_.emplace(std::move(observer));
        else
            rest_.push_back(std::move(observer));
    }
    // Removes the observer of which `is_it` is true, if any.
    template <class Match>
    void remove_if(Match is_it) {
        if (first_ && is_it(*first_)) {
            first_.reset();
            if (!rest_.empty()) {
                first_.emplace(std::move(rest_.front()));
                rest_.erase(rest_.begin());
            }
            return;
        }
        std::erase_if(rest_, is_it);
    }
    template <class Fn>
    void for_each(Fn fn) {
        if (first_) fn(*first_);
        for (auto& observer : rest_) fn(observer);
    }

private:
    std::optional<ResultObserver> first_;
    std::vector<ResultObserver> rest_;
};

// What few results have: callbacks, or more than one observer. Allocated when one is added, so
// that a result without any stays small.
struct ResultExtras {
    // The callback on the value, given a pointer to it (ResultState<T> knows its type).
    std::function<void(const void*)> callback;
    std::function<void(const std::exception&)> error_callback;
    ResultObserverList observers;
    std::uint64_t last_observer = 0;
};

// The state of one result, shared by its handles (AsyncResult, Future) and the job that
// completes it. Its one 32-bit word (TaskControl::status) holds the call's control bits, whether
// it is done, a lock bit guarding its observers, and whether a thread sleeps on it (a futex). It
// is completed once, by whichever thread owns its job then (the engine's, a canceller, a
// thread-pool worker, or a waiter receiving replies): a job passes from thread to thread only
// under the engine's lock, so two completions never run at once. Any number of threads wait for
// it.
class ResultStateBase {
public:
    ResultStateBase() = default;
    ResultStateBase(const ResultStateBase&) = delete;
    ResultStateBase& operator=(const ResultStateBase&) = delete;
    ~ResultStateBase() { delete extras(); }

    void wait() const {
        if (ready()) return;
        const auto source = source_.lock();
        if (source && source->help_until([this] { return ready(); })) return;
        sleep_until_ready(std::nullopt);
        if (source) source->sleep_ended();
    }
    bool wait(std::chrono::duration<double> timeout) const {
        if (ready()) return true;
        const auto source = timeout.count() > 0 ? source_.lock() : nullptr;
        if (source && source->help_until([this] { return ready(); })) return true;
        const bool done = sleep_until_ready(timeout);
        if (source) source->sleep_ended();
        return done;
    }
    [[nodiscard]] bool ready() const noexcept { return (status().load(std::memory_order_acquire) & done_bit) != 0; }
    [[nodiscard]] bool successful() const {
        if (!ready()) throw StateError("mproc::AsyncResult::successful: the result is not ready");
        return !error_;
    }
    // The failure, once ready (null for a result, or before).
    [[nodiscard]] std::exception_ptr error() const { return ready() ? error_ : nullptr; }

    bool cancel(bool running) {
        if (control_.jobs == 0) return false;
        if (ready()) return cancelled();
        const auto source = source_.lock();
        return source && source->cancel(control_, running);
    }
    [[nodiscard]] bool cancelled() const noexcept { return ready() && control_.cancelled(); }
    [[nodiscard]] bool running() const noexcept {
        return !ready() && control_.dispatched() && !control_.cancelled();
    }

    // Calls `observer` once the result is ready: at once, on this thread, if it is; otherwise on
    // the thread that completes it. Returns a key for remove_observer (0: it ran already).
    std::uint64_t add_observer(std::function<void()> observer) {
        {
            const ExtrasLock lock(*this);
            if (!ready()) {
                ResultExtras& extras = extras_locked();
                const std::uint64_t key = ++extras.last_observer;
                extras.observers.add(ResultObserver{key, std::move(observer), nullptr});
                return key;
            }
        }
        run_callback(observer);
        return 0;
    }
    // Drops an observer that has not run yet.
    void remove_observer(std::uint64_t key) {
        const ExtrasLock lock(*this);
        // Once done, the completing thread owns the observers.
        if (ready()) return;
        if (ResultExtras* extras = extras_of(observers_.load(std::memory_order_relaxed)))
            extras->observers.remove_if([&](const ResultObserver& o) { return o.node == nullptr && o.key == key; });
    }

    // Tells node.listener `completed(node.tag)` once the result is ready: at once, on this
    // thread, if it is (and returns false); otherwise on the thread that completes it. The first
    // listener of a result costs no allocation. `node` must stay where it is until it is told or
    // removed.
    [[nodiscard]] bool add_listener(ListenerNode& node) {
        {
            const ExtrasLock lock(*this);
            if (!ready()) {
                if (observers_.load(std::memory_order_relaxed) == 0)
                    observers_.store(tagged(&node), std::memory_order_release);
                else
                    extras_locked().observers.add(ResultObserver{0, nullptr, &node});
                return true;
            }
        }
        node.listener->completed(node.tag);
        return false;
    }
    // Drops a listener that has not been told yet. Either way, the result no longer refers to
    // `node` once this returns: listeners are told under the lock this takes.
    void remove_listener(ListenerNode& node) {
        const ExtrasLock lock(*this);
        if (ready()) return;
        const std::uintptr_t held = observers_.load(std::memory_order_relaxed);
        if (held == tagged(&node))
            observers_.store(0, std::memory_order_relaxed);
        else if (ResultExtras* extras = extras_of(held))
            extras->observers.remove_if([&](const ResultObserver& o) { return o.node == &node; });
    }

    // Completion, by one thread: the first outcome counts, with its callback; a later one (a job
    // failed after it had delivered) is dropped.
    void set_error(std::exception_ptr error) {
        if (ready()) return;
        const ResultExtras* extras = this->extras();
        if (extras && extras->error_callback) {
            try {
                std::rethrow_exception(error);
            } catch (const std::exception& e) {
                run_callback([&] { extras->error_callback(e); });
            } catch (...) {
            }
        }
        finish([&] { error_ = std::move(error); });
    }

    // Callbacks are set before the result is shared (the submitting call does it).
    void set_error_callback(std::function<void(const std::exception&)> callback) {
        const ExtrasLock lock(*this);
        extras_locked().error_callback = std::move(callback);
    }
    void set_source(std::weak_ptr<ResultSource> source) { source_ = std::move(source); }
    std::shared_ptr<ResultSource> source() const { return source_.lock(); }
    // Makes the call cancellable: its `jobs` jobs share the returned control, which lives as
    // long as this state (the jobs keep the state alive through their sink).
    TaskControl& enable_cancel(std::size_t jobs) {
        control_.jobs = static_cast<std::uint32_t>(jobs);
        return control_;
    }

protected:
    static constexpr std::uint32_t done_bit = TaskControl::first_free_bit;
    static constexpr std::uint32_t lock_bit = TaskControl::first_free_bit << 1;     // guards observers_
    static constexpr std::uint32_t sleepers_bit = TaskControl::first_free_bit << 2;  // a thread sleeps on the word

    // Holds the lock bit: adding and removing observers, against completion. Held for a few
    // instructions (an allocation the first time; telling the listeners at completion), so
    // waiting for it just yields.
    class ExtrasLock {
    public:
        explicit ExtrasLock(const ResultStateBase& state) noexcept : state_(state) {
            state_.set_when_unlocked(lock_bit, std::memory_order_acquire);
        }
        ~ExtrasLock() { state_.status().fetch_and(~lock_bit, std::memory_order_release); }
        ExtrasLock(const ExtrasLock&) = delete;
        ExtrasLock& operator=(const ExtrasLock&) = delete;

    private:
        const ResultStateBase& state_;
    };

    // Stores the outcome, then marks the result done, wakes its waiters and tells its observers.
    template <class Store>
    void finish(Store store) {
        store();
        // An observer being added or removed now either sees the result done or is in the list.
        // The lock is kept while the listeners are told (quick, and never user code), so that
        // remove_listener returns only once its node is no longer used.
        const std::uint32_t before = set_when_unlocked(done_bit | lock_bit, std::memory_order_acq_rel);
        if ((before & sleepers_bit) != 0) wake_sleepers();
        const std::uintptr_t held = observers_.load(std::memory_order_relaxed);
        ResultExtras* const extras = extras_of(held);
        if (held != 0 && extras == nullptr)
            tell(*node_of(held));
        else if (extras != nullptr)
            extras->observers.for_each([](ResultObserver& observer) {
                if (observer.node != nullptr) tell(*observer.node);
            });
        status().fetch_and(~lock_bit, std::memory_order_release);
        // Done: no observer is added or removed any more. The callbacks are taken out, so that one
        // holding a handle to this result does not keep it alive.
        if (extras != nullptr) {
            ResultObserverList observers = std::move(extras->observers);
            extras->observers = {};
            observers.for_each([](ResultObserver& observer) {
                if (observer.node == nullptr) run_callback(observer.call);
            });
        }
    }

    // Under the lock; allocates the extras the first time, and moves a listener kept in place
    // into them.
    ResultExtras& extras_locked() {
        const std::uintptr_t held = observers_.load(std::memory_order_relaxed);
        if (ResultExtras* extras = extras_of(held)) return *extras;
        auto extras = std::make_unique<ResultExtras>();
        if (held != 0) extras->observers.add(ResultObserver{0, nullptr, node_of(held)});
        observers_.store(reinterpret_cast<std::uintptr_t>(extras.get()), std::memory_order_release);
        return *extras.release();
    }
    const ResultExtras* extras() const noexcept { return extras_of(observers_.load(std::memory_order_acquire)); }

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

private:
    std::atomic<std::uint32_t>& status() const noexcept { return control_.status; }
    // Sets `bits` in the status word once the lock bit is clear; returns the word before.
    std::uint32_t set_when_unlocked(std::uint32_t bits, std::memory_order order) const noexcept;
    void wake_sleepers() noexcept;
    // Sleeps until ready, or until the timeout passes (none: no limit); returns ready().
    bool sleep_until_ready(std::optional<std::chrono::duration<double>> timeout) const;

    static void tell(const ListenerNode& node) noexcept { node.listener->completed(node.tag); }

    // observers_ holds nothing, the extras (owned), or a single listener's node: its address
    // with the low bit set.
    static std::uintptr_t tagged(ListenerNode* node) noexcept { return reinterpret_cast<std::uintptr_t>(node) | 1u; }
    static ListenerNode* node_of(std::uintptr_t held) noexcept {
        return reinterpret_cast<ListenerNode*>(held & ~std::uintptr_t{1});
    }
    static ResultExtras* extras_of(std::uintptr_t held) noexcept {
        return (held & 1u) != 0 ? nullptr : reinterpret_cast<ResultExtras*>(held);
    }
    static_assert(alignof(ListenerNode) > 1 && alignof(ResultExtras) > 1, "observers_ tags a node by its low bit");

    std::weak_ptr<ResultSource> source_;
    std::exception_ptr error_;                 // written before done_bit, read after
    std::atomic<std::uintptr_t> observers_{0};  // changed under the lock bit
    mutable TaskControl control_;              // and the status word
};

template <class T>
class ResultState : public ResultStateBase {
public:
    using value_type = T;
    void set_value(T value) {
        if (this->ready()) return;
        if (const ResultExtras* extras = this->extras(); extras && extras->callback)
            run_callback([&] { extras->callback(&value); });
        finish([&] { value_.emplace(std::move(value)); });
    }
    // Before the result is shared, as set_error_callback.
    template <class Callback>
    void set_callback(Callback callback) {
        const ExtrasLock lock(*this);
        extras_locked().callback = [callback = std::move(callback)](const void* value) mutable {
            callback(*static_cast<const T*>(value));
        };
    }

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
};

template <>
class ResultState<void> : public ResultStateBase {
public:
    using value_type = void;
    void set_value() {
        if (this->ready()) return;
        if (const ResultExtras* extras = this->extras(); extras && extras->callback)
            run_callback([&] { extras->callback(nullptr); });
        finish([] {});
    }
    // Before the result is shared, as set_error_callback.
    template <class Callback>
    void set_callback(Callback callback) {
        const ExtrasLock lock(*this);
        extras_locked().callback = [callback = std::move(callback)](const void*) mutable { callback(); };
    }
    void get() const {
        wait();
        rethrow_if_failed();
    }
    void get(std::chrono::duration<double> timeout) const {
        if (!wait(timeout)) throw TimeoutError("mproc::AsyncResult::get: timed out");
        rethrow_if_failed();
    }
    void take() { get(); }
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
