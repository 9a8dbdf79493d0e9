// mproc/pool.hpp: mproc::Pool, a pool of worker processes (Python's multiprocessing.Pool).
//
//   int square(int x) { return x * x; }
//
//   mproc::Pool pool(4);                                    // 4 workers; Pool() uses cpu_count()
//   std::vector<int> a = pool.map(square, std::vector{1, 2, 3});
//   auto r = pool.map_async(square, std::views::iota(0, 1000));   // AsyncResult<std::vector<int>>
//   for (int x : pool.imap(square, std::views::iota(0, 10))) { }  // in order, lazily
//   for (int x : pool.imap_unordered(square, items, {.chunksize = 16})) { }  // completion order
//   auto s = pool.starmap([](int a, int b) { return a + b; }, std::vector<std::tuple<int, int>>{{1, 2}});
//   int v = pool.apply_async(square, 2).get();
//
// Functions, arguments and results cross a process boundary: see serialize.hpp for what can. A
// task is a function, a captureless lambda, or mproc::partial(f, values...) for one that needs
// values a lambda would capture (partial.hpp): a lambda with captures does not compile.
// Inputs may be any input range: containers, views, generators. map and starmap read their whole
// input first (as Python does); imap and imap_unordered read it lazily with a bounded number of
// items in flight, so an endless generator works in bounded memory.
//
// Failures (errors.hpp): an exception thrown by a task is rethrown by get()/map/the imap
// iteration. A worker that dies while running a task (a crash, a signal, exit()) fails only that
// task, with mproc::WorkerCrashed, and is replaced. A task running longer than its timeout fails
// with mproc::TimeoutError; its worker is killed (with anything it started) and replaced. map and
// map_async wait for every chunk, then report the failure of the earliest failed item.
//
// Lifetime: close() stops new submissions; join() waits for the work and the workers; terminate()
// kills the workers at once and fails unfinished tasks with mproc::PoolTerminated. The destructor
// of a pool that was not terminated finishes the work already submitted (close + join): no result
// is silently dropped. (Python's `with Pool()` terminates instead.)
//
// What the calls take and give: pool_options.hpp (PoolOptions, MapOptions, TaskOptions, and the
// callbacks of the *_async calls), async_result.hpp (AsyncResult), imap_results.hpp
// (ImapResults). Discarding what an *_async call or an imap returns is a compiler warning: the
// failure of such a call shows nowhere else.
#pragma once

#include <memory>
#include <ranges>
#include <utility>
#include <vector>

#include <mproc/async_result.hpp>
#include <mproc/detail/pool_core.hpp>
#include <mproc/detail/pool_submit.hpp>
#include <mproc/errors.hpp>
#include <mproc/imap_results.hpp>
#include <mproc/pool_options.hpp>
#include <mproc/process.hpp>

namespace mproc {

namespace detail {
// Checks a Pool's options and fills in the defaults (cpu_count(), get_start_method()).
PoolConfig pool_config(const PoolOptions& options);
}  // namespace detail

/// A pool of worker processes. Python: multiprocessing.pool.Pool. See the top of this file.
///
/// Errors: a task's own exception is rethrown by get(), map, starmap, apply and the imap
/// iteration (as a RemoteError when its type cannot be recreated); mproc::WorkerCrashed,
/// mproc::TimeoutError and mproc::PoolTerminated fail a task for the reasons their names say;
/// a submission throws mproc::PoolClosed after close(), mproc::PoolTerminated after terminate();
/// mproc::StateError is thrown by any method of a moved-from Pool; mproc::SerializationError when a task, an argument or a
/// result cannot be encoded or is larger than PoolOptions::max_message_size.
///
/// Thread safety: every method may be called from any number of threads at once on one Pool
/// (submissions, waits and close/terminate/join are serialized by the pool's own lock; results
/// are delivered by the pool's thread). Moving or destroying the Pool while another thread uses
/// it is a race, as for any object. Each returned AsyncResult and ImapResults has its own rules.
///
/// Cost: a task (a chunk of items) is one round trip to a worker through shared memory. A
/// thread waiting for a result receives replies itself for a few dozen microseconds before it
/// sleeps, so a quick round trip wakes nobody in the parent.
class Pool {
public:
    /// `processes` workers; 0 means cpu_count(). Python: Pool(processes).
    /// Throws mproc::OSError or mproc::StartError if the workers cannot be started.
    explicit Pool(int processes = 0) : Pool(options_for(processes)) {}
    /// Python: Pool(processes, initializer, initargs, maxtasksperchild), plus a start method and
    /// a message size limit. Throws what the initializer threw (once, not per worker),
    /// mproc::OSError or mproc::StartError if the workers cannot be started.
    explicit Pool(const PoolOptions& options);
    /// Moves the pool; the moved-from Pool throws StateError from every method but destruction.
    Pool(Pool&&) noexcept = default;
    /// Moves the pool; the moved-from Pool throws StateError from every method but destruction.
    Pool& operator=(Pool&&) noexcept = default;
    /// Unless terminated: close(), then join(). Every submitted task runs to completion.
    ~Pool();

