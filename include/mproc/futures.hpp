// mproc/futures.hpp: Python's concurrent.futures: executors that run calls in worker processes
// (or threads), futures for their results, and as_completed/wait over any mix of futures.
//
//   mproc::futures::ProcessPoolExecutor executor({.max_workers = 4});
//   mproc::futures::Future<int> f = executor.submit(square, 3);
//   f.add_done_callback([](const mproc::futures::Future<int>& done) { ... });
//   std::vector<mproc::futures::Future<int>> fs;
//   for (int i = 0; i < 100; ++i) fs.push_back(executor.submit(square, i));
//   for (auto& done : mproc::futures::as_completed(fs, 10s)) use(done.result());
//   auto [done, not_done] = mproc::futures::wait(fs, 10s, mproc::futures::FIRST_EXCEPTION);
//   for (int y : executor.map(square, std::views::iota(0, 100))) { ... }      // in order
//   executor.shutdown({.wait = true, .cancel_futures = true});                 // also ~executor
//
// Beyond Python: Future::terminate() stops a call that is already running (its worker is killed
// and replaced); a worker that dies fails only the future it was running (mproc::WorkerCrashed),
// where Python marks the whole executor broken; as_completed and wait accept Pool's AsyncResults
// too; a call whose function, arguments or result cannot cross a process boundary does not compile.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/async_result.hpp>
#include <mproc/errors.hpp>
#include <mproc/imap_results.hpp>
#include <mproc/pool.hpp>
#include <mproc/pool_options.hpp>

namespace mproc::futures {

/// The handle to the result of a call submitted to an executor. Python:
/// concurrent.futures.Future.
///
/// result() rethrows the call's exception, or the mproc::Error that failed it (WorkerCrashed,
/// CancelledError, PoolTerminated, RemoteError; see errors.hpp). Every method of a moved-from
/// Future throws mproc::StateError.
///
/// Thread safety: all methods are const and may be called from any number of threads at once;
/// copies share one result. Cost: done() is one atomic load; a wait first receives replies
/// itself for a few dozen microseconds, then sleeps.
template <class R>
class Future {
public:
    /// Made by an executor.
    explicit Future(std::shared_ptr<detail::ResultState<R>> state) : state_(std::move(state)) {}

    /// The call's result; waits for it. Rethrows the call's exception; mproc::CancelledError if
    /// the future was cancelled. Python: result().
    decltype(auto) result() const { return state().get(); }
    /// As result(), but throws mproc::TimeoutError if not done within `timeout`. Python:
    /// result(timeout).
    decltype(auto) result(std::chrono::duration<double> timeout) const { return state().get(timeout); }
    /// The call's exception once done (null if it returned); waits for it. mproc::CancelledError
    /// if the future was cancelled. Python: exception().
    std::exception_ptr exception() const {
        state().wait();
        return exception_of_done();
    }
    /// As exception(), but throws mproc::TimeoutError if not done within `timeout`. Python:
    /// exception(timeout).
    std::exception_ptr exception(std::chrono::duration<double> timeout) const {
        if (!state().wait(timeout)) throw TimeoutError("mproc::futures::Future::exception: timed out");
        return exception_of_done();
    }

    /// Cancels the call if no worker has taken it yet, and returns true (also for a future
    /// cancelled before); it then completes at once, with mproc::CancelledError. Returns false
    /// for a running or finished call. Python: cancel().
    bool cancel() const { return state().cancel(false); }
    /// As cancel(), and for a running call too: its worker is killed (with anything it started)
    /// and replaced, and the future completes with mproc::CancelledError. Returns false only for
    /// a call that has finished (or whose result is being delivered now). Under a ThreadPoolExecutor the
    /// thread cannot be killed: it finishes the call, whose result is dropped. Python has no such
    /// method (pebble's Future.cancel does this).
    bool terminate() const { return state().cancel(true); }
    /// Whether the future was cancelled (by cancel(), terminate() or shutdown's cancel_futures)
    /// and is done. Python: cancelled().
    [[nodiscard]] bool cancelled() const { return state().cancelled(); }
    /// Whether a worker has taken the call and it has not finished. As in Python, a call counts
    /// as running once it is handed to a worker, which may hold a few calls ahead of the one it
    /// runs. Python: running().
    [[nodiscard]] bool running() const { return state().running(); }
    /// Whether the call finished, failed or was cancelled. Python: done().
    [[nodiscard]] bool done() const { return state().ready(); }

