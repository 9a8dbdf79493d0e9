// mproc::Pool: close, terminate, join, the destructor, maxtasksperchild, initializers.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

// An imap on a closed or terminated pool is refused: either the call throws Error, or the
// iteration does at its first item. No item may run.
template <class Error, class MakeImap>
void expect_imap_refused(MakeImap make_imap) {
    try {
        auto results = make_imap();
        (void)results.next(5s);
        ADD_FAILURE() << "imap accepted work on a pool that no longer takes any";
    } catch (const Error&) {
    } catch (const std::exception& e) {
        ADD_FAILURE() << "wrong error: " << typeid(e).name() << ": " << e.what();
    }
}

TEST(PoolLifetime, TerminateFailsUnfinishedTasksWithPoolTerminatedAndNoGetHangs) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto workers = pool.worker_pids();
    auto finished = pool.apply_async(square, 3);
    EXPECT_EQ(finished.get(), 9);
    std::vector<mproc::AsyncResult<int>> running;
    for (int i = 0; i < 6; ++i) running.push_back(pool.apply_async(sleep_for_ms, 5000));  // 4 sent, 2 queued
    auto mapped = pool.map_async(sleep_for_ms, std::vector<int>(4, 5000));
    auto imapped = pool.imap(sleep_for_ms, std::vector<int>(3, 5000));
    sleep_ms(100);
    const auto start = Clock::now();
    pool.terminate();
    finishes_within(10s, [&] {
        for (auto& result : running) EXPECT_THROW(result.get(), mproc::PoolTerminated);
        EXPECT_THROW(mapped.get(), mproc::PoolTerminated);
        EXPECT_THROW(imapped.next(), mproc::PoolTerminated);
    });
    EXPECT_LT(seconds_since(start), 3.0);
    EXPECT_EQ(finished.get(), 9) << "a result completed before terminate() must stay";
    EXPECT_THROW((void)pool.apply_async(square, 1), mproc::PoolTerminated);
    EXPECT_THROW(pool.map(square, std::vector{1, 2}), mproc::PoolTerminated);
    expect_imap_refused<mproc::PoolTerminated>([&] { return pool.imap(square, std::vector{1, 2}); });
    pool.join();
    for (int pid : workers) EXPECT_TRUE(process_gone(pid));
    pool.terminate();  // again: no effect
}

TEST(PoolLifetime, SubmittingAfterCloseThrowsPoolClosedAndSubmittedWorkStillRuns) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    auto submitted = pool.apply_async(sleep_then_square, 200, 5);
    auto mapped = pool.map_async(sleep_for_ms, std::vector<int>(6, 50), {.chunksize = 1});
    pool.close();
    EXPECT_THROW((void)pool.apply_async(square, 1), mproc::PoolClosed);
    EXPECT_THROW(pool.apply(square, 1), mproc::PoolClosed);
    EXPECT_THROW(pool.map(square, std::vector{1, 2}), mproc::PoolClosed);
    EXPECT_THROW((void)pool.map_async(square, std::views::iota(0, 3)), mproc::PoolClosed);
    EXPECT_THROW(pool.starmap(multiply, std::vector<std::tuple<int, int>>{{1, 2}}), mproc::PoolClosed);
    EXPECT_THROW((void)pool.starmap_async(multiply, std::vector<std::tuple<int, int>>{{1, 2}}), mproc::PoolClosed);
    expect_imap_refused<mproc::PoolClosed>([&] { return pool.imap(square, std::vector{1, 2}); });
    expect_imap_refused<mproc::PoolClosed>([&] { return pool.imap_unordered(square, Generated(5)); });
    pool.close();  // again: no effect
    finishes_within(10s, [&] { pool.join(); }, [&] { pool.terminate(); });
    EXPECT_TRUE(submitted.ready()) << "join() returned before the submitted work finished";
    EXPECT_EQ(submitted.get(), 25);
    EXPECT_TRUE(mapped.ready());
    EXPECT_EQ(mapped.get(), std::vector<int>(6, 50));
}

