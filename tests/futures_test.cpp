// mproc::futures: executors, futures, as_completed and wait, with the behaviours CPython's
// test_concurrent_futures pins down (ExecutorTest, AsCompletedTests, WaitTests, FutureTests,
// ExecutorShutdownTest) and those that go past Python (terminate(), a crash fails one future).
// Runs under every start method; every test that starts workers checks that nothing is left behind.
#include <mproc/futures.hpp>
#include <mproc/shared.hpp>
#include <mproc/sync.hpp>

#include "pool/support.hpp"

namespace {

using namespace pool_test;
namespace futures = mproc::futures;

int blocked_until_set(mproc::Event go, int x) {
    go.wait();
    return x;
}

int fail_with(int x) { throw std::invalid_argument("bad " + std::to_string(x)); }

int add(int a, int b) { return a + b; }

// square(0), ..., square(n - 1), submitted in that order.
std::vector<futures::Future<int>> submit_squares(futures::Executor& executor, int n) {
    std::vector<futures::Future<int>> fs;
    for (int i = 0; i < n; ++i) fs.push_back(executor.submit(square, i));
    return fs;
}

// Occupies the executor's only worker until `go` is set: later calls queue up behind it.
struct BlockedExecutor {
    mproc::Event go;
    futures::ProcessPoolExecutor executor{1};
    futures::Future<int> blocker = executor.submit(blocked_until_set, go, -1);
    BlockedExecutor() {
        EXPECT_TRUE(eventually([&] { return blocker.running(); }));
    }
};

TEST(Futures, SubmitReturnsTheResultAndRethrowsTheCallsOwnException) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    auto f = executor.submit(square, 7);
    auto g = executor.submit(fail_with, 3);
    auto h = executor.submit([] {});
    EXPECT_EQ(f.result(), 49);
    EXPECT_THROW(g.result(), std::invalid_argument);
    h.result();
    EXPECT_TRUE(f.done() && g.done() && h.done());
    EXPECT_FALSE(f.cancelled());
    EXPECT_FALSE(f.running());
    EXPECT_EQ(f.exception(), nullptr);
    const auto error = g.exception(1s);
    ASSERT_NE(error, nullptr);
    EXPECT_THROW(std::rethrow_exception(error), std::invalid_argument);
}

TEST(Futures, ResultAndExceptionWithATimeoutThrowTimeoutErrorWhileRunning) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    EXPECT_THROW(blocked.blocker.result(50ms), mproc::TimeoutError);
    EXPECT_THROW((void)blocked.blocker.exception(50ms), mproc::TimeoutError);
    EXPECT_TRUE(blocked.blocker.running());
    EXPECT_FALSE(blocked.blocker.done());
    blocked.go.set();
    EXPECT_EQ(blocked.blocker.result(60s), -1);
}

TEST(Futures, CancelTakesQueuedCallsOnlyAndTheyEndWithCancelledError) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    std::vector<futures::Future<int>> queued;
    for (int i = 0; i < 10; ++i) queued.push_back(blocked.executor.submit(square, i));
    EXPECT_FALSE(blocked.blocker.cancel()) << "a running call is not cancelled";
    int cancelled = 0;
    for (auto& f : queued) {
        if (!f.cancel()) continue;
        ++cancelled;
        EXPECT_TRUE(f.done());
        EXPECT_TRUE(f.cancelled());
        EXPECT_FALSE(f.running());
        EXPECT_TRUE(f.cancel()) << "cancel() again still says true";
        EXPECT_THROW(f.result(), mproc::CancelledError);
        EXPECT_THROW((void)f.exception(), mproc::CancelledError);
    }
    // One worker holds at most a couple of calls ahead of the one it runs.
    EXPECT_GE(cancelled, 8);
    blocked.go.set();
    for (int i = 0; i < 10; ++i) {
        if (!queued[static_cast<std::size_t>(i)].cancelled()) {
            EXPECT_EQ(queued[static_cast<std::size_t>(i)].result(60s), i * i);
        }
    }
    EXPECT_FALSE(queued.back().running());
    EXPECT_FALSE(blocked.blocker.cancel()) << "a finished call is not cancelled";
    EXPECT_FALSE(blocked.blocker.cancelled());
}