    /// Calls `fn(future)` once the future is done: at once, on this thread, if it is; otherwise
    /// on the thread that completes it (the executor's own, or the one that cancels it).
    /// Callbacks run in the order added; one that throws is reported on stderr and ignored.
    /// Python: add_done_callback(fn).
    template <class Fn>
        requires std::is_invocable_v<Fn&, const Future&>
    void add_done_callback(Fn fn) const {
        state().add_observer([self = *this, fn = std::move(fn)]() mutable { fn(self); });
    }

    /// Whether both handles are copies of one future: futures can be keys of a map, as Python's
    /// future_to_url dicts do (std::hash<Future<R>> is defined too).
    friend bool operator==(const Future& a, const Future& b) noexcept { return a.state_ == b.state_; }

private:
    friend struct detail::ResultAccess;
    friend struct std::hash<Future>;
    std::exception_ptr exception_of_done() const {
        if (state().cancelled()) throw CancelledError("mproc::futures::Future: the call was cancelled");
        return state().error();
    }
    detail::ResultState<R>& state() const { return detail::live(state_, "mproc::futures::Future"); }
    const std::shared_ptr<detail::ResultState<R>>& state_ptr() const {
        state();
        return state_;
    }
    std::shared_ptr<detail::ResultState<R>> state_;
};

/// When wait() returns. Python: FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED.
enum class ReturnWhen { first_completed, first_exception, all_completed };
inline constexpr ReturnWhen FIRST_COMPLETED = ReturnWhen::first_completed;
inline constexpr ReturnWhen FIRST_EXCEPTION = ReturnWhen::first_exception;
inline constexpr ReturnWhen ALL_COMPLETED = ReturnWhen::all_completed;

/// What wait() returns: the futures that are done and those that are not, each in input order.
/// Python: the named tuple DoneAndNotDoneFutures(done, not_done), of sets.
template <class Handle>
struct DoneAndNotDone {
    /// The futures that are done (finished, failed or cancelled).
    std::vector<Handle> done;
    /// The others.
    std::vector<Handle> not_done;
};

namespace detail {

using mproc::detail::ResultAccess;
using mproc::detail::ResultSource;
using mproc::detail::ResultStateBase;

template <class Handle>
const ResultStateBase& state_of(const Handle& handle) {
    return *ResultAccess::state(handle);
}
template <class Handle>
ResultStateBase& mutable_state_of(const Handle& handle) {
    return *ResultAccess::state(handle);
}

// The futures of one as_completed or wait, told of each completion by a listener on its
// result: a waiter sleeps until one completes, and no thread polls. Observing a future allocates
// nothing (its listener's node is kept here), and the waiter takes the completions gathered
// meanwhile under one lock.
template <class Handle>
class Completions {
public:
    // Distinct futures only (Python takes a set), in input order.
    template <std::ranges::input_range Range>
    explicit Completions(Range&& handles) {
        if constexpr (std::ranges::sized_range<Range>) entries_.reserve(std::ranges::size(handles));
        for (auto&& handle : handles) entries_.push_back({handle, {}, false});
        drop_repeated();
        shared_ = std::make_unique<Shared>();
        shared_->indexes.reserve(entries_.size());
        taking_.reserve(entries_.size());
        if (!entries_.empty()) source_ = state_of(entries_.front().handle).source();
        // From here on the entries stay where they are: the results refer to their nodes.
        try {
            for (std::size_t i = 0; i < entries_.size(); ++i) {
                Entry& entry = entries_[i];
                entry.node = {shared_.get(), i};
                entry.listening = mutable_state_of(entry.handle).add_listener(entry.node);
            }
        } catch (...) {
            stop_listening();
            throw;
        }
    }
    Completions(Completions&&) noexcept = default;
    Completions& operator=(Completions&& other) noexcept {
        if (this != &other) {
            stop_listening();
            entries_ = std::move(other.entries_);
            shared_ = std::move(other.shared_);
            source_ = std::move(other.source_);
            taking_ = std::move(other.taking_);
            next_taken_ = other.next_taken_;
            taken_ = other.taken_;
        }
        return *this;
    }
    ~Completions() { stop_listening(); }

