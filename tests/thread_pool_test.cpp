// mproc::ThreadPool and mproc::futures::ThreadPoolExecutor: Pool's and the executors' API on
// threads of this process, with the behaviours Python's ThreadPool shares with Pool
// (_TestPool run with the 'threads' type) and those that differ because a thread cannot be
// killed (timeouts, terminate). Start methods do not apply: this program runs once.
#include <mproc/futures.hpp>
#include <mproc/queue.hpp>
#include <mproc/shared.hpp>
#include <mproc/sync.hpp>
#include <mproc/thread_pool.hpp>

#include "pool/support.hpp"

namespace {

using namespace pool_test;
namespace futures = mproc::futures;

int thread_id() { return static_cast<int>(::syscall(SYS_gettid)); }
std::string thread_name(int) {
    std::ifstream comm("/proc/self/task/" + std::to_string(thread_id()) + "/comm");
    std::string name;
    std::getline(comm, name);
    return name;
}
int square_of(int x) { return x * x; }
int add(int a, int b) { return a + b; }
int fail_with(int x) { throw std::invalid_argument("bad " + std::to_string(x)); }

struct NotStandard : std::exception {
    const char* what() const noexcept override { return "not a standard exception"; }
};
int fail_with_own_type(int) { throw NotStandard(); }

// Sets `started`, then waits for `go`; returns x.
int started_then_blocked(mproc::Event started, mproc::Event go, int x) {
    started.set();
    go.wait();
    return x;
}
int blocked_until_set(mproc::Event go, int x) {
    go.wait();
    return x;
}
// As started_then_blocked, and records that it ran to its end.
int blocked_then_marked(mproc::Event started, mproc::Event go, mproc::Value<int> finished) {
    started.set();
    go.wait();
    std::lock_guard guard(finished.get_lock());
    finished.value() += 1;
    return 1;
}
// Returns the id of the thread it ran on once every party has arrived: the parties run at once.
int meet_at(mproc::Barrier barrier, int) {
    barrier.wait(60s);
    return thread_id();
}

thread_local int initialized_here = 0;
void initialize_thread(mproc::Value<int> count) {
    initialized_here = 1;
    std::lock_guard guard(count.get_lock());
    count.value() += 1;
}
int initialized_flag(int) { return initialized_here; }
void failing_initializer() { throw std::out_of_range("initializer failed"); }

void add_under_lock(mproc::Lock lock, mproc::Value<long> total, int x) {
    std::lock_guard guard(lock);
    total.value() += x;
}
void put_square(mproc::Queue<int> queue, int x) { queue.put(x * x); }
int value_plus(mproc::Value<int> value, int x) { return value.value() + x; }
mproc::Value<int> new_value(int x) { return mproc::Value<int>(x); }
std::string text_of_size(std::size_t size) { return std::string(size, 'x'); }

// Code written against Pool, run unchanged on a ThreadPool.
long sum_through_every_call(mproc::Pool& pool, int n) {
    long sum = 0;
    for (int y : pool.map(square_of, std::views::iota(0, n))) sum += y;
    for (int y : pool.imap(square_of, std::views::iota(0, n))) sum += y;
    for (int y : pool.imap_unordered(square_of, std::views::iota(0, n), {.chunksize = 3})) sum += y;
    sum += pool.apply(add, 1, 2);
    sum += pool.apply_async(square_of, 4).get();
    return sum;
}

TEST(ThreadPool, EveryCallGivesWhatPoolGives) {
    LeakCheck leaks;
    mproc::ThreadPool pool(3);
    EXPECT_EQ(pool.processes(), 3);
    EXPECT_TRUE(pool.worker_pids().empty());
    EXPECT_EQ(pool.map(square_of, std::views::iota(0, 100)), squares(100));
    EXPECT_EQ(pool.map(square_of, std::vector<int>{}), std::vector<int>{});
    EXPECT_EQ(pool.starmap(add, std::vector<std::tuple<int, int>>{{1, 2}, {3, 4}}), (std::vector<int>{3, 7}));
    EXPECT_EQ(collect(pool.imap(square_of, std::views::iota(0, 50))), squares(50));
    EXPECT_EQ(sorted(collect(pool.imap_unordered(square_of, std::views::iota(0, 50), {.chunksize = 4}))), squares(50));
    EXPECT_EQ(pool.apply(add, 20, 22), 42);
    EXPECT_EQ(pool.apply_async(square_of, 9).get(60s), 81);
    EXPECT_EQ(pool.map_async(square_of, std::views::iota(0, 10)).get(60s), squares(10));
    EXPECT_EQ(pool.starmap_async(add, std::vector<std::pair<int, int>>{{5, 6}}).get(60s), std::vector<int>{11});
    EXPECT_EQ(pool.apply([](const std::string& s) { return s + "!"; }, "hi"), "hi!");
}

TEST(ThreadPool, CodeWrittenForPoolRunsUnchanged) {
    LeakCheck leaks;
    mproc::Pool processes(2);
    mproc::ThreadPool threads(2);
    const long expected = sum_through_every_call(processes, 30);
    EXPECT_EQ(sum_through_every_call(threads, 30), expected);
    mproc::Pool moved = std::move(threads);
    EXPECT_EQ(moved.apply(add, 1, 1), 2);
}

TEST(ThreadPool, TasksRunOnSeveralThreadsAtOnceNoneOfThemTheCallers) {
    LeakCheck leaks;
    constexpr int parties = 4;
    mproc::ThreadPool pool(parties);
    mproc::Barrier barrier(parties);
    // Each task waits until all have arrived: they finish only if they run side by side.
    const auto ids = pool.map(mproc::partial(meet_at, barrier), std::views::iota(0, parties), {.chunksize = 1});
    const std::set<int> distinct(ids.begin(), ids.end());
    EXPECT_EQ(distinct.size(), static_cast<std::size_t>(parties));
    EXPECT_FALSE(distinct.contains(thread_id()));
    EXPECT_FALSE(barrier.broken());
}

TEST(ThreadPool, WorkerThreadsAreNamedForDebuggers) {
    LeakCheck leaks;
    mproc::ThreadPool pool(2);
    const auto names = pool.map(thread_name, std::views::iota(0, 20), {.chunksize = 1});
    for (const auto& name : names) EXPECT_TRUE(name == "PoolThread-1" || name == "PoolThread-2") << name;
}

TEST(ThreadPool, ExceptionsKeepTheirTypeAsUnderPool) {
    LeakCheck leaks;
    mproc::ThreadPool pool(2);
    EXPECT_THROW(pool.apply(fail_with, 1), std::invalid_argument);
    try {
        pool.apply(fail_with, 7);
        ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "bad 7");
    }
    EXPECT_THROW(pool.apply(fail_with_own_type, 1), mproc::RemoteError);
    EXPECT_THROW(pool.map(fail_with, std::views::iota(0, 5)), std::invalid_argument);
    auto results = pool.imap(fail_with, std::views::iota(0, 2));
    EXPECT_THROW(collect(results), std::invalid_argument);
    EXPECT_EQ(pool.apply(square_of, 3), 9) << "the pool goes on after failures";
}

