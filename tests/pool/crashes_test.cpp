// mproc::Pool: crashed workers: the crashed task fails, nothing hangs, the worker is replaced.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

struct CrashCase {
    Crash how;
    int exitcode;
    const char* name;
};

class PoolCrash : public testing::TestWithParam<CrashCase> {};

TEST_P(PoolCrash, ApplyFailsWithWorkerCrashedAndTheWorkerIsReplaced) {
    const CrashCase param = GetParam();
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto before = pool.worker_pids();
    auto result = pool.apply_async([](Crash how) -> int { crash(how); }, param.how);
    auto other = pool.apply_async(sleep_then_square, 100, 3);
    int crashed = 0;
    finishes_within(
        10s,
        [&] {
            try {
                result.get();
                ADD_FAILURE() << "no exception";
            } catch (const mproc::WorkerCrashed& e) {
                crashed = e.pid();
                EXPECT_TRUE(contains(before, e.pid())) << "pid " << e.pid();
                EXPECT_EQ(e.exitcode(), param.exitcode);
                EXPECT_EQ(e.task_index(), std::nullopt);
            }
            EXPECT_EQ(other.get(), 9);
        },
        [&] { pool.terminate(); });
    EXPECT_TRUE(eventually([&] {
        const auto now = pool.worker_pids();
        return now.size() == 2 && !contains(now, crashed);
    })) << "no replacement worker";
    EXPECT_EQ(pool.apply(square, 7), 49);
    EXPECT_EQ(pool.map(square, std::views::iota(0, 20)), squares(20));
}

TEST_P(PoolCrash, MapAndImapBlameTheCrashedItemAndEveryOtherItemCompletes) {
    const CrashCase param = GetParam();
    LeakCheck leaks;
    mproc::Pool pool(2);
    const Crash how = param.how;
    const auto crash_at_7 = mproc::partial([](Crash way, int x) {
        if (x == 7) crash(way);
        return x * x;
    }, how);
    std::vector<int> expected = squares(20);
    expected.erase(expected.begin() + 7);
    finishes_within(
        20s,
        [&] {
            auto results = pool.imap(crash_at_7, std::views::iota(0, 20));
            std::vector<int> got;
            int crashes = 0;
            for (;;) {
                try {
                    auto value = results.next();
                    if (!value) break;
                    got.push_back(*value);
                } catch (const mproc::WorkerCrashed& e) {
                    ++crashes;
                    EXPECT_EQ(e.task_index(), 7);
                    EXPECT_EQ(e.exitcode(), param.exitcode);
                }
            }
            EXPECT_EQ(got, expected);
            EXPECT_EQ(crashes, 1);

            for (std::size_t chunksize : {1, 4, 0}) {
                SCOPED_TRACE("chunksize " + std::to_string(chunksize));
                try {
                    pool.map(crash_at_7, std::views::iota(0, 20), {.chunksize = chunksize});
                    ADD_FAILURE() << "map did not throw";
                } catch (const mproc::WorkerCrashed& e) {
                    EXPECT_EQ(e.task_index(), 7);
                    EXPECT_EQ(e.exitcode(), param.exitcode);
                }
            }
            // Items in other chunks complete: only the chunk 4..7 can be lost.
            auto chunked = pool.imap_unordered(crash_at_7, std::views::iota(0, 20), {.chunksize = 4});
            std::vector<int> survivors;
            for (;;) {
                try {
                    auto value = chunked.next();
                    if (!value) break;
                    survivors.push_back(*value);
                } catch (const mproc::WorkerCrashed&) {
                }
            }
            for (int x : {0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19})
                EXPECT_TRUE(contains(survivors, x * x)) << "item " << x << " lost";
        },
        [&] { pool.terminate(); });
    EXPECT_EQ(pool.map(square, std::views::iota(0, 20)), squares(20));
}

INSTANTIATE_TEST_SUITE_P(
    Crashes, PoolCrash,
    testing::Values(CrashCase{Crash::sigkill, -SIGKILL, "SigKill"}, CrashCase{Crash::sigsegv, -SIGSEGV, "SigSegv"},
                    CrashCase{Crash::abort, -SIGABRT, "Abort"}, CrashCase{Crash::exit3, 3, "Exit3"},
                    CrashCase{Crash::underscore_exit3, 3, "UnderscoreExit3"}),
    [](const testing::TestParamInfo<CrashCase>& param_info) { return std::string(param_info.param.name); });

