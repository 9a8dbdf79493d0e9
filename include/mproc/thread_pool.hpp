// mproc/thread_pool.hpp: mproc::ThreadPool, a Pool whose workers are threads of this process
// (Python's multiprocessing.pool.ThreadPool).
//
//   mproc::ThreadPool pool(4);                               // was: mproc::Pool pool(4);
//   std::vector<int> a = pool.map(square, std::vector{1, 2, 3});
//   int v = pool.apply_async(square, 2).get();
//
// The same API as mproc::Pool (pool.hpp), and the same behaviour as far as threads allow: tasks,
// arguments and results go through the same encoding a worker process decodes, so a program that
// works with one works with the other, and what cannot cross a process boundary does not compile
// here either. Change one line to debug tasks with breakpoints in one process (see
// docs/debugging.md), or to run where starting processes is not wanted.
//
// What differs from Pool, because a thread cannot be killed:
//   - No crash isolation: a task that crashes (a bad access, abort(), exit()) takes the whole
//     program down, where Pool fails only that task with WorkerCrashed.
//   - A task past its timeout (MapOptions::timeout, TaskOptions::timeout) fails with
//     mproc::TimeoutError at its deadline, but its thread cannot be stopped: it finishes the task
//     in the background, its result dropped, and takes no other task until then.
//   - terminate() fails every unfinished task with PoolTerminated at once, as Pool does, but the
//     tasks running then run on to their end (results dropped); join() waits for them.
//   - Future::terminate() and a cancel of a running call fail the call with CancelledError at
//     once; its thread finishes it in the background, its result dropped.
//   - maxtasksperchild is accepted and ignored (threads are not replaced); the start method is
//     ignored; worker_pids() is empty.
//   - Tasks share this process's memory: globals a task changes are changed for the caller too,
//     where a worker process changes its own copy.
#pragma once

#include <mproc/pool.hpp>

namespace mproc {

/// A Pool whose workers are threads of this process. Python: multiprocessing.pool.ThreadPool.
/// See the top of this file for what differs from Pool.
///
/// Errors: as Pool (a task's own exception, TimeoutError, PoolTerminated, PoolClosed,
/// SerializationError, StateError), but for WorkerCrashed: a crashing task ends the program.
/// The constructor throws what the initializer threw (once, however many threads ran it), or
/// mproc::OSError if a thread cannot be started.
///
/// Thread safety: as Pool: every method may be called from any number of threads at once;
/// callbacks run on the pool's own thread (never a worker thread, never the submitting one). A
/// result without callbacks is handed over by the worker thread that computed it (a Future's
/// done callbacks run there, as in Python's ThreadPoolExecutor). A task must not join or destroy
/// the pool it runs on: it would wait for itself.
///
/// Cost: a task is encoded and decoded as for a worker process, without the copy through shared
/// memory or the wake-up of another process; each worker thread is a thread of this process.
class ThreadPool : public Pool {
public:
    /// `processes` worker threads; 0 means cpu_count(). Python: ThreadPool(processes).
    explicit ThreadPool(int processes = 0) : ThreadPool(options_for(processes)) {}
    /// Python: ThreadPool(processes, initializer, initargs). The initializer runs once on each
    /// worker thread, before its first task. PoolOptions::start_method and maxtasksperchild are
    /// ignored.
    explicit ThreadPool(const PoolOptions& options)
        : Pool(detail::PoolCore::start_threads(detail::pool_config(options))) {}

private:
    static PoolOptions options_for(int processes) {
        PoolOptions options;
        options.processes = processes;
        return options;
    }
};

}  // namespace mproc