TEST(ThreadPool, CallbacksRunOnThePoolsOwnThreadNeverAWorkerOrTheSubmitter) {
    LeakCheck leaks;
    std::mutex mutex;
    std::set<int> callback_threads;
    std::vector<int> values;
    int errors = 0;
    std::set<int> worker_threads;
    {
        mproc::ThreadPool pool(3);
        std::vector<mproc::AsyncResult<int>> results;
        for (int i = 0; i < 40; ++i) {
            auto on_value = [&](int) {
                std::lock_guard lock(mutex);
                callback_threads.insert(thread_id());
                values.push_back(1);
            };
            auto on_error = [&](const std::exception&) {
                std::lock_guard lock(mutex);
                callback_threads.insert(thread_id());
                ++errors;
            };
            results.push_back(pool.apply_async(mproc::callbacks(on_value, on_error), thread_id));
            results.push_back(pool.apply_async(mproc::callbacks(on_value, on_error), fail_with, i));
        }
        auto mapped = pool.map_async(mproc::callbacks([&](const std::vector<int>& ids) {
                                         std::lock_guard lock(mutex);
                                         callback_threads.insert(thread_id());
                                         worker_threads.insert(ids.begin(), ids.end());
                                     }),
                                     [](int) { return thread_id(); }, std::views::iota(0, 30));
        for (std::size_t i = 0; i < results.size(); i += 2) worker_threads.insert(results[i].get(60s));
        for (std::size_t i = 1; i < results.size(); i += 2) EXPECT_THROW(results[i].get(60s), std::invalid_argument);
        mapped.wait();
    }
    EXPECT_EQ(values.size(), 40u);
    EXPECT_EQ(errors, 40);
    ASSERT_EQ(callback_threads.size(), 1u) << "every callback on one thread";
    const int callback_thread = *callback_threads.begin();
    EXPECT_NE(callback_thread, thread_id());
    EXPECT_FALSE(worker_threads.contains(callback_thread));
    EXPECT_FALSE(worker_threads.contains(thread_id()));
}