// The thread blocked in get() receives the last reply itself: the pool thread, asleep, must
// still learn that the closed pool is idle and tell its workers to exit.
TEST(PoolLifetime, JoinReturnsAfterTheWaitingThreadReceivedTheLastReplyOfAClosedPool) {
    LeakCheck leaks;
    for (int round = 0; round < 10; ++round) {
        mproc::Pool pool(1);
        for (int i = 0; i < 200; ++i) pool.apply([](int x) { return x; }, i);  // lengthens this thread's spin
        mproc::Event go;
        auto result = pool.apply_async([](mproc::Event e) { e.wait(); return 7; }, go);
        pool.close();
        std::this_thread::sleep_for(5ms);  // the pool thread handles close() and sleeps again
        go.set();
        EXPECT_EQ(result.get(), 7);
        EXPECT_TRUE(finishes_within(5s, [&] { pool.join(); }, [&] { pool.terminate(); })) << "round " << round;
    }
}

TEST(PoolLifetime, JoinBeforeCloseOrTerminateIsAStateError) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    EXPECT_THROW(pool.join(), mproc::StateError);
    EXPECT_EQ(pool.apply(square, 2), 4) << "pool unusable after a refused join()";
    const int pid = pool.worker_pids().at(0);
    pool.close();
    pool.join();
    EXPECT_TRUE(process_gone(pid)) << "join() returned before the workers exited";
    pool.join();  // again: returns at once
}

TEST(PoolLifetime, DestructorFinishesSubmittedWork) {
    LeakCheck leaks;
    std::vector<mproc::AsyncResult<int>> results;
    std::optional<mproc::AsyncResult<std::vector<int>>> mapped;
    std::vector<int> workers;
    {
        mproc::Pool pool(2);
        workers = pool.worker_pids();
        for (int i = 0; i < 10; ++i) results.push_back(pool.apply_async(sleep_then_square, 50, i));
        mapped.emplace(pool.map_async(sleep_for_ms, std::vector<int>(10, 20), {.chunksize = 1}));
    }
    for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE(results[static_cast<std::size_t>(i)].ready()) << "task " << i << " dropped by the destructor";
        if (results[static_cast<std::size_t>(i)].ready()) {
            EXPECT_EQ(results[static_cast<std::size_t>(i)].get(), i * i);
        }
    }
    ASSERT_TRUE(mapped->ready());
    EXPECT_EQ(mapped->get(), std::vector<int>(10, 20));
    for (int pid : workers) EXPECT_TRUE(process_gone(pid));
}

TEST(PoolLifetime, MovedPoolKeepsItsWorkers) {
    LeakCheck leaks;
    mproc::Pool first(2);
    const auto workers = first.worker_pids();
    mproc::Pool second(std::move(first));
    EXPECT_EQ(second.worker_pids(), workers);
    EXPECT_EQ(second.map(square, std::views::iota(0, 10)), squares(10));
}

TEST(PoolLifetime, MovedFromHandlesThrowStateErrorInsteadOfCrashing) {
    LeakCheck leaks;
    mproc::Pool first(1);
    mproc::Pool second(std::move(first));
    EXPECT_THROW(first.map(square, std::vector{1, 2}), mproc::StateError);
    EXPECT_THROW(first.apply(square, 1), mproc::StateError);
    EXPECT_THROW((void)first.apply_async(square, 1), mproc::StateError);
    EXPECT_THROW((void)first.imap(square, std::vector{1}), mproc::StateError);
    EXPECT_THROW(first.close(), mproc::StateError);
    EXPECT_THROW(first.terminate(), mproc::StateError);
    EXPECT_THROW(first.join(), mproc::StateError);
    EXPECT_THROW((void)first.processes(), mproc::StateError);
    EXPECT_THROW((void)first.worker_pids(), mproc::StateError);

    auto result = second.apply_async(square, 3);
    auto moved_result = std::move(result);
    EXPECT_THROW(result.get(), mproc::StateError);
    EXPECT_THROW((void)result.ready(), mproc::StateError);
    EXPECT_EQ(moved_result.get(), 9);

    auto results = second.imap(square, std::vector{1, 2});
    auto moved_results = std::move(results);
    EXPECT_THROW(results.next(), mproc::StateError);
    EXPECT_EQ(collect(moved_results), (std::vector{1, 4}));
    EXPECT_EQ(second.apply(square, 4), 16) << "the pool that was moved to works";
}