TEST(PoolCrashDetection, WorkerKilledWhileTheCallerIsBlockedInGetFailsTheGet) {
    LeakCheck leaks;
    mproc::Pool pool(1);
    const int pid = pool.worker_pids().at(0);
    auto result = pool.apply_async([](int) {
        for (;;) ::pause();
        return 0;
    }, 0);
    std::thread killer([&] {
        sleep_ms(200);
        signal_own_child(pid, SIGKILL);
    });
    const auto start = Clock::now();
    {
        Watchdog watchdog(10s, [&] { pool.terminate(); });
        try {
            result.get();  // on the test's own thread, with no other call to wake the pool
            ADD_FAILURE() << "no exception";
        } catch (const mproc::WorkerCrashed& e) {
            EXPECT_EQ(e.pid(), pid);
            EXPECT_EQ(e.exitcode(), -SIGKILL);
        }
    }
    killer.join();
    EXPECT_LT(seconds_since(start), 3.0);
    EXPECT_EQ(pool.apply(square, 2), 4);
}

TEST(PoolCrashDetection, TaskCrashingLaterIsNoticedWhileTheCallerIsBlockedInGet) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto start = Clock::now();
    {
        Watchdog watchdog(10s, [&] { pool.terminate(); });
        auto result = pool.apply_async(
            [](int ms) -> int {
                sleep_ms(ms);
                crash(Crash::sigsegv);
            },
            300);
        EXPECT_THROW(result.get(), mproc::WorkerCrashed);
    }
    EXPECT_LT(seconds_since(start), 3.0);
}

TEST(PoolCrashDetection, IdleWorkerKilledIsReplacedWithoutFailingAnything) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto before = pool.worker_pids();
    ASSERT_TRUE(signal_own_child(before[0], SIGKILL));
    EXPECT_TRUE(eventually([&] {
        const auto now = pool.worker_pids();
        return now.size() == 2 && !contains(now, before[0]);
    }));
    finishes_within(10s, [&] { EXPECT_EQ(pool.map(square, std::views::iota(0, 50), {.chunksize = 1}), squares(50)); },
                    [&] { pool.terminate(); });
}

void sleep_initializer(int ms) { sleep_ms(ms); }

void expect_pool_works_after_starting_workers_were_killed(mproc::Pool& pool, std::chrono::seconds limit) {
    finishes_within(
        limit,
        [&] {
            try {
                EXPECT_EQ(pool.apply(square, 6), 36);
            } catch (const std::exception& e) {
                ADD_FAILURE() << "pool broken after starting workers were killed: " << typeid(e).name() << ": "
                              << e.what();
            }
        },
        [&] { pool.terminate(); });
}

TEST(PoolCrashDetection, WorkerKilledWhileStartingUpIsReplacedToo) {
    LeakCheck leaks;
    mproc::Pool pool({.processes = 1, .initializer = mproc::call(&sleep_initializer, 300)});
    const int first = pool.worker_pids().at(0);
    EXPECT_THROW(pool.apply([](int) -> int { crash(Crash::sigkill); }, 0), mproc::WorkerCrashed);
    // The replacement runs its 300 ms initializer now: kill it in the middle of it.
    int replacement = 0;
    ASSERT_TRUE(eventually([&] {
        const auto now = pool.worker_pids();
        if (now.size() == 1 && now[0] != first) replacement = now[0];
        return replacement != 0;
    }));
    sleep_ms(100);
    ASSERT_TRUE(signal_own_child(replacement, SIGKILL));
    expect_pool_works_after_starting_workers_were_killed(pool, 10s);
}

// Kills each new worker (one not in `seen`) with `sig` while it is still starting, `times` times
// in a row.
void kill_starting_workers(mproc::Pool& pool, int sig, int times, std::set<int> seen) {
    for (int killed = 0; killed < times;) {
        int starting = 0;
        ASSERT_TRUE(eventually([&] {
            for (int pid : pool.worker_pids())
                if (!seen.contains(pid)) starting = pid;
            return starting != 0;
        }, 20000ms)) << "no replacement worker appeared";
        seen.insert(starting);
        if (signal_own_child(starting, sig)) ++killed;
    }
}

// Only a failing initializer may fail a pool: workers that die by a signal sent from outside while
// they start are replaced, however often, and whatever the signal.
TEST(PoolCrashDetection, WorkersKilledBySigtermWhileStartingAreReplaced) {
    LeakCheck leaks;
    for (const int sig : {SIGTERM, SIGINT, SIGHUP}) {
        SCOPED_TRACE(std::string("signal ") + ::strsignal(sig));
        mproc::Pool pool({.processes = 1, .initializer = mproc::call(&sleep_initializer, 300)});
        const std::set<int> first{pool.worker_pids().at(0)};
        EXPECT_THROW(pool.apply([](int) -> int { crash(Crash::sigkill); }, 0), mproc::WorkerCrashed);
        // Each replacement runs its 300 ms initializer: kill it in the middle of it, four times.
        kill_starting_workers(pool, sig, 4, first);
        expect_pool_works_after_starting_workers_were_killed(pool, 20s);
    }
}