TEST(ThreadPool, TheInitializerRunsOnceOnEachThreadBeforeItsFirstTask) {
    LeakCheck leaks;
    mproc::Value<int> count(0);
    {
        mproc::ThreadPool pool({.processes = 3, .initializer = mproc::call(initialize_thread, count)});
        EXPECT_EQ(count.value(), 3) << "the constructor waits for every thread's initializer";
        const auto flags = pool.map(initialized_flag, std::views::iota(0, 60), {.chunksize = 1});
        EXPECT_TRUE(std::ranges::all_of(flags, [](int flag) { return flag == 1; }));
    }
    EXPECT_EQ(count.value(), 3);
    EXPECT_EQ(initialized_here, 0) << "not on the caller's thread";
}

TEST(ThreadPool, AThrowingInitializerMakesTheConstructorThrowItOnce) {
    LeakCheck leaks;
    EXPECT_THROW(mproc::ThreadPool({.processes = 4, .initializer = mproc::call(failing_initializer)}), std::out_of_range);
    EXPECT_THROW(futures::ThreadPoolExecutor({.max_workers = 2, .initializer = mproc::call(failing_initializer)}),
                 std::out_of_range);
}

TEST(ThreadPool, ANegativeNumberOfThreadsIsRefused) {
    EXPECT_THROW(mproc::ThreadPool(-1), std::invalid_argument);
    EXPECT_THROW(futures::ThreadPoolExecutor(-1), std::invalid_argument);
}

TEST(ThreadPool, CloseRunsWhatWasSubmittedAndRefusesMore) {
    LeakCheck leaks;
    mproc::ThreadPool pool(2);
    EXPECT_THROW(pool.join(), mproc::StateError) << "join before close";
    auto pending = pool.map_async(square_of, std::views::iota(0, 200), {.chunksize = 1});
    pool.close();
    EXPECT_THROW((void)pool.apply_async(square_of, 1), mproc::PoolClosed);
    EXPECT_THROW(pool.map(square_of, std::vector{1}), mproc::PoolClosed);
    pool.join();
    ASSERT_TRUE(pending.ready()) << "join waits for the work";
    EXPECT_EQ(pending.get(), squares(200));
}

TEST(ThreadPool, TheDestructorFinishesTheWorkSubmitted) {
    LeakCheck leaks;
    std::optional<mproc::AsyncResult<std::vector<int>>> pending;
    {
        mproc::ThreadPool pool(2);
        pending = pool.map_async(square_of, std::views::iota(0, 500), {.chunksize = 1});
    }
    ASSERT_TRUE(pending->ready());
    EXPECT_EQ(pending->get(), squares(500));
}

TEST(ThreadPool, TerminateFailsUnfinishedTasksAtOnceAndJoinWaitsForTheRunningOnes) {
    LeakCheck leaks;
    mproc::Event started, go;
    mproc::Value<int> finished(0);
    mproc::ThreadPool pool(1);
    std::atomic<int> error_callbacks{0};
    auto running = pool.apply_async(blocked_then_marked, started, go, finished);
    ASSERT_TRUE(started.wait(60s));
    std::vector<mproc::AsyncResult<int>> queued;
    for (int i = 0; i < 5; ++i)
        queued.push_back(pool.apply_async(mproc::error_callback([&](const std::exception& e) {
                                              if (dynamic_cast<const mproc::PoolTerminated*>(&e)) ++error_callbacks;
                                          }),
                                          square_of, i));
    pool.terminate();
    // Neither waits for the running task, which is still blocked.
    EXPECT_THROW(running.get(60s), mproc::PoolTerminated);
    for (auto& result : queued) EXPECT_THROW(result.get(60s), mproc::PoolTerminated);
    EXPECT_EQ(finished.value(), 0) << "the running task is still running";
    EXPECT_THROW((void)pool.apply_async(square_of, 1), mproc::PoolTerminated);
    go.set();
    pool.join();
    EXPECT_EQ(finished.value(), 1) << "join waited for the running task to end";
    EXPECT_EQ(error_callbacks.load(), 5);
}

