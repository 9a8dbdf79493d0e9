// mproc/pool_options.hpp: what mproc::Pool and its methods take besides a function and its
// inputs, as the keyword arguments of Python's multiprocessing.Pool:
//
//   mproc::Pool pool({.processes = 4, .initializer = mproc::call(setup, "config.ini"), .maxtasksperchild = 100});
//   pool.map(f, items, {.chunksize = 16, .timeout = 2s, .progress = true});
//   pool.apply(mproc::TaskOptions{.timeout = 1s}, f, x);
//   pool.apply_async(mproc::callbacks(on_done, on_error), f, x);
//
// PoolOptions (with Call, its initializer) configures a Pool; MapOptions one map, starmap or imap
// call; TaskOptions one apply call; Callbacks are the callback and error_callback arguments of the
// *_async methods.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <mproc/detail/task.hpp>
#include <mproc/serialize.hpp>
#include <mproc/start_method.hpp>

namespace mproc {

/// A function and its arguments, packed to run in another process (used for initializers):
/// `mproc::call(setup, "config.ini")`. The arguments are converted to f's parameter types and
/// checked as a task's are.
///
/// Python: the initializer and initargs arguments of multiprocessing.pool.Pool, together.
/// Throws (from mproc::call) mproc::SerializationError if an argument cannot be encoded.
/// Thread safety: an immutable value once made; share it freely.
class Call {
public:
    /// No function: PoolOptions::initializer's default, meaning "no initializer".
    Call() = default;
    /// Whether this holds no function.
    bool empty() const noexcept { return packed_.empty(); }
    /// The encoded function and arguments, as a worker decodes them.
    const std::vector<std::byte>& packed() const noexcept { return packed_; }
    /// Descriptors of the shared objects among the arguments, kept open as long as the Call is.
    const std::shared_ptr<const std::vector<int>>& fds() const noexcept { return fds_; }

private:
    template <class F, class... Args>
    friend Call call(F f, Args&&... args);
    std::vector<std::byte> packed_;
    std::shared_ptr<const std::vector<int>> fds_;
};

/// Packs f and its arguments into a Call (see Call). Python: Pool(initializer=f, initargs=args).
/// Throws mproc::SerializationError if an argument cannot be encoded. Cost: encodes the
/// arguments once, in the calling thread.
template <class F, class... Args>
Call call(F f, Args&&... args) {
    const detail::shipped_arguments_t<F, Args...> shipped(std::forward<Args>(args)...);
    Call packed;
    Writer out(packed.packed_);
    std::apply([&](const auto&... arg) { detail::pack_call(out, f, arg...); }, shipped);
    packed.fds_ = detail::keep_fds(out.fds());
    return packed;
}

/// Options of Pool's constructor. Python: the arguments of multiprocessing.pool.Pool.
struct PoolOptions {
    /// Number of worker processes; 0 means cpu_count().
    int processes = 0;
    /// Run by every worker before its first task, as Python's initializer/initargs:
    /// `.initializer = mproc::call(setup, 42)`. If it throws, the Pool constructor throws it.
    Call initializer;
    /// A worker exits after this many tasks (chunks) and is replaced, as in Python.
    std::optional<long> maxtasksperchild;
    /// Largest message (task or result) the transport carries; larger ones fail with
    /// SerializationError. Only touched memory is used, so the default costs nothing.
    std::size_t max_message_size = std::size_t{4} << 30;
    /// How workers start (see start_method.hpp); unset: get_start_method().
    std::optional<StartMethod> start_method;
};

/// Options of one map, starmap or imap call. Python: the chunksize argument (timeout and
/// progress have no Python counterpart).
struct MapOptions {
    /// Items per task. 0: as Python, len/(4*processes) rounded up for map, 1 for imap.
    std::size_t chunksize = 0;
    /// Longest time one item may run; past it, mproc::TimeoutError and the worker is replaced.
    std::optional<std::chrono::duration<double>> timeout;
    /// Draw a progress bar, as tqdm does:
    ///   "squares:  45%|#########           | 450/1000 [00:12<00:15, 36.50 items/s]"
    /// On a terminal it is redrawn in place; elsewhere (a pipe, a log file) a line is written each
    /// tenth of the way, or each 30 s, and at the end.
    bool progress = false;
    /// Text before the bar (tqdm's desc).
    std::string progress_label;
    /// Where the bar goes: this stream if set, else the descriptor progress_fd if set, else stderr.
    std::FILE* progress_file = nullptr;
    /// A descriptor to draw on, when progress_file is not set (-1: none).
    int progress_fd = -1;
};

/// Options of one apply or apply_async call.
struct TaskOptions {
    /// Longest time the call may run; past it, mproc::TimeoutError and the worker is replaced.
    /// Python has no per-task timeout.
    std::optional<std::chrono::duration<double>> timeout;
};

/// The absence of a callback, in Callbacks.
struct NoCallback {};

/// Python's callback and error_callback arguments of apply_async, map_async and starmap_async,
/// passed first: `pool.apply_async(mproc::callbacks(on_done, on_error), f, x)`. Made by
/// mproc::callbacks or mproc::error_callback.
///
/// Both run on the pool's thread, exactly once, before get() returns to any waiter. They must be
/// quick and must not wait for other results of the same pool (that would deadlock the thread
/// that delivers them). An exception they throw is printed to stderr and dropped.
template <class Callback, class ErrorCallback>
struct Callbacks {
    /// `void(const R&)` for a result of type R (`void()` for a void task; a map's R is its
    /// std::vector of results). Python: callback.
    Callback callback;
    /// `void(const std::exception&)`: the exception the task threw (or the mproc::Error that
    /// failed it: WorkerCrashed, TimeoutError, PoolTerminated, RemoteError, ...). An exception
    /// not derived from std::exception does not call it; get() still rethrows it. Python:
    /// error_callback.
    ErrorCallback error_callback;
};
/// Python's callback= and error_callback= arguments: see Callbacks for their signatures.
template <class Callback, class ErrorCallback = NoCallback>
Callbacks<Callback, ErrorCallback> callbacks(Callback callback, ErrorCallback error_callback = {}) {
    return {std::move(callback), std::move(error_callback)};
}
/// Python's error_callback= alone: `void(const std::exception&)`, see Callbacks.
template <class ErrorCallback>
Callbacks<NoCallback, ErrorCallback> error_callback(ErrorCallback error_callback) {
    return {{}, std::move(error_callback)};
}

}  // namespace mproc