TEST(PoolCrashDetection, WorkersWithoutInitializerKilledRightAfterStartAreReplaced) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    const auto pids = pool.worker_pids();
    EXPECT_THROW(pool.apply([](int) -> int { crash(Crash::sigkill); }, 0), mproc::WorkerCrashed);
    kill_starting_workers(pool, SIGTERM, 6, {pids.begin(), pids.end()});
    finishes_within(
        20s, [&] { EXPECT_EQ(pool.map(square, std::views::iota(0, 100)), squares(100)); },
        [&] { pool.terminate(); });
}

// Fills every mapping of this process whose name starts with `name` with 0x7f bytes, as a buggy
// or hostile task might: a read-only one kills the task with SIGSEGV.
void scribble_over(const std::string& name) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);) {
        if (line.find("/memfd:" + name + " ") == std::string::npos) continue;
        std::uintptr_t begin = 0, end = 0;
        std::sscanf(line.c_str(), "%lx-%lx", &begin, &end);
        std::memset(reinterpret_cast<void*>(begin), 0x7f, end - begin);
    }
}

int scribble_over_pool_pages(int x) {
    scribble_over("mproc-pool-replies");
    scribble_over("mproc-pool");
    return x;
}

// A task can write over what its worker shares with the whole pool: at worst it fails itself. The
// parent never sleeps by what workers can write, so later results all arrive.
TEST(PoolCrashDetection, TaskScribblingOverThePoolsSharedPagesFailsOnlyItself) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    try {
        pool.apply(scribble_over_pool_pages, 1);
    } catch (const mproc::WorkerCrashed&) {
        // the pool-wide page is read-only in workers
    }
    finishes_within(
        60s,
        [&] {
            for (int round = 0; round < 20; ++round) {
                auto slow = pool.apply_async(sleep_for_ms, 20);
                EXPECT_EQ(slow.get(10s), 20) << "round " << round;
                EXPECT_EQ(pool.map(square, std::views::iota(0, 100)), squares(100)) << "round " << round;
            }
        },
        [&] { pool.terminate(); });
}

[[noreturn]] void segfaulting_initializer() { crash(Crash::sigsegv); }

TEST(PoolCrashDetection, InitializerThatCrashesStillFailsThePoolQuickly) {
    LeakCheck leaks;
    finishes_within(20s, [] {
        EXPECT_THROW(mproc::Pool({.processes = 2, .initializer = mproc::call(&segfaulting_initializer)}),
                     mproc::Error);
    });
}

int spin(int x) {
    auto h = static_cast<std::uint64_t>(x);
    for (int i = 0; i < 1500; ++i) {
        h = h * 6364136223846793005ULL + 1442695040888963407ULL;
        asm volatile("" : "+r"(h));
    }
    return x;
}

TEST(PoolCrashDetection, RandomWorkerKillsDuringLargeMapsNeverHang) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    std::atomic<bool> stop{false};
    std::atomic<int> kills{0};
    std::thread killer([&] {
        std::mt19937 random(20240611);
        while (!stop.load()) {
            // Mostly a few milliseconds apart, so that maps also complete; sometimes in quick
            // succession, so that freshly started replacements get killed too.
            const auto pause = random() % 4 == 0 ? 100 + random() % 500 : 2000 + random() % 10000;
            std::this_thread::sleep_for(std::chrono::microseconds(pause));
            const auto pids = pool.worker_pids();
            if (!pids.empty() && signal_own_child(pids[random() % pids.size()], SIGKILL)) ++kills;
        }
    });
    int completed = 0, crashed = 0;
    const auto start = Clock::now();
    // At most 50 rounds, and no new round after 40 s: a loaded machine runs fewer.
    for (int round = 0; round < 50 && !HasFailure() && seconds_since(start) < 40; ++round) {
        // A bound for a hang, not for speed: on a loaded machine under the sanitizers a round of
        // kills and replacements has taken 20 s.
        const bool finished = finishes_within(
            90s,
            [&] {
                try {
                    const auto results = pool.map(spin, std::views::iota(0, 10'000), {.chunksize = 10});
                    ++completed;
                    for (int i = 0; i < 10'000; ++i)
                        if (results[static_cast<std::size_t>(i)] != i) {
                            ADD_FAILURE() << "round " << round << ": wrong result at " << i;
                            break;
                        }
                } catch (const mproc::WorkerCrashed&) {
                    ++crashed;
                } catch (const std::exception& e) {
                    ADD_FAILURE() << "round " << round << ": " << typeid(e).name() << ": " << e.what();
                }
            },
            [&] {
                stop = true;
                pool.terminate();
            });
        if (!finished) break;
    }
    stop = true;
    killer.join();
    std::printf("  %d kills; %d maps completed, %d threw WorkerCrashed, in %.1f s\n", kills.load(), completed,
                crashed, seconds_since(start));
    if (completed + crashed == 50) {
        EXPECT_GE(kills.load(), 50) << "the test did not kill enough workers to mean anything";
        EXPECT_GT(crashed, 0) << "no kill ever hit a running task";
    }
}

}  // namespace