TEST(ThreadPool, ATaskPastItsTimeoutFailsAtTheDeadlineAndItsThreadFinishesIt) {
    LeakCheck leaks;
    mproc::Event go;
    mproc::ThreadPool pool(3);  // two of them will be busy with timed-out tasks until `go`
    const auto start = Clock::now();
    EXPECT_THROW(pool.apply(mproc::TaskOptions{.timeout = 200ms}, blocked_until_set, go, 1), mproc::TimeoutError);
    EXPECT_GE(seconds_since(start), 0.2) << "not before the deadline";
    EXPECT_EQ(pool.apply(square_of, 3), 9) << "the other threads go on";
    try {
        (void)pool.map(mproc::partial(blocked_until_set, go), std::vector{0, 1}, {.chunksize = 2, .timeout = 200ms});
        ADD_FAILURE() << "no TimeoutError";
    } catch (const mproc::TimeoutError& e) {
        EXPECT_NE(std::string(e.what()).find("task 0"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pool.apply(mproc::TaskOptions{.timeout = 60s}, square_of, 4), 16) << "a timeout not reached";
    go.set();  // the threads finish the timed-out tasks; their results are dropped
    EXPECT_EQ(pool.map(square_of, std::views::iota(0, 20), {.timeout = 60s}), squares(20));
}

TEST(ThreadPool, AQueuedTaskCanBeCancelled) {
    LeakCheck leaks;
    mproc::Event started, go;
    mproc::ThreadPool pool(1);
    auto running = pool.apply_async(started_then_blocked, started, go, 1);
    ASSERT_TRUE(started.wait(60s));
    auto queued = pool.apply_async(square_of, 5);
    EXPECT_FALSE(running.cancel());
    EXPECT_TRUE(queued.cancel());
    EXPECT_THROW(queued.get(60s), mproc::CancelledError);
    go.set();
    EXPECT_EQ(running.get(60s), 1);
}

TEST(ThreadPool, SharedObjectsPassedToTasksAreShared) {
    LeakCheck leaks;
    mproc::ThreadPool pool(4);
    mproc::Lock lock;
    mproc::Value<long> total(0, {.lock = false});
    pool.map(mproc::partial(add_under_lock, lock, total), std::views::iota(1, 201), {.chunksize = 1});
    EXPECT_EQ(total.value(), 200L * 201 / 2);

    mproc::Queue<int> queue;
    pool.map(mproc::partial(put_square, queue), std::views::iota(0, 50));
    int sum = 0;
    for (int i = 0; i < 50; ++i) sum += queue.get(60s);
    EXPECT_EQ(sum, 49 * 50 * 99 / 6);

    mproc::Value<int> value(100);
    EXPECT_EQ(pool.apply(value_plus, value, 1), 101);
    value.value() = 7;
    EXPECT_EQ(pool.apply(value_plus, value, 1), 8) << "the task sees the same memory";
}

TEST(ThreadPool, ThousandsOfTasksLeaveNoDescriptorBehind) {
    LeakCheck leaks;
    mproc::ThreadPool pool(3);
    mproc::Value<int> value(1);
    const auto before = mproc::test::open_fds().size();
    for (int i = 0; i < 100; ++i) EXPECT_EQ(pool.apply(value_plus, value, i), i + 1);
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 3000; ++i) results.push_back(pool.apply_async(value_plus, value, i));
    long sum = 0;
    for (auto& result : results) sum += result.get(60s);
    EXPECT_EQ(sum, 3000L + 2999L * 3000 / 2);
    results.clear();
    // A worker thread closes a message's descriptors just after the delivery has woken us.
    EXPECT_TRUE(eventually([&] { return mproc::test::open_fds().size() == before; }))
        << mproc::test::open_fds().size() << " descriptors open, " << before << " before";
}

TEST(ThreadPool, SharedObjectsReturnedByTasksArriveWithTheirOwnDescriptors) {
    LeakCheck leaks;
    mproc::ThreadPool pool(2);
    const auto before = mproc::test::open_fds().size();
    {
        auto values = pool.map(new_value, std::views::iota(0, 20));
        ASSERT_EQ(values.size(), 20u);
        for (int i = 0; i < 20; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)].value(), i);
        values[3].value() = 42;
        EXPECT_EQ(pool.apply(value_plus, values[3], 0), 42) << "the same object, sent back to a task";
    }
    // A worker thread closes a message's descriptors just after the delivery has woken us.
    EXPECT_TRUE(eventually([&] { return mproc::test::open_fds().size() == before; }))
        << mproc::test::open_fds().size() << " descriptors open, " << before << " before";
}