    /// @name map family: f(item) for each item
    /// @{

    /// f(item) for every item, in input order; blocks until all are done. Python: Pool.map.
    /// Reads the whole input first. Waits for every chunk, then throws the exception of the
    /// earliest failed item. Cost: one round trip per chunk (MapOptions::chunksize items); an
    /// input laid out as an array is sent from where it lies, without a copy.
    template <class F, std::ranges::input_range Range>
    auto map(F f, Range&& items, const MapOptions& options = {}) {
        return detail::submit_map<false, detail::Blocking::yes>(core(), std::move(f), std::forward<Range>(items), options)
            ->take();
    }
    /// As map, without blocking: an AsyncResult<std::vector<R>>. Python: Pool.map_async.
    /// Reads and copies the whole input before it returns.
    template <class F, std::ranges::input_range Range>
    [[nodiscard("the AsyncResult is where the result or the failure shows: get() it, or pass callbacks")]]
    auto map_async(F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(detail::submit_map<false>(core(), std::move(f), std::forward<Range>(items), options));
    }
    /// As map_async, with Python's callback and error_callback (see Callbacks for their
    /// signatures). Python: Pool.map_async(f, items, callback=..., error_callback=...).
    template <class C, class E, class F, std::ranges::input_range Range>
    auto map_async(Callbacks<C, E> handlers, F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(
            detail::submit_map<false>(core(), std::move(f), std::forward<Range>(items), options, std::move(handlers)));
    }

    /// @}

    /// @name starmap family: f(args...) for each tuple of args
    /// @{

    /// std::apply(f, item) for every tuple (or pair) of arguments, in input order; blocks. Python:
    /// Pool.starmap. Errors and cost as map.
    template <class F, std::ranges::input_range Range>
    auto starmap(F f, Range&& items, const MapOptions& options = {}) {
        return detail::submit_map<true, detail::Blocking::yes>(core(), std::move(f), std::forward<Range>(items), options)
            ->take();
    }
    /// As starmap, without blocking. Python: Pool.starmap_async.
    template <class F, std::ranges::input_range Range>
    [[nodiscard("the AsyncResult is where the result or the failure shows: get() it, or pass callbacks")]]
    auto starmap_async(F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(detail::submit_map<true>(core(), std::move(f), std::forward<Range>(items), options));
    }
    /// As starmap_async, with Python's callback and error_callback (see Callbacks).
    template <class C, class E, class F, std::ranges::input_range Range>
    auto starmap_async(Callbacks<C, E> handlers, F f, Range&& items, const MapOptions& options = {}) {
        return AsyncResult(
            detail::submit_map<true>(core(), std::move(f), std::forward<Range>(items), options, std::move(handlers)));
    }

    /// @}

    /// @name imap family: lazily, in input order or in completion order
    /// @{

    /// f(item) for every item, as an ImapResults range in input order. Python: Pool.imap.
    /// Reads the input lazily, keeping a bounded number of items in flight (an endless input
    /// works). MapOptions::chunksize defaults to 1. Throws PoolClosed on a closed pool; a failed
    /// item throws where the iteration reaches it.
    template <class F, std::ranges::input_range Range>
    [[nodiscard("the results are computed as the returned range is iterated: iterate it")]]
    auto imap(F f, Range&& items, const MapOptions& options = {}) {
        return make_imap<true>(std::move(f), std::forward<Range>(items), options);
    }
    /// As imap, with the results in the order they complete. Python: Pool.imap_unordered.
    template <class F, std::ranges::input_range Range>
    [[nodiscard("the results are computed as the returned range is iterated: iterate it")]]
    auto imap_unordered(F f, Range&& items, const MapOptions& options = {}) {
        return make_imap<false>(std::move(f), std::forward<Range>(items), options);
    }