TEST(Futures, CancelRacingCompletionEndsEachFutureEitherCancelledOrWithItsResult) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    for (int round = 0; round < 5; ++round) {
        auto fs = submit_squares(executor, 300);
        std::vector<bool> said(fs.size());
        for (std::size_t i = fs.size(); i-- > 0;) said[i] = fs[i].cancel();
        for (std::size_t i = 0; i < fs.size(); ++i) {
            const int x = static_cast<int>(i);
            if (said[i]) {
                EXPECT_TRUE(fs[i].cancelled());
                EXPECT_THROW(fs[i].result(60s), mproc::CancelledError);
            } else {
                EXPECT_EQ(fs[i].result(60s), x * x) << "item " << i;
                EXPECT_FALSE(fs[i].cancelled());
            }
        }
    }
}

TEST(Futures, TerminateStopsARunningCallReplacesItsWorkerAndLeavesOthersAlone) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    const auto before = blocked.executor.worker_pids();
    auto next = blocked.executor.submit(square, 5);
    EXPECT_TRUE(blocked.blocker.terminate());
    EXPECT_THROW(blocked.blocker.result(60s), mproc::CancelledError);
    EXPECT_TRUE(blocked.blocker.cancelled());
    EXPECT_EQ(next.result(60s), 25) << "the call queued behind it runs on the replacement";
    EXPECT_TRUE(eventually([&] {
        const auto now = blocked.executor.worker_pids();
        return now.size() == 1 && now != before;
    }));
    EXPECT_FALSE(next.terminate()) << "a finished call cannot be terminated";
    EXPECT_EQ(blocked.executor.submit(square, 6).result(60s), 36);
}

TEST(Futures, TerminateOfAQueuedCallCancelsItWithoutKillingAnyWorker) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    std::vector<futures::Future<int>> queued;
    for (int i = 0; i < 5; ++i) queued.push_back(blocked.executor.submit(square, i));
    const auto before = blocked.executor.worker_pids();
    EXPECT_TRUE(queued.back().terminate());
    EXPECT_TRUE(queued.back().cancelled());
    EXPECT_EQ(blocked.executor.worker_pids(), before);
    blocked.go.set();
    EXPECT_EQ(blocked.blocker.result(60s), -1);
    EXPECT_EQ(queued.front().result(60s), 0);
}

// Cancelling a queued call takes exactly that call out of the queue, wherever it is, also
// after a stopped worker's unstarted calls went back to the front of the queue.
TEST(Futures, CancelTakesOutExactlyTheCancelledCallsWhereverTheyWaitInTheQueue) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    std::vector<futures::Future<int>> queued;
    for (int i = 0; i < 40; ++i) queued.push_back(blocked.executor.submit(blocked_until_set, blocked.go, i));
    // The worker is stopped: the calls it held ahead go back to the front of the queue, and the
    // replacement takes the first ones (blocked too, until `go`).
    EXPECT_TRUE(blocked.blocker.terminate());
    for (int i = 39; i >= 0; --i) {
        if (i % 2 == 0) continue;
        const bool said = queued[static_cast<std::size_t>(i)].cancel();
        // The replacement worker holds a few calls ahead at most.
        if (i >= 8) {
            EXPECT_TRUE(said) << "call " << i;
        }
        EXPECT_EQ(said, queued[static_cast<std::size_t>(i)].cancelled()) << "call " << i;
    }
    blocked.go.set();
    for (int i = 0; i < 40; ++i) {
        auto& f = queued[static_cast<std::size_t>(i)];
        if (i % 2 == 0 || !f.cancelled()) {
            EXPECT_EQ(f.result(60s), i) << "a call nobody cancelled runs";
        } else {
            EXPECT_THROW(f.result(60s), mproc::CancelledError);
        }
    }
    EXPECT_EQ(blocked.executor.submit(square, 7).result(60s), 49) << "the queue is whole after the cancellations";
}

