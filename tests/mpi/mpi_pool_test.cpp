// mproc::mpi::Pool under mpirun -n 3: rank 0 runs these tests, ranks 1 and 2 serve their tasks
// (mproc::init in main turns them into workers). The whole binary is one MPI job, so the pools
// of the tests follow each other on the same worker ranks.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <map>
#include <numeric>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/mproc.hpp>
#include <mproc/mpi.hpp>

namespace {

using namespace std::chrono_literals;

int square(int x) { return x * x; }
int where_after(int milliseconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(milliseconds));
    return mproc::mpi::rank();
}
int pid_of(int) { return static_cast<int>(::getpid()); }
int fail_on_seven(int x) {
    if (x == 7) throw std::invalid_argument("seven is not allowed");
    return x;
}
struct CustomError : std::exception {
    const char* what() const noexcept override { return "custom failure"; }
};
int throw_custom(int) { throw CustomError(); }
std::vector<std::byte> echo(std::vector<std::byte> bytes) { return bytes; }

int initialized_value = 0;
void set_initialized(int value) { initialized_value = value; }
int read_initialized() { return initialized_value; }
void refuse_to_start() { throw std::runtime_error("initializer refused"); }

TEST(MpiPool, RunsOnTheWorkerRanks) {
    ASSERT_TRUE(mproc::mpi::launched());
    ASSERT_EQ(mproc::mpi::world_size(), 3) << "run this test under mpirun -n 3";
    EXPECT_EQ(mproc::mpi::rank(), 0);
    mproc::mpi::Pool pool;
    EXPECT_EQ(pool.ranks(), 2);
    EXPECT_EQ(pool.processes(), 2);
    // Tasks long enough that both ranks take some.
    auto ranks = pool.map(where_after, std::vector<int>(8, 20), {.chunksize = 1});
    EXPECT_EQ(std::set<int>(ranks.begin(), ranks.end()), (std::set<int>{1, 2}));
    EXPECT_EQ(pool.worker_pids().size(), 2u);
}

TEST(MpiPool, Map) {
    mproc::mpi::Pool pool;
    std::vector<int> expected;
    for (int i = 0; i < 1000; ++i) expected.push_back(i * i);
    EXPECT_EQ(pool.map(square, std::views::iota(0, 1000)), expected);
    EXPECT_TRUE(pool.map(square, std::vector<int>{}).empty());
}

TEST(MpiPool, MapAsyncWithCallbacks) {
    mproc::mpi::Pool pool;
    std::atomic<long> summed{-1};
    auto result = pool.map_async(mproc::callbacks([&](const std::vector<int>& squares) {
                                     summed = std::accumulate(squares.begin(), squares.end(), 0L);
                                 }),
                                 square, std::views::iota(0, 100));
    const auto squares = result.get(30s);
    EXPECT_EQ(squares[99], 9801);
    EXPECT_EQ(summed.load(), 328350);  // the callback ran before get() returned

    std::string error;
    auto failed = pool.apply_async(mproc::error_callback([&](const std::exception& e) { error = e.what(); }),
                                   fail_on_seven, 7);
    EXPECT_THROW(failed.get(30s), std::invalid_argument);
    EXPECT_EQ(error, "seven is not allowed");
}

TEST(MpiPool, ImapInOrderAndUnordered) {
    mproc::mpi::Pool pool;
    std::vector<int> in_order;
    for (int y : pool.imap(square, std::views::iota(0, 200))) in_order.push_back(y);
    std::vector<int> expected;
    for (int i = 0; i < 200; ++i) expected.push_back(i * i);
    EXPECT_EQ(in_order, expected);

    std::vector<int> any_order;
    for (int y : pool.imap_unordered(square, std::views::iota(0, 200), {.chunksize = 8})) any_order.push_back(y);
    std::sort(any_order.begin(), any_order.end());
    EXPECT_EQ(any_order, expected);
}

TEST(MpiPool, StarmapAndApply) {
    mproc::mpi::Pool pool;
    const auto sums = pool.starmap([](int a, int b) { return a + b; },
                                   std::vector<std::tuple<int, int>>{{1, 2}, {3, 4}, {5, 6}});
    EXPECT_EQ(sums, (std::vector<int>{3, 7, 11}));
    EXPECT_EQ(pool.apply(square, 12), 144);
    EXPECT_EQ(pool.apply_async(square, 9).get(30s), 81);
    EXPECT_EQ(pool.apply_async([](std::string s, int n) { return s + std::to_string(n); }, std::string("n="), 5).get(30s),
              "n=5");
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 50; ++i) results.push_back(pool.apply_async(square, i));
    for (int i = 0; i < 50; ++i) EXPECT_EQ(results[static_cast<std::size_t>(i)].get(30s), i * i);
    pool.apply([] {});  // void
}