    /// @}

    /// @name apply family: one call
    /// @{

    /// f(args...) in a worker; blocks and returns its result. Python: Pool.apply.
    /// The arguments are converted to f's parameter types, as a direct call would convert them:
    /// `apply(greet, "alice")` sends the std::string greet takes.
    /// Rethrows f's exception. Cost: one round trip to a worker.
    template <class F, class... Args>
        requires(!detail::call_prefix<F>)
    auto apply(F f, Args&&... args) {
        return detail::submit_apply(core(), {}, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...)->take();
    }
    /// As apply, with a timeout (TaskOptions::timeout: mproc::TimeoutError past it).
    template <class F, class... Args>
    auto apply(TaskOptions options, F f, Args&&... args) {
        return detail::submit_apply(core(), options, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...)->take();
    }
    /// f(args...) in a worker, without blocking: an AsyncResult<R>. Python: Pool.apply_async.
    /// Cost: one round trip to a worker; the call returns once the task is queued.
    template <class F, class... Args>
        requires(!detail::call_prefix<F>)
    [[nodiscard("the AsyncResult is where the result or the failure shows: get() it, or pass callbacks")]]
    auto apply_async(F f, Args&&... args) {
        return AsyncResult(detail::submit_apply(core(), {}, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...));
    }
    /// As apply_async, with a timeout (TaskOptions::timeout).
    template <class F, class... Args>
    [[nodiscard("the AsyncResult is where the result or the failure shows: get() it, or pass callbacks")]]
    auto apply_async(TaskOptions options, F f, Args&&... args) {
        return AsyncResult(detail::submit_apply(core(), options, callbacks(NoCallback{}), std::move(f), std::forward<Args>(args)...));
    }
    /// As apply_async, with Python's callback and error_callback (see Callbacks for their
    /// signatures): `pool.apply_async(mproc::error_callback(on_error), f, x)`.
    template <class C, class E, class F, class... Args>
        requires(!detail::call_prefix<F>)
    auto apply_async(Callbacks<C, E> handlers, F f, Args&&... args) {
        return AsyncResult(detail::submit_apply(core(), {}, std::move(handlers), std::move(f), std::forward<Args>(args)...));
    }
    /// As apply_async, with callbacks and a timeout.
    template <class C, class E, class F, class... Args>
    auto apply_async(Callbacks<C, E> handlers, TaskOptions options, F f, Args&&... args) {
        return AsyncResult(detail::submit_apply(core(), options, std::move(handlers), std::move(f), std::forward<Args>(args)...));
    }

    /// @}

    /// @name lifetime
    /// @{

    /// No more tasks may be submitted (PoolClosed); those submitted still run. Python: Pool.close.
    void close();
    /// Kills the workers now; unfinished tasks fail with PoolTerminated. Python: Pool.terminate.
    void terminate();
    /// Waits for all tasks and the workers' exit. Call close() or terminate() first (StateError
    /// otherwise; also from a callback). Python: Pool.join.
    void join();

    /// @}

    /// The number of workers (Python: the processes argument, or os.cpu_count()).
    int processes() const;
    /// Current worker pids (they change as workers are replaced). Python: [p.pid for p in
    /// pool._pool].
    std::vector<int> worker_pids() const;

private:
    static PoolOptions options_for(int processes) {
        PoolOptions options;
        options.processes = processes;
        return options;
    }

    template <bool Ordered, class F, class Range>
    auto make_imap(F f, Range&& range, const MapOptions& options) {
        using View = std::views::all_t<Range>;
        using Item = detail::range_item_t<View>;
        // Judged here, before ImapResults<F, ...> is instantiated: GCC 12 gets a closure type's
        // Transferable wrong when it is first asked while that class is being instantiated.
        detail::require_shippable_callable<F>();
        detail::require_shippable_chunk<F, Item, false>();
        return ImapResults<F, View, false, Ordered>(core(), std::move(f), std::views::all(std::forward<Range>(range)), options);
    }

protected:
    /// For other backends (mproc::mpi::Pool): the same front end over another engine.
    explicit Pool(std::shared_ptr<detail::PoolCore> core) : core_(std::move(core)) {}

private:
    // The engine; StateError for a pool that was moved from.
    const std::shared_ptr<detail::PoolCore>& core() const {
        detail::live(core_, "mproc::Pool");
        return core_;
    }
    std::shared_ptr<detail::PoolCore> core_;
};

}  // namespace mproc