TEST(Futures, DoneCallbacksRunOnceEachInOrderAndAtOnceWhenAlreadyDone) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    std::mutex mutex;
    std::vector<std::string> calls;
    auto record = [&](std::string what) {
        std::lock_guard lock(mutex);
        calls.push_back(std::move(what));
    };
    mproc::Event go;
    auto f = executor.submit(blocked_until_set, go, 3);
    f.add_done_callback([&](const futures::Future<int>& done) { record("first " + std::to_string(done.result())); });
    f.add_done_callback([&](const futures::Future<int>&) { record("second"); });
    go.set();
    EXPECT_EQ(f.result(60s), 3);
    EXPECT_TRUE(eventually([&] {
        std::lock_guard lock(mutex);
        return calls.size() == 2;
    }));
    f.add_done_callback([&](const futures::Future<int>& done) { record(done.done() ? "late, done" : "late, not done"); });
    std::lock_guard lock(mutex);
    EXPECT_EQ(calls, (std::vector<std::string>{"first 3", "second", "late, done"}));
}

TEST(Futures, ACallbackOfACancelledFutureRunsOnTheCancellingThread) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    auto queued = blocked.executor.submit(square, 1);
    auto queued2 = blocked.executor.submit(square, 2);
    std::thread::id ran_on;
    bool was_cancelled = false;
    queued2.add_done_callback([&](const futures::Future<int>& f) {
        ran_on = std::this_thread::get_id();
        was_cancelled = f.cancelled();
    });
    ASSERT_TRUE(queued2.cancel());
    EXPECT_EQ(ran_on, std::this_thread::get_id());
    EXPECT_TRUE(was_cancelled);
    blocked.go.set();
}

TEST(Futures, AsCompletedYieldsEachFutureOnceInCompletionOrder) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    mproc::Event go;
    std::vector<futures::Future<int>> fs;
    fs.push_back(executor.submit(blocked_until_set, go, 1));
    fs.push_back(executor.submit(square, 2));
    fs.push_back(fs[1]);  // a duplicate is yielded once, as Python's set would
    EXPECT_EQ(fs[1].result(60s), 4);
    std::vector<int> order;
    for (const auto& f : futures::as_completed(fs, 60s)) {
        order.push_back(f.result());
        if (order.size() == 1) go.set();  // the blocked one can only finish after the first
    }
    EXPECT_EQ(order, (std::vector<int>{4, 1}));
}

TEST(Futures, AsCompletedThrowsTimeoutErrorWhenTheTimeRunsOut) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    std::vector<futures::Future<int>> fs{blocked.executor.submit(square, 3), blocked.blocker};
    int seen = 0;
    EXPECT_THROW(
        {
            for (const auto& f : futures::as_completed(fs, 100ms)) {
                (void)f;
                ++seen;
            }
        },
        mproc::TimeoutError);
    EXPECT_EQ(seen, 0);
    blocked.go.set();
}

TEST(Futures, AsCompletedAndWaitTakeAsyncResultsOfAPoolToo) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    std::vector<mproc::AsyncResult<int>> rs;
    for (int i = 0; i < 20; ++i) rs.push_back(pool.apply_async(square, i));
    int sum = 0;
    for (const auto& r : futures::as_completed(rs, 60s)) sum += r.get();
    EXPECT_EQ(sum, 2470);
    auto [done, not_done] = futures::wait(rs, 60s);
    EXPECT_EQ(done.size(), 20u);
    EXPECT_TRUE(not_done.empty());
}