TEST(ThreadPool, GetWithATimeoutThrowsTimeoutErrorWhileTheTaskRuns) {
    LeakCheck leaks;
    mproc::Event go;
    mproc::ThreadPool pool(1);
    auto result = pool.apply_async(blocked_until_set, go, 5);
    EXPECT_THROW(result.get(50ms), mproc::TimeoutError);
    EXPECT_FALSE(result.ready());
    go.set();
    EXPECT_EQ(result.get(60s), 5);
}

TEST(ThreadPool, MessagesLargerThanTheLimitFailWithSerializationError) {
    LeakCheck leaks;
    mproc::ThreadPool pool({.processes = 1, .max_message_size = 4096});
    EXPECT_THROW(pool.apply(text_of_size, 100000), mproc::SerializationError) << "a result too large";
    EXPECT_THROW(pool.apply([](const std::string& s) { return s.size(); }, std::string(100000, 'y')),
                 mproc::SerializationError)
        << "a task too large";
    EXPECT_EQ(pool.apply(text_of_size, 10), "xxxxxxxxxx");
}

TEST(ThreadPool, ATimedOutTaskWithCallbacksReportsItOnThePoolsThread) {
    LeakCheck leaks;
    mproc::Event go;
    std::atomic<int> timeouts{0};
    std::atomic<int> reported_on{0};
    {
        mproc::ThreadPool pool(1);
        auto result = pool.apply_async(mproc::error_callback([&](const std::exception& e) {
                                           if (dynamic_cast<const mproc::TimeoutError*>(&e)) ++timeouts;
                                           reported_on = thread_id();
                                       }),
                                       mproc::TaskOptions{.timeout = 100ms}, blocked_until_set, go, 1);
        EXPECT_THROW(result.get(60s), mproc::TimeoutError);
        go.set();
    }
    EXPECT_EQ(timeouts.load(), 1);
    EXPECT_NE(reported_on.load(), thread_id());
}

// --- ThreadPoolExecutor ------------------------------------------------------------------------

// Occupies the executor's only thread until `go` is set: later calls queue up behind it.
struct BlockedExecutor {
    mproc::Event started, go;
    futures::ThreadPoolExecutor executor{1};
    futures::Future<int> blocker = executor.submit(started_then_blocked, started, go, -1);
    BlockedExecutor() { EXPECT_TRUE(started.wait(60s)); }
};

TEST(ThreadPoolExecutor, SubmitMapAndTheDefaultNumberOfWorkers) {
    LeakCheck leaks;
    futures::ThreadPoolExecutor executor;
    EXPECT_EQ(executor.max_workers(), std::min(32, mproc::cpu_count() + 4));
    EXPECT_TRUE(executor.worker_pids().empty());
    auto f = executor.submit(square_of, 7);
    auto g = executor.submit(fail_with, 3);
    EXPECT_EQ(f.result(60s), 49);
    EXPECT_THROW(g.result(60s), std::invalid_argument);
    EXPECT_EQ(collect(executor.map(square_of, std::views::iota(0, 30), {.chunksize = 4})), squares(30));
    EXPECT_EQ(collect(executor.map(add, std::vector{1, 2, 3}, std::vector{10, 20})), (std::vector<int>{11, 22}));
    EXPECT_EQ(futures::ThreadPoolExecutor(3).max_workers(), 3);
}

TEST(ThreadPoolExecutor, AsCompletedAndWaitSeeEveryFuture) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    std::vector<futures::Future<int>> fs{blocked.blocker};
    for (int i = 0; i < 10; ++i) fs.push_back(blocked.executor.submit(square_of, i));
    auto [done, not_done] = futures::wait(fs, 0.05s, futures::FIRST_COMPLETED);
    EXPECT_TRUE(done.empty()) << "nothing can finish while the only thread is blocked";
    EXPECT_EQ(not_done.size(), fs.size());
    blocked.go.set();
    std::set<int> seen;
    for (auto& f : futures::as_completed(fs, 60s)) seen.insert(f.result());
    EXPECT_EQ(seen.size(), fs.size());
    auto all = futures::wait(fs, 60s, futures::ALL_COMPLETED);
    EXPECT_EQ(all.done.size(), fs.size());
}