TEST(MpiPool, ExceptionsKeepTypeAndMessage) {
    mproc::mpi::Pool pool;
    try {
        pool.apply(fail_on_seven, 7);
        FAIL() << "no exception";
    } catch (const std::invalid_argument& e) {
        EXPECT_STREQ(e.what(), "seven is not allowed");
    }
    try {
        pool.apply(throw_custom, 1);
        FAIL() << "no exception";
    } catch (const mproc::RemoteError& e) {
        EXPECT_NE(e.type_name().find("CustomError"), std::string::npos) << e.type_name();
        EXPECT_EQ(e.message(), "custom failure");
    }
    // One failing item fails the map; the pool goes on.
    EXPECT_THROW(pool.map(fail_on_seven, std::views::iota(0, 20), {.chunksize = 3}), std::invalid_argument);
    std::vector<std::string> outcomes;
    auto iteration = pool.imap(fail_on_seven, std::views::iota(5, 10));
    for (auto it = iteration.begin();;) {
        try {
            if (it == std::default_sentinel) break;
            outcomes.push_back(std::to_string(*it));
        } catch (const std::invalid_argument&) {
            outcomes.push_back("error");
        }
        ++it;
    }
    EXPECT_EQ(outcomes, (std::vector<std::string>{"5", "6", "error", "8", "9"}));
    EXPECT_EQ(pool.apply(square, 3), 9);
}

TEST(MpiPool, ChunksStayTogether) {
    mproc::mpi::Pool pool;
    const auto ranks = pool.map(where_after, std::vector<int>(40, 2), {.chunksize = 10});
    ASSERT_EQ(ranks.size(), 40u);
    for (std::size_t chunk = 0; chunk < 4; ++chunk)
        for (std::size_t i = 1; i < 10; ++i) EXPECT_EQ(ranks[chunk * 10 + i], ranks[chunk * 10]) << "chunk " << chunk;
}

TEST(MpiPool, Progress) {
    mproc::mpi::Pool pool;
    testing::internal::CaptureStderr();
    const auto squares = pool.map(square, std::views::iota(0, 30), {.progress = true});
    const std::string drawn = testing::internal::GetCapturedStderr();
    EXPECT_EQ(squares[29], 841);
    EXPECT_NE(drawn.find("30/30"), std::string::npos) << drawn;
}

TEST(MpiPool, UnevenTasksBalance) {
    mproc::mpi::Pool pool;
    // One long task first, then many short ones: the rank busy with the long one must not be
    // handed a share of the short ones up front.
    std::vector<int> durations{600};
    durations.resize(13, 40);
    const auto started = std::chrono::steady_clock::now();
    const auto ranks = pool.map(where_after, durations, {.chunksize = 1});
    const auto took = std::chrono::steady_clock::now() - started;
    std::map<int, int> tasks_per_rank;
    for (int rank : ranks) ++tasks_per_rank[rank];
    EXPECT_LE(tasks_per_rank[ranks[0]], 2);  // the long task, and at most one queued behind it
    // Static halves would take 600 + 6 * 40 ms on the slow rank.
    EXPECT_LT(took, 820ms);
}

TEST(MpiPool, LargeMessages) {
    mproc::mpi::Pool pool;
    std::vector<std::byte> big(16 << 20);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 31);
    EXPECT_EQ(pool.apply(echo, big), big);
    const auto echoed = pool.map(echo, std::vector<std::vector<std::byte>>(4, big), {.chunksize = 1});
    for (const auto& bytes : echoed) EXPECT_EQ(bytes, big);
}

TEST(MpiPool, SharedObjectsAreRefused) {
    mproc::mpi::Pool pool;
    mproc::Value<int> counter(0);
    try {
        pool.apply([](mproc::Value<int> c) { c.fetch_add(1); }, counter);
        FAIL() << "no exception";
    } catch (const mproc::SerializationError& e) {
        EXPECT_NE(std::string(e.what()).find("local mproc::Pool"), std::string::npos) << e.what();
    }
    EXPECT_EQ(counter.load(), 0);
    EXPECT_EQ(pool.apply(square, 4), 16);
}

TEST(MpiPool, TimeoutsNeedLocalProcesses) {
    mproc::mpi::Pool pool;
    try {
        pool.apply(mproc::TaskOptions{.timeout = 1s}, square, 2);
        FAIL() << "no exception";
    } catch (const mproc::Error& e) {
        EXPECT_NE(std::string(e.what()).find("local_processes"), std::string::npos) << e.what();
    }
    EXPECT_EQ(pool.apply(square, 5), 25);
}

TEST(MpiPool, InitializerRunsOnEveryRank) {
    mproc::mpi::Pool pool({.initializer = mproc::call(set_initialized, 42)});
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 8; ++i) results.push_back(pool.apply_async(read_initialized));
    for (auto& result : results) EXPECT_EQ(result.get(30s), 42);
    EXPECT_EQ(initialized_value, 0);  // not on rank 0
}

TEST(MpiPool, FailingInitializerFailsTheConstructor) {
    try {
        mproc::mpi::Pool pool({.initializer = mproc::call(refuse_to_start)});
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "initializer refused");
    }
    mproc::mpi::Pool pool;  // the ranks are free again
    EXPECT_EQ(pool.apply(square, 6), 36);
}