TEST(Futures, AsCompletedYieldsEachFutureOnceWhileOthersAreCancelledAndObservedConcurrently) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    for (int round = 0; round < 3; ++round) {
        // Both workers blocked, so that the calls queue up and the canceller meets them there.
        mproc::Event go;
        std::vector<futures::Future<int>> blockers{executor.submit(blocked_until_set, go, -1),
                                                   executor.submit(blocked_until_set, go, -1)};
        auto fs = submit_squares(executor, 2000);
        std::atomic<int> callbacks{0};
        for (std::size_t i = 0; i < fs.size(); i += 5) fs[i].add_done_callback([&](const futures::Future<int>&) { ++callbacks; });
        // A second as_completed over the same futures, and a canceller, race the first; the
        // workers start once the canceller is under way.
        std::atomic<long> other_sum{0};
        std::thread other([&] {
            for (const auto& f : futures::as_completed(fs, 120s))
                if (!f.cancelled()) other_sum += f.result();
        });
        std::atomic<std::size_t> cancel_calls{0};
        std::thread canceller([&] {
            for (std::size_t i = fs.size(); i-- > 0;) {
                if (i % 3 == 0) (void)fs[i].cancel();
                cancel_calls.fetch_add(1);
            }
        });
        const auto go_after = static_cast<std::size_t>(round) * 600;
        while (cancel_calls.load() < go_after) std::this_thread::yield();
        go.set();
        std::vector<int> yielded(fs.size(), 0);
        long sum = 0;
        for (const auto& f : futures::as_completed(fs, 120s)) {
            const auto at = static_cast<std::size_t>(std::ranges::find(fs, f) - fs.begin());
            ++yielded[at];
            if (f.cancelled()) {
                EXPECT_EQ(at % 3, 0u);
            } else {
                sum += f.result();
            }
        }
        canceller.join();
        other.join();
        EXPECT_EQ(std::ranges::count(yielded, 1), static_cast<long>(fs.size()));
        EXPECT_EQ(sum, other_sum.load());
        long expected = 0;
        for (std::size_t i = 0; i < fs.size(); ++i)
            if (!fs[i].cancelled()) expected += static_cast<long>(i * i);
        EXPECT_EQ(sum, expected);
        // A callback runs after the listeners are told: it may come a little after its yield.
        EXPECT_TRUE(eventually([&] { return callbacks.load() == 400; }));
        for (const auto& blocker : blockers) EXPECT_EQ(blocker.result(60s), -1);
    }
}

TEST(Futures, AsCompletedAndWaitLeftEarlyStopListeningWhileTheirFuturesStillComplete) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    for (int round = 0; round < 20; ++round) {
        auto fs = submit_squares(executor, 300);
        int taken = 0;
        for (const auto& f : futures::as_completed(fs, 60s)) {
            (void)f;
            if (++taken == round % 5 + 1) break;  // the rest still complete after this
        }
        auto first = futures::wait(fs, 60s, futures::FIRST_COMPLETED);
        EXPECT_FALSE(first.done.empty());
        if (round % 2 == 0)
            for (std::size_t i = fs.size() / 2; i < fs.size(); ++i) (void)fs[i].cancel();
        for (std::size_t i = 0; i < fs.size(); ++i) {
            if (!fs[i].cancelled()) {
                EXPECT_EQ(fs[i].result(60s), static_cast<int>(i * i));
            }
        }
    }
}

TEST(Futures, WaitAndAsCompletedTakeAMixOfFuturesAndAsyncResultsAsAnyFuture) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    futures::ProcessPoolExecutor executor(1);
    mproc::Event go;
    auto text = pool.apply_async([](int x) { return std::to_string(x); }, 5);
    auto number = executor.submit(blocked_until_set, go, 7);
    std::vector<futures::AnyFuture> mix{text, number};
    auto first = futures::wait(mix, 60s, futures::FIRST_COMPLETED);
    ASSERT_EQ(first.done.size(), 1u);
    EXPECT_EQ(first.done[0].exception(), nullptr);
    EXPECT_EQ(text.get(), "5");
    EXPECT_FALSE(number.done());
    go.set();
    int done = 0;
    for (const auto& f : futures::as_completed(mix, 60s)) done += f.done();
    EXPECT_EQ(done, 2);
    EXPECT_EQ(number.result(), 7);
}

TEST(Futures, WaitFirstCompletedReturnsOnceOneIsDone) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    auto quick = futures::ProcessPoolExecutor(1).submit(square, 2);  // another executor: not blocked
    std::vector<futures::Future<int>> fs{blocked.blocker, quick};
    auto [done, not_done] = futures::wait(fs, 60s, futures::FIRST_COMPLETED);
    ASSERT_EQ(done.size(), 1u);
    EXPECT_EQ(done[0].result(), 4);
    ASSERT_EQ(not_done.size(), 1u);
    EXPECT_FALSE(not_done[0].done());
    blocked.go.set();
}