    std::size_t size() const { return entries_.size(); }
    const Handle& handle(std::size_t index) const { return entries_[index].handle; }

    // The index of the next future to complete, in completion order; nothing if none completes
    // by `deadline`.
    std::optional<std::size_t> next(std::chrono::steady_clock::time_point deadline) {
        if (auto index = take()) return index;
        // Help the engine of the futures receive its replies, as a waiter for one result does
        // (ResultStateBase::wait). Futures from several engines: the first future's engine.
        const std::shared_ptr<ResultSource> source = source_.lock();
        bool helped = false;
        if (source && deadline > std::chrono::steady_clock::now()) {
            source->receive_stream();
            const std::size_t seen = taken_;
            helped = source->help_until([&] { return shared_->count.load(std::memory_order_acquire) != seen; });
        }
        {
            std::unique_lock lock(shared_->mutex);
            if (shared_->arrived.wait_until(lock, deadline, [&] { return !shared_->indexes.empty(); }))
                taking_.swap(shared_->indexes);
        }
        if (source && !helped) source->sleep_ended();
        return take();
    }
    std::size_t taken() const { return taken_; }

private:
    // The next completion already gathered, taking the listener's new ones when those run out.
    std::optional<std::size_t> take() {
        if (next_taken_ == taking_.size()) {
            taking_.clear();
            next_taken_ = 0;
            std::lock_guard lock(shared_->mutex);
            taking_.swap(shared_->indexes);
        }
        if (next_taken_ == taking_.size()) return std::nullopt;
        ++taken_;
        const std::size_t index = taking_[next_taken_++];
        entries_[index].listening = false;
        return index;
    }

    // Removes the listeners not told yet. Returns once no result refers to a node of ours: a
    // result is told under its lock, which remove_listener takes.
    void stop_listening() noexcept {
        if (!shared_ || taken_ == entries_.size()) return;
        for (std::size_t i = next_taken_; i < taking_.size(); ++i) entries_[taking_[i]].listening = false;
        {
            std::lock_guard lock(shared_->mutex);
            for (const std::size_t index : shared_->indexes) entries_[index].listening = false;
        }
        for (auto& entry : entries_)
            if (entry.listening) mutable_state_of(entry.handle).remove_listener(entry.node);
    }

    // Keeps the first of futures listed more than once, without a node allocation per future:
    // an open-addressing set of their states.
    void drop_repeated() {
        if (entries_.size() < 2) return;
        std::size_t slots = 4;
        while (slots < entries_.size() * 2) slots *= 2;
        std::vector<const ResultStateBase*> seen(slots, nullptr);
        std::erase_if(entries_, [&](const Entry& entry) {
            const ResultStateBase* state = &state_of(entry.handle);
            std::size_t slot = (reinterpret_cast<std::uintptr_t>(state) >> 4) * 0x9e3779b97f4a7c15u & (slots - 1);
            for (; seen[slot] != nullptr; slot = (slot + 1) & (slots - 1))
                if (seen[slot] == state) return true;
            seen[slot] = state;
            return false;
        });
    }

    struct Entry {
        Handle handle;
        mproc::detail::ListenerNode node;  // on its result
        bool listening;                    // its result may still tell the node
    };
    struct Shared final : mproc::detail::CompletionListener {
        // Nothing here is touched once the mutex is let go: the owner may be gone by then (a
        // completion it has taken needs no stop_listening).
        void completed(std::size_t index) noexcept override {
            std::lock_guard lock(mutex);
            indexes.push_back(index);  // reserved for every future: cannot throw
            count.fetch_add(1, std::memory_order_release);
            arrived.notify_all();
        }
        std::mutex mutex;
        std::condition_variable arrived;
        std::vector<std::size_t> indexes;  // into entries_: completed, not yet taken
        std::atomic<std::size_t> count{0};   // completions so far: cheap to watch
    };
    std::vector<Entry> entries_;
    std::unique_ptr<Shared> shared_;
    std::weak_ptr<ResultSource> source_;
    std::vector<std::size_t> taking_;  // completions taken from shared_, in order
    std::size_t next_taken_ = 0;
    std::size_t taken_ = 0;
};

inline std::chrono::steady_clock::time_point deadline_after(std::optional<std::chrono::duration<double>> timeout) {
    if (!timeout) return std::chrono::steady_clock::time_point::max();
    return std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout);
}

template <class Range>
using handle_t = std::remove_cvref_t<std::ranges::range_reference_t<Range>>;

}  // namespace detail