// A pool destroyed under a live, unconsumed imap: its destructor must not wait for an iteration
// that the same thread owns. The iteration still yields what was submitted before, then fails
// with PoolClosed where it would have needed the pool.
TEST(PoolLifetime, DestroyingThePoolUnderAnUnfinishedImapNeitherHangsNorLosesItsResults) {
    LeakCheck leaks;
    finishes_within(60s, [] {
        using Results = decltype(std::declval<mproc::Pool&>().imap(square, std::views::iota(0, 1'000'000)));
        std::optional<Results> results;
        {
            mproc::Pool pool(2);
            results.emplace(pool.imap(square, std::views::iota(0, 1'000'000)));
            EXPECT_EQ(results->next(), 0);
        }
        long taken = 1;
        try {
            for (; taken < 1'000'000; ++taken) {
                const auto value = results->next(30s);
                ASSERT_TRUE(value.has_value());
                ASSERT_EQ(*value, square(static_cast<int>(taken)));
            }
            ADD_FAILURE() << "every item ran although the pool was gone";
        } catch (const mproc::PoolClosed& e) {
            EXPECT_NE(std::string(e.what()).find("destroyed"), std::string::npos) << e.what();
        }
        EXPECT_GT(taken, 1) << "the results submitted before the pool went were lost";
    });
}

TEST(PoolLifetime, InvalidOptionsAreRejected) {
    LeakCheck leaks;
    EXPECT_THROW(mproc::Pool(-1), std::invalid_argument);
    EXPECT_THROW(mproc::Pool({.processes = 1, .maxtasksperchild = 0}), std::invalid_argument);
}

TEST(PoolLifetime, DestructorAfterTerminateDoesNotWait) {
    LeakCheck leaks;
    std::optional<mproc::AsyncResult<int>> result;
    const auto start = Clock::now();
    {
        mproc::Pool pool(1);
        result.emplace(pool.apply_async(sleep_for_ms, 10'000));
        sleep_ms(50);
        pool.terminate();
    }
    EXPECT_LT(seconds_since(start), 3.0);
    EXPECT_THROW(result->get(), mproc::PoolTerminated);
}

// Blocks forever in every worker started after `marker` exists: a worker that never gets ready.
void block_once_marker_exists(std::string marker) {
    while (std::filesystem::exists(marker)) sleep_ms(1000);
}

// A replacement that never gets ready has no task to wait for: join() and the destructor stop it.
TEST(PoolLifetime, JoinDoesNotWaitForAReplacementWorkerThatNeverGetsReady) {
    LeakCheck leaks;
    const std::string marker = ::testing::TempDir() + "mproc-never-ready-" + std::to_string(::getpid());
    mproc::Pool pool({.processes = 1, .initializer = mproc::call(&block_once_marker_exists, marker)});
    const int first = pool.worker_pids().at(0);
    std::ofstream(marker).put('x');
    EXPECT_THROW(pool.apply([](int) -> int { crash(Crash::sigkill); }, 0), mproc::WorkerCrashed);
    ASSERT_TRUE(eventually([&] {
        const auto now = pool.worker_pids();
        return now.size() == 1 && now[0] != first;
    }));
    pool.close();
    EXPECT_TRUE(finishes_within(30s, [&] { pool.join(); }, [&] { pool.terminate(); }));
    EXPECT_TRUE(pool.worker_pids().empty());
    std::filesystem::remove(marker);
}

// ---------------------------------------------------------------------------------------------
// maxtasksperchild.

std::pair<int, int> square_and_pid(int x) { return {x * x, static_cast<int>(::getpid())}; }

TEST(PoolMaxTasksPerChild, WorkersAreReplacedAfterNTasksAndNoTaskIsLost) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 2, .maxtasksperchild = 3});
    const auto initial = pool.worker_pids();
    std::vector<std::pair<int, int>> runs;
    finishes_within(20s, [&] { runs = pool.map(square_and_pid, std::views::iota(0, 60), {.chunksize = 1}); },
                    [&] { pool.terminate(); });
    ASSERT_EQ(runs.size(), 60u);
    std::map<int, int> tasks_per_pid;
    for (int i = 0; i < 60; ++i) {
        EXPECT_EQ(runs[static_cast<std::size_t>(i)].first, i * i);
        ++tasks_per_pid[runs[static_cast<std::size_t>(i)].second];
    }
    for (const auto& [pid, tasks] : tasks_per_pid) EXPECT_LE(tasks, 3) << "pid " << pid;
    EXPECT_GE(tasks_per_pid.size(), 20u);
    for (int pid : pool.worker_pids()) EXPECT_FALSE(contains(initial, pid));

    // apply_async and imap through the same churn.
    finishes_within(
        20s,
        [&] {
            std::vector<mproc::AsyncResult<std::pair<int, int>>> results;
            for (int i = 0; i < 30; ++i) results.push_back(pool.apply_async(square_and_pid, i));
            std::set<int> pids;
            for (int i = 0; i < 30; ++i) {
                EXPECT_EQ(results[static_cast<std::size_t>(i)].get().first, i * i);
                pids.insert(results[static_cast<std::size_t>(i)].get().second);
            }
            EXPECT_GE(pids.size(), 10u);
            std::vector<int> got;
            for (const auto& run : pool.imap_unordered(square_and_pid, Generated(30))) got.push_back(run.first);
            EXPECT_EQ(sorted(got), squares(30));
        },
        [&] { pool.terminate(); });
}

