// mproc::Pool: pools used from several threads.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

TEST(PoolThreads, PoolMadeOnAShortLivedThreadKeepsWorkingAfterItExits) {
    LeakCheck leaks;
    std::optional<mproc::Pool> pool;
    std::thread([&] { pool.emplace(2); }).join();
    sleep_ms(100);
    for (int pid : pool->worker_pids()) EXPECT_FALSE(process_gone(pid)) << "worker died with its creating thread";
    finishes_within(
        20s,
        [&] {
            EXPECT_EQ(pool->map(square, std::views::iota(0, 50)), squares(50));
            // A replacement worker, forked by the pool's thread, works as well.
            EXPECT_THROW(pool->apply([](int) -> int { crash(Crash::sigkill); }, 0), mproc::WorkerCrashed);
            EXPECT_EQ(pool->apply(square, 9), 81);
        },
        [&] { pool->terminate(); });
    pool.reset();
}

TEST(PoolThreads, ManyThreadsMaySubmitAtOnce) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    std::atomic<int> wrong{0};
    finishes_within(
        30s,
        [&] {
            std::vector<std::thread> threads;
            for (int t = 0; t < 4; ++t)
                threads.emplace_back([&, t] {
                    for (int i = 0; i < 30; ++i) {
                        if (pool.apply(multiply, t, i) != t * i) ++wrong;
                        if (pool.map(square, std::views::iota(0, 20)) != squares(20)) ++wrong;
                        if (collect(pool.imap(square, std::views::iota(0, 5))) != squares(5)) ++wrong;
                    }
                });
            for (auto& thread : threads) thread.join();
        },
        [&] { pool.terminate(); });
    EXPECT_EQ(wrong.load(), 0);
}

// Pins down the thread-safety statement of mproc::Pool in pool.hpp: every method may be used
// from any number of threads at once. Each thread's inputs carry its own number, so a result
// delivered to the wrong thread, or to the wrong call of the right thread, is seen.
TEST(PoolThreads, OnePoolUsedFromEightThreadsAtOnceGivesEveryThreadItsOwnResults) {
    LeakCheck leaks;
    mproc::Pool pool(3);
    constexpr int thread_count = 8;
    constexpr int rounds = 6;
    std::mutex mutex;
    std::vector<std::string> wrong;  // what went wrong, by thread and call
    finishes_within(
        60s,
        [&] {
            std::vector<std::thread> threads;
            for (int t = 0; t < thread_count; ++t)
                threads.emplace_back([&, t] {
                    const auto check = [&](bool right, const char* call, int round) {
                        if (right) return;
                        std::lock_guard lock(mutex);
                        wrong.push_back("thread " + std::to_string(t) + ", round " + std::to_string(round) + ": " + call);
                    };
                    const int base = 1000 * (t + 1);
                    std::vector<int> items(40);
                    std::iota(items.begin(), items.end(), base);
                    std::vector<int> expected;
                    for (int x : items) expected.push_back(x * x);
                    std::vector<std::pair<int, int>> pairs;
                    for (int i = 0; i < 25; ++i) pairs.emplace_back(t + 1, i);
                    std::vector<int> products;
                    for (int i = 0; i < 25; ++i) products.push_back((t + 1) * i);
                    try {
                        for (int round = 0; round < rounds; ++round) {
                            check(pool.apply(multiply, t + 1, round) == (t + 1) * round, "apply", round);
                            auto pending = pool.apply_async(square, base + round);
                            check(pool.map(square, items, {.chunksize = 3}) == expected, "map", round);
                            check(collect(pool.imap(square, items)) == expected, "imap", round);
                            check(sorted(collect(pool.imap_unordered(square, items, {.chunksize = 4}))) == expected,
                                  "imap_unordered", round);
                            check(pool.starmap(multiply, pairs) == products, "starmap", round);
                            check(pending.get() == (base + round) * (base + round), "apply_async + get", round);
                        }
                    } catch (const std::exception& error) {
                        std::lock_guard lock(mutex);
                        wrong.push_back("thread " + std::to_string(t) + " threw: " + error.what());
                    }
                });
            for (auto& thread : threads) thread.join();
        },
        [&] { pool.terminate(); });
    EXPECT_TRUE(wrong.empty()) << ::testing::PrintToString(wrong);
}

}  // namespace