/// Any Future or AsyncResult, whatever its result type: a mix of them can be waited for in one
/// call, `futures::wait(std::vector<futures::AnyFuture>{future, async_result}, 10s)`. It tells
/// whether and how the call ended, not its value: take that from the original handle. Thread
/// safety and cost as Future's.
class AnyFuture {
public:
    /// Refers to the same call as `future`.
    template <class R>
    AnyFuture(const Future<R>& future) : state_(mproc::detail::ResultAccess::state(future)) {}  // NOLINT(google-explicit-constructor)
    /// Refers to the same call as `result`.
    template <class R>
    AnyFuture(const AsyncResult<R>& result) : state_(mproc::detail::ResultAccess::state(result)) {}  // NOLINT(google-explicit-constructor)

    /// Whether the call finished, failed or was cancelled. Python: done().
    [[nodiscard]] bool done() const { return state_->ready(); }
    /// Whether the call was cancelled. Python: cancelled().
    [[nodiscard]] bool cancelled() const { return state_->cancelled(); }
    /// Whether a worker has the call and it has not finished. Python: running().
    [[nodiscard]] bool running() const { return state_->running(); }
    /// As Future::cancel(). Python: cancel().
    bool cancel() const { return state_->cancel(false); }
    /// The call's exception once done (null if it returned); waits for it. mproc::CancelledError
    /// if it was cancelled. Python: exception().
    std::exception_ptr exception() const {
        state_->wait();
        if (state_->cancelled()) throw CancelledError("mproc::futures::AnyFuture: the call was cancelled");
        return state_->error();
    }

private:
    friend struct mproc::detail::ResultAccess;
    const std::shared_ptr<mproc::detail::ResultStateBase>& state_ptr() const { return state_; }
    std::shared_ptr<mproc::detail::ResultStateBase> state_;
};

/// The range as_completed returns: each future once, as it completes (those done already
/// first). Iteration throws mproc::TimeoutError when the timeout runs out first. Python: the
/// iterator of as_completed. Not thread-safe; one pass.
template <class Handle>
class AsCompleted {
public:
    /// Made by as_completed.
    AsCompleted(detail::Completions<Handle> completions, std::chrono::steady_clock::time_point deadline)
        : completions_(std::move(completions)), deadline_(deadline) {}

    /// An input iterator over the futures, in completion order.
    class iterator {
    public:
        /// A Future or an AsyncResult.
        using value_type = Handle;
        /// Required of an iterator; never used.
        using difference_type = std::ptrdiff_t;
        /// A singular iterator.
        iterator() = default;
        /// An iterator over `owner`'s futures.
        explicit iterator(AsCompleted* owner) : owner_(owner) {}
        /// The current future; waits for it (TimeoutError when the time runs out).
        const Handle& operator*() const {
            fetch();
            return owner_->completions_.handle(*current_);
        }
        /// Moves past the current future (waiting for it first if it was not yet looked at).
        iterator& operator++() {
            fetch();
            fetched_ = false;
            return *this;
        }
        /// Moves past the current future.
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) { return it.at_end(); }

    private:
        bool at_end() const { return !fetched_ && owner_->completions_.taken() == owner_->completions_.size(); }
        void fetch() const {
            if (fetched_) return;
            current_ = owner_->completions_.next(owner_->deadline_);
            if (!current_) throw TimeoutError("mproc::futures::as_completed: timed out");
            fetched_ = true;
        }
        AsCompleted* owner_ = nullptr;
        mutable std::optional<std::size_t> current_;
        mutable bool fetched_ = false;
    };

    /// Where a range-for starts; only one pass is possible.
    iterator begin() { return iterator(this); }
    /// Reached once every future has been yielded.
    std::default_sentinel_t end() { return {}; }

private:
    detail::Completions<Handle> completions_;
    std::chrono::steady_clock::time_point deadline_;
};