TEST(MpiPool, OnePoolAtATime) {
    mproc::mpi::Pool first;
    EXPECT_THROW(mproc::mpi::Pool second, mproc::StateError);
    EXPECT_EQ(first.apply(square, 7), 49);
}

TEST(MpiPool, TasksCannotCreateAnMpiPool) {
    mproc::mpi::Pool pool;
    EXPECT_THROW(pool.apply([] { mproc::mpi::Pool nested; }), mproc::StateError);
}

TEST(MpiPool, CloseAndJoin) {
    mproc::mpi::Pool pool;
    auto pending = pool.map_async(where_after, std::vector<int>(6, 30), {.chunksize = 1});
    pool.close();
    EXPECT_THROW(pool.apply(square, 1), mproc::PoolClosed);
    pool.join();
    EXPECT_TRUE(pending.ready());  // join waited for the submitted work
    EXPECT_EQ(pending.get().size(), 6u);
}

TEST(MpiPool, ImapStartedBeforeCloseRunsToTheEnd) {
    mproc::mpi::Pool pool;
    auto squares = pool.imap(square, std::views::iota(0, 2000));  // more than one window
    pool.close();
    long sum = 0;
    for (int y : squares) sum += y;
    EXPECT_EQ(sum, 2664667000L);
    pool.join();
}

TEST(MpiPool, TerminateDropsQueuedTasks) {
    mproc::mpi::Pool pool;
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 20; ++i) results.push_back(pool.apply_async(where_after, 200));
    std::this_thread::sleep_for(50ms);
    const auto started = std::chrono::steady_clock::now();
    pool.terminate();
    pool.join();
    // Only the tasks already running are waited for (one round of 200 ms, not ten).
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
    int terminated = 0;
    for (auto& result : results) {
        try {
            result.get(5s);
        } catch (const mproc::PoolTerminated&) {
            ++terminated;
        }
    }
    EXPECT_EQ(terminated, 20);
    EXPECT_THROW(pool.apply(square, 1), mproc::PoolTerminated);
}

// --- Hierarchical mode: every rank runs a local pool ---------------------------------------------

TEST(MpiPoolLocalProcesses, UsesEveryLocalWorker) {
    mproc::mpi::Pool pool({.local_processes = 2});
    EXPECT_EQ(pool.processes(), 4);
    const auto pids = pool.map(pid_of, std::views::iota(0, 400), {.chunksize = 1});
    const std::set<int> distinct(pids.begin(), pids.end());
    EXPECT_GE(distinct.size(), 3u);  // local workers of both ranks
    for (int pid : distinct) EXPECT_NE(pid, static_cast<int>(::getpid()));
    const auto ranks = pool.map(where_after, std::vector<int>(8, 10), {.chunksize = 1});
    for (int rank : ranks) EXPECT_TRUE(rank == 1 || rank == 2) << rank;  // forked from the worker ranks
}

TEST(MpiPoolLocalProcesses, Initializer) {
    {
        mproc::mpi::Pool pool({.local_processes = 2, .initializer = mproc::call(set_initialized, 7)});
        std::vector<mproc::AsyncResult<int>> results;
        for (int i = 0; i < 12; ++i) results.push_back(pool.apply_async(read_initialized));
        for (auto& result : results) EXPECT_EQ(result.get(30s), 7);
    }
    try {
        mproc::mpi::Pool pool({.local_processes = 2, .initializer = mproc::call(refuse_to_start)});
        FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "initializer refused");
    }
}

TEST(MpiPoolLocalProcesses, CrashFailsOnlyItsTask) {
    mproc::mpi::Pool pool({.local_processes = 2});
    auto crashed = pool.apply_async([] {
        std::raise(SIGKILL);
        return 0;
    });
    EXPECT_THROW(crashed.get(30s), mproc::WorkerCrashed);
    EXPECT_EQ(pool.map(square, std::vector{1, 2, 3}), (std::vector{1, 4, 9}));
    EXPECT_EQ(pool.apply(square, 11), 121);
}

TEST(MpiPoolLocalProcesses, Timeouts) {
    mproc::mpi::Pool pool({.local_processes = 1});
    EXPECT_THROW(pool.apply(mproc::TaskOptions{.timeout = 100ms}, where_after, 5000), mproc::TimeoutError);
    EXPECT_EQ(pool.apply(mproc::TaskOptions{.timeout = 5s}, square, 3), 9);
}

TEST(MpiPoolLocalProcesses, TerminateStopsRunningTasks) {
    mproc::mpi::Pool pool({.local_processes = 1});
    auto slow = pool.apply_async(where_after, 20000);
    std::this_thread::sleep_for(100ms);
    const auto started = std::chrono::steady_clock::now();
    pool.terminate();
    pool.join();
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_THROW(slow.get(1s), mproc::PoolTerminated);
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);  // ranks 1 and 2 serve here and leave
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
