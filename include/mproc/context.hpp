// mproc/context.hpp: a start method bundled with the objects that use it, as Python's
// multiprocessing.get_context().
//
//   auto ctx = mproc::get_context("spawn");        // Python: ctx = mp.get_context("spawn")
//   auto queue = ctx.Queue<int>();                 //         queue = ctx.Queue()
//   auto process = ctx.Process(worker, queue);     //         p = ctx.Process(target=worker, args=(queue,))
//   auto pool = ctx.Pool(4);                       //         pool = ctx.Pool(4)
//
// Only processes and pools depend on the method; the shared objects are the same under all three
// and are here so that code written against a context reads as it does in Python.
#pragma once

#include <string_view>
#include <utility>

#include <mproc/pipe.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/queue.hpp>
#include <mproc/shared.hpp>
#include <mproc/start_method.hpp>
#include <mproc/sync.hpp>

namespace mproc {

/// A start method with factories for the objects of mproc. Python: the context objects of
/// multiprocessing.get_context(). Each factory returns the object the constructor of the same name
/// would, with the context's start method for Process and Pool; it throws what that constructor
/// throws.
///
/// Thread safety: an immutable value; any thread may use one at once.
class Context {
public:
    /// A context for `method`. Prefer get_context, which also prepares the method.
    explicit Context(StartMethod method) noexcept : method_(method) {}

    /// Python: ctx.get_start_method().
    StartMethod get_start_method() const noexcept { return method_; }

    /// @name Factories: ctx.Pool(), ctx.Process(), ctx.Lock(), ... as in Python
    /// @{

    /// mproc::Pool(processes) with this start method. Python: ctx.Pool(processes).
    mproc::Pool Pool(int processes = 0) const {
        // Not PoolOptions{.processes = processes}: g++ 12's -Wextra (-Wmissing-field-initializers)
        // would warn about the other fields in every program that includes this header.
        PoolOptions options;
        options.processes = processes;
        return Pool(options);
    }
    /// mproc::Pool(options) with this start method.
    mproc::Pool Pool(PoolOptions options) const {
        options.start_method = method_;
        return mproc::Pool(options);
    }

    /// mproc::Process(target, args...) with this start method. Python: ctx.Process(target, args).
    template <class F, class... Args>
    mproc::Process Process(F&& target, Args&&... args) const {
        return Process(ProcessOptions{}, std::forward<F>(target), std::forward<Args>(args)...);
    }
    /// mproc::Process(options, target, args...) with this start method.
    template <class F, class... Args>
    mproc::Process Process(ProcessOptions options, F&& target, Args&&... args) const {
        options.start_method = method_;
        return mproc::Process(std::move(options), std::forward<F>(target), std::forward<Args>(args)...);
    }

    /// mproc::Lock(). Python: ctx.Lock().
    mproc::Lock Lock() const { return {}; }
    /// mproc::RLock(). Python: ctx.RLock().
    mproc::RLock RLock() const { return {}; }
    /// mproc::Event(). Python: ctx.Event().
    mproc::Event Event() const { return {}; }
    /// mproc::Semaphore(a...). Python: ctx.Semaphore(value).
    template <class... A>
    mproc::Semaphore Semaphore(A&&... a) const { return mproc::Semaphore(std::forward<A>(a)...); }
    /// mproc::BoundedSemaphore(a...). Python: ctx.BoundedSemaphore(value).
    template <class... A>
    mproc::BoundedSemaphore BoundedSemaphore(A&&... a) const { return mproc::BoundedSemaphore(std::forward<A>(a)...); }
    /// mproc::Condition(a...). Python: ctx.Condition(lock).
    template <class... A>
    mproc::Condition Condition(A&&... a) const { return mproc::Condition(std::forward<A>(a)...); }
    /// mproc::Barrier(a...). Python: ctx.Barrier(parties, action, timeout).
    template <class... A>
    mproc::Barrier Barrier(A&&... a) const { return mproc::Barrier(std::forward<A>(a)...); }
    /// mproc::Value<T>(a...). Python: ctx.Value(typecode, value, lock).
    template <class T, class... A>
    mproc::Value<T> Value(A&&... a) const { return mproc::Value<T>(std::forward<A>(a)...); }
    /// mproc::RawValue<T>(a...). Python: ctx.RawValue(typecode, value).
    template <class T, class... A>
    mproc::RawValue<T> RawValue(A&&... a) const { return mproc::RawValue<T>(std::forward<A>(a)...); }
    /// mproc::Array<T>(a...). Python: ctx.Array(typecode, size_or_initializer, lock).
    template <class T, class... A>
    mproc::Array<T> Array(A&&... a) const { return mproc::Array<T>(std::forward<A>(a)...); }
    /// mproc::RawArray<T>(a...). Python: ctx.RawArray(typecode, size_or_initializer).
    template <class T, class... A>
    mproc::RawArray<T> RawArray(A&&... a) const { return mproc::RawArray<T>(std::forward<A>(a)...); }
    /// mproc::Queue<T>(a...). Python: ctx.Queue(maxsize).
    template <class T, class... A>
    mproc::Queue<T> Queue(A&&... a) const { return mproc::Queue<T>(std::forward<A>(a)...); }
    /// mproc::JoinableQueue<T>(a...). Python: ctx.JoinableQueue(maxsize).
    template <class T, class... A>
    mproc::JoinableQueue<T> JoinableQueue(A&&... a) const { return mproc::JoinableQueue<T>(std::forward<A>(a)...); }
    /// mproc::SimpleQueue<T>(a...). Python: ctx.SimpleQueue().
    template <class T, class... A>
    mproc::SimpleQueue<T> SimpleQueue(A&&... a) const { return mproc::SimpleQueue<T>(std::forward<A>(a)...); }
    /// mproc::Pipe<T>(a...). Python: ctx.Pipe(duplex).
    template <class T, class... A>
    auto Pipe(A&&... a) const { return mproc::Pipe<T>(std::forward<A>(a)...); }

    /// @}

private:
    StartMethod method_;
};

/// The default method's context, or the named one (std::invalid_argument for an unknown name).
/// Asking for forkserver starts the fork server now, if it is not running yet.
/// Python: multiprocessing.get_context(). Throws mproc::OSError if the fork server cannot start.
Context get_context();
/// Python: multiprocessing.get_context(method).
Context get_context(StartMethod method);
/// Python: multiprocessing.get_context("spawn"); std::invalid_argument for an unknown name.
Context get_context(std::string_view name);

}  // namespace mproc