TEST(Futures, WaitFirstExceptionReturnsAtTheFirstFailureButNotAtACancellation) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    futures::ProcessPoolExecutor other(1);
    std::vector<futures::Future<int>> queued;
    for (int i = 0; i < 3; ++i) queued.push_back(blocked.executor.submit(square, i));
    ASSERT_TRUE(queued.back().cancel());
    // A cancellation is no exception: wait goes on until the timeout.
    const auto start = Clock::now();
    auto first = futures::wait(std::vector{blocked.blocker, queued.back()}, 200ms, futures::FIRST_EXCEPTION);
    EXPECT_GE(seconds_since(start), 0.19);
    EXPECT_EQ(first.done.size(), 1u);
    auto failing = other.submit(fail_with, 1);
    auto [done, not_done] = futures::wait(std::vector{blocked.blocker, queued.back(), failing}, 60s, futures::FIRST_EXCEPTION);
    EXPECT_EQ(done.size(), 2u);
    EXPECT_TRUE(std::ranges::any_of(done, [](const auto& f) { return !f.cancelled() && f.exception() != nullptr; }));
    ASSERT_EQ(not_done.size(), 1u);
    EXPECT_FALSE(not_done[0].done());
    blocked.go.set();
    // With nothing failing, FIRST_EXCEPTION waits for all.
    std::vector<futures::Future<int>> fine{other.submit(square, 3), other.submit(square, 4)};
    auto all = futures::wait(fine, 60s, futures::FIRST_EXCEPTION);
    EXPECT_EQ(all.done.size(), 2u);
}

TEST(Futures, WaitAllCompletedWithATimeoutReturnsWhatIsDoneWithoutThrowing) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    auto quick = blocked.executor.submit(square, 2);
    std::vector<futures::Future<int>> fs{blocked.blocker, quick};
    const auto start = Clock::now();
    auto [done, not_done] = futures::wait(fs, 100ms);
    EXPECT_GE(seconds_since(start), 0.09);
    EXPECT_TRUE(done.empty());
    EXPECT_EQ(not_done.size(), 2u);
    blocked.go.set();
    auto all = futures::wait(fs, 60s, futures::ALL_COMPLETED);
    EXPECT_EQ(all.done.size(), 2u);
    EXPECT_TRUE(all.not_done.empty());
}

TEST(Futures, MapYieldsInInputOrderAndZipsSeveralInputsToTheShortest) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    EXPECT_EQ(collect(executor.map(square, std::views::iota(0, 100))), squares(100));
    EXPECT_EQ(collect(executor.map(square, std::vector<int>{}, {.chunksize = 8})), std::vector<int>{});
    const std::vector<int> a{1, 2, 3, 4};
    const std::vector<int> b{10, 20, 30};
    EXPECT_EQ(collect(executor.map(add, a, b)), (std::vector<int>{11, 22, 33}));
    EXPECT_EQ(collect(executor.map({.chunksize = 2}, add, a, b)), (std::vector<int>{11, 22, 33}));
}

TEST(Futures, MapRethrowsAFailedItemWhereTheIterationReachesIt) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    auto results = executor.map([](int x) { return x == 3 ? fail_with(x) : x; }, std::views::iota(0, 6), {.chunksize = 2});
    std::vector<int> seen;
    EXPECT_THROW(
        {
            for (int x : results) seen.push_back(x);
        },
        std::invalid_argument);
    EXPECT_EQ(seen, (std::vector<int>{0, 1, 2}));
}

TEST(Futures, MapTimeoutCountsFromTheCallAndThrowsTimeoutErrorFromTheIteration) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    auto results = blocked.executor.map(square, std::views::iota(0, 4), {.timeout = 100ms});
    EXPECT_THROW((void)results.next(), mproc::TimeoutError);
    blocked.go.set();
}

// Python's map cancels its calls no worker has started when its iterator is closed.
TEST(Futures, DroppingAMapBeforeItsEndCancelsTheCallsNoWorkerHasTaken) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    mproc::Value<int> calls(0);
    const auto counted = mproc::partial(
        [](mproc::Value<int> count, int x) {
            count.fetch_add(1);
            return x;
        },
        calls);
    { auto dropped = blocked.executor.map(counted, std::views::iota(0, 100)); }
    blocked.go.set();
    EXPECT_EQ(blocked.blocker.result(60s), -1);
    {
        auto finished = blocked.executor.map(counted, std::views::iota(0, 3));
        std::vector<int> values;
        for (int y : finished) values.push_back(y);
        EXPECT_EQ(values, std::vector<int>({0, 1, 2}));
    }
    blocked.executor.shutdown();
    // The worker held a few calls ahead of the blocker; the rest never ran. The 3 are the
    // second map's.
    EXPECT_LE(calls.value(), 3 + 8);
    EXPECT_GE(calls.value(), 3);
}