/// Each future (or AsyncResult) of `futures` as it completes, those done already first; a
/// future listed twice is yielded once. The iteration throws mproc::TimeoutError if not all are
/// done within `timeout` (unset: no limit), counted from this call. Python:
/// concurrent.futures.as_completed(fs, timeout). No polling: the iterating thread sleeps until
/// one completes.
template <std::ranges::input_range Range>
[[nodiscard("the futures are yielded as the returned range is iterated")]]
auto as_completed(Range&& futures, std::optional<std::chrono::duration<double>> timeout = std::nullopt) {
    using Handle = detail::handle_t<Range>;
    return AsCompleted<Handle>(detail::Completions<Handle>(futures), detail::deadline_after(timeout));
}

/// Waits until the futures (or AsyncResults) are done as `return_when` says, or the timeout runs
/// out (no error then: some are in not_done). FIRST_EXCEPTION returns when one fails (a cancelled
/// one does not count, as in Python), or when all are done. Python: concurrent.futures.wait(fs, timeout, return_when).
template <std::ranges::input_range Range>
DoneAndNotDone<detail::handle_t<Range>> wait(Range&& futures,
                                             std::optional<std::chrono::duration<double>> timeout = std::nullopt,
                                             ReturnWhen return_when = ALL_COMPLETED) {
    using Handle = detail::handle_t<Range>;
    const auto deadline = detail::deadline_after(timeout);
    detail::Completions<Handle> completions(futures);
    auto failed = [&](std::size_t i) {
        const auto& state = detail::state_of(completions.handle(i));
        return state.error() != nullptr && !state.cancelled();
    };
    for (;;) {
        if (completions.taken() == completions.size()) break;
        if (return_when == FIRST_COMPLETED && completions.taken() > 0) break;
        const auto index = completions.next(deadline);
        if (!index) break;
        if (return_when == FIRST_EXCEPTION && failed(*index)) break;
    }
    DoneAndNotDone<Handle> result;
    for (std::size_t i = 0; i < completions.size(); ++i)
        (detail::state_of(completions.handle(i)).ready() ? result.done : result.not_done).push_back(completions.handle(i));
    return result;
}

/// Options of ProcessPoolExecutor and ThreadPoolExecutor. Python: their constructors' arguments.
struct ExecutorOptions {
    /// Number of workers; 0 means cpu_count() processes, or min(32, cpu_count() + 4) threads
    /// (Python's defaults). Python: max_workers.
    int max_workers = 0;
    /// How worker processes start (see start_method.hpp); unset: get_start_method(). Python:
    /// mp_context. Ignored by ThreadPoolExecutor.
    std::optional<StartMethod> start_method;
    /// Run by each worker before its first call: `.initializer = mproc::call(setup, 42)`. If it
    /// throws, the executor's constructor throws it. Python: initializer and initargs.
    Call initializer;
    /// A worker exits after this many calls and a fresh one replaces it. Python:
    /// max_tasks_per_child (3.11). Ignored by ThreadPoolExecutor.
    std::optional<long> max_tasks_per_child;
    /// Largest message (call or result) a worker takes or gives; larger ones fail with
    /// SerializationError.
    std::size_t max_message_size = std::size_t{4} << 30;
};

/// Options of an executor's map. Python: map's timeout and chunksize arguments.
struct MapOptions {
    /// Past this time from the map call, the iteration throws mproc::TimeoutError instead of
    /// waiting for the next result. The calls themselves are not stopped. Unset: no limit.
    std::optional<std::chrono::duration<double>> timeout;
    /// Items sent to a worker at a time (Python's default: 1).
    std::size_t chunksize = 1;
};

/// Options of shutdown(). Python: shutdown(wait, cancel_futures).
struct ShutdownOptions {
    /// Wait until every call submitted has finished and the workers have exited.
    bool wait = true;
    /// Cancel the calls no worker has taken yet (their futures end cancelled).
    bool cancel_futures = false;
};

/// What ProcessPoolExecutor and ThreadPoolExecutor share. Python: concurrent.futures.Executor.
///
/// Errors: submit and map throw mproc::PoolClosed after shutdown() (Python: RuntimeError); a call's
/// own exception, and mproc::WorkerCrashed for a call whose worker died, come from its future.
/// Thread safety: every method may be called from any number of threads at once. Cost: a submit
/// is one round trip to a worker; a worker holds a few calls ahead so it never idles.
class Executor {
public:
    /// Moves the executor; the moved-from one throws StateError from every method but destruction.
    Executor(Executor&&) noexcept = default;
    /// Moves the executor; the moved-from one throws StateError from every method but destruction.
    Executor& operator=(Executor&&) noexcept = default;
    /// shutdown(wait = true): every call submitted runs to completion. Python: the end of a
    /// `with` block.
    ~Executor() {
        if (!core_) return;
        try {
            shutdown();
        } catch (...) {
            // join() cannot fail once closed; nothing else may escape a destructor.
        }
    }