TEST(ThreadPoolExecutor, CancelTakesQueuedCallsAndShutdownCanCancelTheRest) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    auto first = blocked.executor.submit(square_of, 2);
    std::vector<futures::Future<int>> rest;
    for (int i = 0; i < 10; ++i) rest.push_back(blocked.executor.submit(square_of, i));
    EXPECT_FALSE(blocked.blocker.cancel()) << "a running call is not cancelled";
    EXPECT_TRUE(first.cancel());
    EXPECT_THROW(first.result(60s), mproc::CancelledError);
    blocked.executor.shutdown({.wait = false, .cancel_futures = true});
    for (auto& f : rest) {
        EXPECT_TRUE(f.cancelled());
        EXPECT_THROW(f.result(60s), mproc::CancelledError);
    }
    EXPECT_THROW((void)blocked.executor.submit(square_of, 1), mproc::PoolClosed);
    blocked.go.set();
    EXPECT_EQ(blocked.blocker.result(60s), -1);
}

TEST(ThreadPoolExecutor, TerminateEndsARunningCallCancelledWhileItsThreadFinishesIt) {
    LeakCheck leaks;
    mproc::Event started, go;
    mproc::Value<int> finished(0);
    futures::ThreadPoolExecutor executor(1);
    auto running = executor.submit(blocked_then_marked, started, go, finished);
    ASSERT_TRUE(started.wait(60s));
    auto next = executor.submit(square_of, 5);
    EXPECT_TRUE(running.terminate());
    EXPECT_THROW(running.result(60s), mproc::CancelledError);
    EXPECT_TRUE(running.cancelled());
    EXPECT_EQ(finished.value(), 0) << "the call is still running on its thread";
    EXPECT_FALSE(next.done()) << "the only thread is still busy";
    go.set();
    EXPECT_EQ(next.result(60s), 25);
    executor.shutdown();
    EXPECT_EQ(finished.value(), 1);
    EXPECT_TRUE(running.terminate()) << "a cancelled future says so again";
    EXPECT_FALSE(next.terminate()) << "a finished call cannot be";
}

TEST(ThreadPoolExecutor, TerminateRacingCompletionEndsEachFutureEitherCancelledOrWithItsResult) {
    LeakCheck leaks;
    futures::ThreadPoolExecutor executor(3);
    for (int round = 0; round < 5; ++round) {
        std::vector<futures::Future<int>> fs;
        for (int i = 0; i < 300; ++i) fs.push_back(executor.submit(square_of, i));
        std::vector<bool> said(fs.size());
        for (std::size_t i = fs.size(); i-- > 0;) said[i] = i % 2 == 0 ? fs[i].terminate() : fs[i].cancel();
        for (std::size_t i = 0; i < fs.size(); ++i) {
            const int x = static_cast<int>(i);
            if (said[i]) {
                // A running call's cancellation is reported by the pool's thread: wait for it.
                EXPECT_THROW(fs[i].result(60s), mproc::CancelledError);
                EXPECT_TRUE(fs[i].cancelled()) << "item " << i;
            } else {
                EXPECT_EQ(fs[i].result(60s), x * x) << "item " << i;
                EXPECT_FALSE(fs[i].cancelled());
            }
        }
    }
}

TEST(ThreadPoolExecutor, DoneCallbacksRunOnceAndShutdownWaits) {
    LeakCheck leaks;
    std::atomic<int> calls{0};
    std::vector<futures::Future<int>> fs;
    {
        futures::ThreadPoolExecutor executor(4);
        for (int i = 0; i < 200; ++i) {
            fs.push_back(executor.submit(square_of, i));
            fs.back().add_done_callback([&](const futures::Future<int>&) { ++calls; });
        }
        executor.shutdown();
        for (auto& f : fs) EXPECT_TRUE(f.done());
    }
    EXPECT_EQ(calls.load(), 200);
    for (int i = 0; i < 200; ++i) EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i * i);
}

}  // namespace