TEST(Futures, ShutdownWithCancelFuturesCancelsQueuedCallsAndRunsTheRest) {
    LeakCheck leaks;
    BlockedExecutor blocked;
    std::vector<futures::Future<int>> queued;
    for (int i = 0; i < 10; ++i) queued.push_back(blocked.executor.submit(square, i));
    blocked.executor.shutdown({.wait = false, .cancel_futures = true});
    EXPECT_THROW((void)blocked.executor.submit(square, 1), mproc::PoolClosed);
    const auto cancelled = std::ranges::count_if(queued, [](const auto& f) { return f.cancelled(); });
    EXPECT_GE(cancelled, 8);
    blocked.go.set();
    blocked.executor.shutdown();
    EXPECT_EQ(blocked.blocker.result(), -1);
    for (int i = 0; i < 10; ++i) {
        const auto& f = queued[static_cast<std::size_t>(i)];
        EXPECT_TRUE(f.done());
        if (!f.cancelled()) {
            EXPECT_EQ(f.result(), i * i);
        }
    }
}

TEST(Futures, TheDestructorWaitsForEverySubmittedCall) {
    LeakCheck leaks;
    std::vector<futures::Future<int>> fs;
    {
        futures::ProcessPoolExecutor executor(2);
        for (int i = 0; i < 50; ++i) fs.push_back(executor.submit(sleep_then_square, 1, i));
    }
    for (int i = 0; i < 50; ++i) {
        ASSERT_TRUE(fs[static_cast<std::size_t>(i)].done());
        EXPECT_EQ(fs[static_cast<std::size_t>(i)].result(), i * i);
    }
}

TEST(Futures, ACrashedWorkerFailsOnlyItsFutureAndTheExecutorGoesOn) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(2);
    auto crashed = executor.submit([] { std::abort(); });
    std::vector<futures::Future<int>> others;
    for (int i = 0; i < 20; ++i) others.push_back(executor.submit(square, i));
    EXPECT_THROW(crashed.result(60s), mproc::WorkerCrashed);
    for (int i = 0; i < 20; ++i) EXPECT_EQ(others[static_cast<std::size_t>(i)].result(60s), i * i);
    EXPECT_EQ(executor.submit(square, 9).result(60s), 81);
}

TEST(Futures, InitializerRunsInEveryWorkerAndMaxTasksPerChildReplacesWorkers) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(
        {.max_workers = 1, .initializer = mproc::call([](int x) { ::setenv("MPROC_FUTURES_INIT", std::to_string(x).c_str(), 1); }, 5), .max_tasks_per_child = 2});
    std::set<int> pids;
    for (int i = 0; i < 6; ++i) {
        EXPECT_EQ(executor.submit([] { return std::string(std::getenv("MPROC_FUTURES_INIT")); }).result(60s), "5");
        pids.insert(executor.submit([] { return static_cast<int>(::getpid()); }).result(60s));
    }
    EXPECT_GE(pids.size(), 3u);
}

TEST(Futures, ThousandsOfFuturesLeaveNoDescriptorOrMemoryGrowth) {
    LeakCheck leaks;
    long first_round_rss = 0;
    futures::ProcessPoolExecutor executor(2);
    for (int round = 0; round < 3; ++round) {
        std::vector<futures::Future<int>> fs;
        for (int i = 0; i < 5000; ++i) fs.push_back(executor.submit(square, i));
        for (auto& f : fs) f.add_done_callback([](const futures::Future<int>&) {});
        long sum = 0;
        for (const auto& f : futures::as_completed(fs, 120s)) sum += f.result();
        EXPECT_EQ(sum, 41654167500L);
        if (round == 0) first_round_rss = resident_bytes();
    }
    // The futures of earlier rounds, their observers and callbacks are gone.
    EXPECT_LT(resident_bytes(), first_round_rss + (32L << 20));
}

TEST(Futures, AMovedFromFutureThrowsStateError) {
    LeakCheck leaks;
    futures::ProcessPoolExecutor executor(1);
    auto f = executor.submit(square, 2);
    auto g = std::move(f);
    EXPECT_EQ(g.result(60s), 4);
    EXPECT_THROW((void)f.done(), mproc::StateError);  // NOLINT(bugprone-use-after-move)
}

}  // namespace