    /// Runs f(args...) in a worker: a Future for its result. The arguments convert to f's
    /// parameter types as a direct call would. Python: submit(fn, *args).
    template <class F, class... Args>
    [[nodiscard("the Future is where the result or the failure shows")]]
    auto submit(F f, Args&&... args) {
        auto state = mproc::detail::submit_apply(core(), {}, callbacks(NoCallback{}), std::move(f),
                                                 std::forward<Args>(args)...);
        return Future<typename decltype(state)::element_type::value_type>(std::move(state));
    }

    /// f(item) for every item, the results in input order, lazily: the range yields each as it
    /// is ready. The input is read, and every call submitted, before map returns (as Python).
    /// The iteration rethrows a call's exception where it reaches that item, and throws
    /// mproc::TimeoutError once `options.timeout` from this call has passed. Dropping the range
    /// before its end cancels the calls no worker has taken yet (as Python's map does when its
    /// iterator is closed). Python: map(fn, iterable, timeout, chunksize).
    template <class F, std::ranges::input_range Range>
    [[nodiscard("the results are taken as the returned range is iterated")]]
    auto map(F f, Range&& items, const MapOptions& options = {}) {
        return map_items<false>(std::move(f), to_vector(std::forward<Range>(items)), options);
    }
    /// f(a, b, ...) for items taken from several inputs side by side, stopping at the shortest
    /// (Python's zip). Python: map(fn, *iterables).
    template <class F, std::ranges::input_range First, std::ranges::input_range... Rest>
        requires(sizeof...(Rest) > 0)
    [[nodiscard("the results are taken as the returned range is iterated")]]
    auto map(F f, First&& first, Rest&&... rest) {
        return map(MapOptions{}, std::move(f), std::forward<First>(first), std::forward<Rest>(rest)...);
    }
    /// As map(f, inputs...), with a timeout and a chunksize.
    template <class F, std::ranges::input_range First, std::ranges::input_range... Rest>
        requires(sizeof...(Rest) > 0)
    [[nodiscard("the results are taken as the returned range is iterated")]]
    auto map(const MapOptions& options, F f, First&& first, Rest&&... rest) {
        return map_items<true>(std::move(f), zip(std::forward<First>(first), std::forward<Rest>(rest)...), options);
    }

    /// No more calls may be submitted; with `wait`, waits until every submitted call has finished
    /// and the workers have exited; with `cancel_futures`, first cancels the calls no worker has
    /// taken. May be called again. Python: shutdown(wait=True, *, cancel_futures=False).
    void shutdown(ShutdownOptions options = {}) {
        if (options.cancel_futures) core()->cancel_queued();
        core()->close();
        if (options.wait) core()->join();
    }

