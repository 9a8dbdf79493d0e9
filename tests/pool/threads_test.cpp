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

}  // namespace
