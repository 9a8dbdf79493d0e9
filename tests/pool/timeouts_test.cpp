// mproc::Pool: per-task timeouts.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

TEST(PoolTimeouts, TaskPastItsTimeoutFailsWithTimeoutErrorAndItsWorkerIsReplaced) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    const int pid = pool.worker_pids().at(0);
    const auto start = Clock::now();
    auto result = pool.apply_async(mproc::TaskOptions{.timeout = 100ms}, sleep_for_ms, 10'000);
    finishes_within(10s, [&] { EXPECT_THROW(result.get(), mproc::TimeoutError); }, [&] { pool.terminate(); });
    EXPECT_LT(seconds_since(start), 2.0);
    EXPECT_TRUE(eventually([&] {
        const auto now = pool.worker_pids();
        return now.size() == 1 && now[0] != pid;
    })) << "worker not replaced";
    EXPECT_TRUE(eventually([&] { return process_gone(pid); })) << "timed-out worker still alive";
    EXPECT_EQ(pool.apply(square, 5), 25);
    finishes_within(
        10s,
        [&] {
            EXPECT_THROW(pool.apply(mproc::TaskOptions{.timeout = 50ms}, sleep_for_ms, 10'000), mproc::TimeoutError);
        },
        [&] { pool.terminate(); });
    EXPECT_EQ(pool.apply_async(mproc::TaskOptions{.timeout = 5s}, square, 6).get(), 36);
}

TEST(PoolTimeouts, MapItemPastTheTimeoutFailsThatItemOnly) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto slow_at_3 = [](int x) {
        sleep_ms(x == 3 ? 10'000 : 10);
        return x;
    };
    const auto start = Clock::now();
    finishes_within(
        15s,
        [&] {
            EXPECT_THROW(pool.map(slow_at_3, std::views::iota(0, 6), {.chunksize = 1, .timeout = 200ms}),
                         mproc::TimeoutError);
            auto results = pool.imap(slow_at_3, std::views::iota(0, 6), {.timeout = 200ms});
            std::vector<int> got;
            int timeouts = 0;
            for (;;) {
                try {
                    auto value = results.next();
                    if (!value) break;
                    got.push_back(*value);
                } catch (const mproc::TimeoutError&) {
                    ++timeouts;
                }
            }
            EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 4, 5}));
            EXPECT_EQ(timeouts, 1);
        },
        [&] { pool.terminate(); });
    EXPECT_LT(seconds_since(start), 4.0);
}

TEST(PoolTimeouts, TimeoutAppliesToEachItemNotToTheWholeChunk) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    // Chunks of 6 items of 60 ms: 360 ms per chunk, each item well within 150 ms.
    EXPECT_EQ(pool.map(sleep_for_ms, std::vector<int>(12, 60), {.chunksize = 6, .timeout = 150ms}),
              std::vector<int>(12, 60));
}

int fork_grandchild_then_hang(mproc::test::Descriptor fd) {
    const pid_t child = ::fork();
    if (child == 0) {
        ::sleep(20);
        ::_exit(0);
    }
    (void)!::write(fd, &child, sizeof child);
    sleep_ms(10'000);
    return 0;
}

int start_process_then_hang(mproc::test::Descriptor fd) {
    mproc::Process process(
        [](mproc::test::Descriptor out) {
            const pid_t me = ::getpid();
            (void)!::write(out, &me, sizeof me);
            ::sleep(20);
        },
        fd);
    process.start();
    sleep_ms(10'000);
    return 0;
}

void expect_timeout_kills_what_the_task_started(int (*task)(mproc::test::Descriptor)) {
    LeakCheck leaks;
    Pipe pipe;
    mproc::Pool pool(1);
    // Long enough for the task to start its process (under spawn, an exec of this program) on a
    // loaded machine; the pipe is read with a bound, for a task killed before its process wrote
    // would leave a plain read waiting forever (the write end is ours too).
    auto result = pool.apply_async(mproc::TaskOptions{.timeout = 2s}, task, mproc::test::Descriptor{pipe.write_end});
    pollfd readable{pipe.read_end, POLLIN, 0};
    ASSERT_EQ(::poll(&readable, 1, 60'000), 1) << "the task's process never reported its pid";
    const std::string bytes = pipe.read_exactly(sizeof(pid_t));
    ASSERT_EQ(bytes.size(), sizeof(pid_t));
    pid_t grandchild;
    std::memcpy(&grandchild, bytes.data(), sizeof grandchild);
    finishes_within(60s, [&] { EXPECT_THROW(result.get(), mproc::TimeoutError); }, [&] { pool.terminate(); });
    const bool gone = eventually([&] { return process_gone(grandchild); }, 20000ms);
    EXPECT_TRUE(gone) << "process " << grandchild << " started by the timed-out task survived";
    if (!gone) ::kill(grandchild, SIGKILL);
}

TEST(PoolTimeouts, TimeoutAlsoKillsProcessesTheTaskForked) {
    expect_timeout_kills_what_the_task_started(fork_grandchild_then_hang);
}

TEST(PoolTimeouts, TimeoutAlsoKillsAnMprocProcessTheTaskStarted) {
    expect_timeout_kills_what_the_task_started(start_process_then_hang);
}

TEST(PoolTimeouts, TaskFinishingBeforeItsTimeoutSucceeds) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto before = sorted(pool.worker_pids());
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 4; ++i)
        results.push_back(pool.apply_async(mproc::TaskOptions{.timeout = 400ms}, sleep_for_ms, 200));
    for (auto& result : results) EXPECT_EQ(result.get(), 200);
    EXPECT_EQ(pool.map(sleep_for_ms, std::vector<int>(4, 200), {.chunksize = 1, .timeout = 400ms}),
              std::vector<int>(4, 200));
    EXPECT_EQ(sorted(pool.worker_pids()), before) << "a worker was killed although no task timed out";
}

TEST(PoolTimeouts, TaskEndingRightAtItsDeadlineEitherSucceedsOrTimesOut) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    // Tasks that take as long as their timeout: each must succeed or fail with TimeoutError. None
    // may fail otherwise (say, a task killed because the one before it on its worker hit the
    // deadline just as it finished).
    constexpr int tasks = 40;
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < tasks; ++i)
        results.push_back(pool.apply_async(mproc::TaskOptions{.timeout = 50ms}, sleep_for_ms, 50));
    int succeeded = 0, timed_out = 0, other = 0;
    std::string first_other;
    finishes_within(
        20s,
        [&] {
            for (auto& result : results) {
                try {
                    EXPECT_EQ(result.get(), 50);
                    ++succeeded;
                } catch (const mproc::TimeoutError&) {
                    ++timed_out;
                } catch (const std::exception& e) {
                    if (other++ == 0) first_other = std::string(typeid(e).name()) + ": " + e.what();
                }
            }
        },
        [&] { pool.terminate(); });
    EXPECT_EQ(other, 0) << other << " of " << tasks << " tasks failed otherwise; first: " << first_other;
    EXPECT_EQ(succeeded + timed_out + other, tasks);
    EXPECT_EQ(pool.apply(square, 3), 9);
}

}  // namespace