    /// The number of workers (Python: _max_workers).
    int max_workers() const { return core()->processes(); }
    /// Current worker pids (empty for threads).
    std::vector<int> worker_pids() const { return core()->worker_pids(); }

protected:
    /// For the executors: the engine that runs the calls.
    explicit Executor(std::shared_ptr<mproc::detail::PoolCore> core) : core_(std::move(core)) {}
    /// Options with `max_workers` workers and the defaults otherwise.
    static ExecutorOptions workers(int max_workers) {
        ExecutorOptions options;
        options.max_workers = max_workers;
        return options;
    }
    /// The Pool options that `options` stand for.
    static PoolOptions pool_options(const ExecutorOptions& options) {
        return {.processes = options.max_workers,
                .initializer = options.initializer,
                .maxtasksperchild = options.max_tasks_per_child,
                .max_message_size = options.max_message_size,
                .start_method = options.start_method};
    }

private:
    template <class Range>
    static auto to_vector(Range&& items) {
        std::vector<mproc::detail::range_item_t<Range>> values;
        if constexpr (std::ranges::sized_range<Range>) values.reserve(std::ranges::size(items));
        for (auto&& item : items) values.push_back(item);
        return values;
    }
    template <class... Ranges>
    static auto zip(Ranges&&... inputs) {
        std::vector<std::tuple<mproc::detail::range_item_t<Ranges>...>> tuples;
        auto positions = std::make_tuple(std::ranges::begin(inputs)...);
        auto ends = std::make_tuple(std::ranges::end(inputs)...);
        for (;;) {
            const bool more = [&]<std::size_t... I>(std::index_sequence<I...>) {
                return ((std::get<I>(positions) != std::get<I>(ends)) && ...);
            }(std::index_sequence_for<Ranges...>{});
            if (!more) break;
            [&]<std::size_t... I>(std::index_sequence<I...>) {
                tuples.emplace_back(*std::get<I>(positions)...);
                (++std::get<I>(positions), ...);
            }(std::index_sequence_for<Ranges...>{});
        }
        return tuples;
    }
    template <bool Spread, class F, class Item>
    auto map_items(F f, std::vector<Item> items, const MapOptions& options) {
        mproc::detail::require_shippable_callable<F>();
        mproc::detail::require_shippable_chunk<F, Item, Spread>();
        const auto deadline = detail::deadline_after(options.timeout);
        mproc::MapOptions pool_options;
        pool_options.chunksize = options.chunksize == 0 ? 1 : options.chunksize;
        return ImapResults<F, std::ranges::owning_view<std::vector<Item>>, Spread, true>(
            core(), std::move(f), std::ranges::owning_view<std::vector<Item>>(std::move(items)), pool_options, deadline);
    }

    const std::shared_ptr<mproc::detail::PoolCore>& core() const {
        mproc::detail::live(core_, "mproc::futures::Executor");
        return core_;
    }
    std::shared_ptr<mproc::detail::PoolCore> core_;
};

/// An executor whose workers are processes. Python: concurrent.futures.ProcessPoolExecutor.
/// Throws what the initializer threw, mproc::OSError or mproc::StartError if the workers cannot
/// be started.
class ProcessPoolExecutor : public Executor {
public:
    /// Python: ProcessPoolExecutor(max_workers, mp_context, initializer, initargs,
    /// max_tasks_per_child).
    explicit ProcessPoolExecutor(const ExecutorOptions& options = {})
        : Executor(mproc::detail::PoolCore::start(mproc::detail::pool_config(pool_options(options)))) {}
    /// `max_workers` processes (0: cpu_count()).
    explicit ProcessPoolExecutor(int max_workers) : ProcessPoolExecutor(workers(max_workers)) {}
};

/// An executor whose workers are threads of this process (mproc::ThreadPool's engine). Python:
/// concurrent.futures.ThreadPoolExecutor. max_workers 0 means Python's default for threads,
/// min(32, cpu_count() + 4); start_method and max_tasks_per_child are ignored. A crashing call
/// takes the program down; a terminated running call's thread finishes it, its result dropped
/// (thread_pool.hpp says what else differs from processes). Throws what the initializer threw.
class ThreadPoolExecutor : public Executor {
public:
    /// Python: ThreadPoolExecutor(max_workers, initializer, initargs); the threads are named
    /// PoolThread-1, PoolThread-2, ... (Python's thread_name_prefix is not offered).
    explicit ThreadPoolExecutor(const ExecutorOptions& options = {})
        : Executor(mproc::detail::PoolCore::start_threads(mproc::detail::pool_config(thread_pool_options(options)))) {}
    /// `max_workers` threads (0: min(32, cpu_count() + 4)).
    explicit ThreadPoolExecutor(int max_workers) : ThreadPoolExecutor(workers(max_workers)) {}

private:
    static PoolOptions thread_pool_options(const ExecutorOptions& options) {
        PoolOptions pool = pool_options(options);
        if (pool.processes == 0) pool.processes = std::min(32, cpu_count() + 4);
        return pool;
    }
};

}  // namespace mproc::futures

// Futures as keys of unordered containers: the identity of the future (copies hash alike).
/// @cond
template <class R>
struct std::hash<mproc::futures::Future<R>> {
    std::size_t operator()(const mproc::futures::Future<R>& future) const noexcept {
        return std::hash<const void*>()(future.state_.get());
    }
};
/// @endcond