TEST(PoolMaxTasksPerChild, OneTaskPerChildGivesEveryChunkAFreshWorker) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 2, .maxtasksperchild = 1});
    std::vector<std::pair<int, int>> runs;
    finishes_within(20s, [&] { runs = collect(pool.imap(square_and_pid, std::views::iota(0, 20), {.chunksize = 2})); },
                    [&] { pool.terminate(); });
    ASSERT_EQ(runs.size(), 20u);
    std::set<int> pids;
    for (std::size_t i = 0; i < runs.size(); i += 2) {
        EXPECT_EQ(runs[i].second, runs[i + 1].second) << "a chunk is one task";
        pids.insert(runs[i].second);
    }
    EXPECT_EQ(pids.size(), 10u);
}

// ---------------------------------------------------------------------------------------------
// Initializers.

int g_initialized_with = 0;
std::string g_init_label;
int g_tasks_before_init = -1;
int g_tasks_run = 0;

void remember(int value, std::string label) {
    g_initialized_with = value;
    g_init_label = std::move(label);
    g_tasks_before_init = g_tasks_run;
}

std::tuple<int, std::string, int> read_initialized(int) {
    ++g_tasks_run;
    return {g_initialized_with, g_init_label, g_tasks_before_init};
}

TEST(PoolInitializer, RunsInEveryWorkerBeforeItsFirstTask) {
    LeakCheck leaks;
    mproc::Pool pool(
        {.processes = 2, .initializer = mproc::call(&remember, 42, std::string("ready")), .maxtasksperchild = 2});
    std::vector<std::tuple<int, std::string, int>> seen;
    finishes_within(20s, [&] { seen = pool.map(read_initialized, std::views::iota(0, 12), {.chunksize = 1}); },
                    [&] { pool.terminate(); });
    ASSERT_EQ(seen.size(), 12u);
    for (const auto& [value, label, tasks_before] : seen) {
        EXPECT_EQ(value, 42);
        EXPECT_EQ(label, "ready");
        EXPECT_EQ(tasks_before, 0) << "initializer ran after a task";
    }
    EXPECT_EQ(g_initialized_with, 0) << "the initializer ran in the parent";
}

void failing_initializer(int how) {
    if (how == 1) throw std::invalid_argument("initializer says no");
    if (how == 2) throw ParseError("custom initializer error");
    if (how == 3) crash(Crash::abort);
}

TEST(PoolInitializer, ThrowingInitializerMakesTheConstructorThrowItQuickly) {
    LeakCheck leaks;
    finishes_within(20s, [] {
        auto start = Clock::now();
        try {
            mproc::Pool pool({.processes = 2, .initializer = mproc::call(&failing_initializer, 1)});
            ADD_FAILURE() << "no exception";
        } catch (const std::invalid_argument& e) {
            EXPECT_STREQ(e.what(), "initializer says no");
        }
        EXPECT_LT(seconds_since(start), 3.0);

        start = Clock::now();
        try {
            mproc::Pool pool({.processes = 2, .initializer = mproc::call(&failing_initializer, 2)});
            ADD_FAILURE() << "no exception";
        } catch (const mproc::RemoteError& e) {
            EXPECT_NE(e.type_name().find("ParseError"), std::string::npos) << e.type_name();
            EXPECT_EQ(e.message(), "custom initializer error");
        }
        EXPECT_LT(seconds_since(start), 3.0);

        start = Clock::now();
        EXPECT_THROW(mproc::Pool pool({.processes = 2, .initializer = mproc::call(&failing_initializer, 3)}),
                     mproc::Error)
            << "an initializer that crashes its worker";
        EXPECT_LT(seconds_since(start), 3.0);
    });
}

}  // namespace
