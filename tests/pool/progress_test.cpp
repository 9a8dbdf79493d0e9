// mproc::Pool: the progress bar, and a parent that does not busy-wait.
// Every test that creates a pool checks that it leaves no child, fd or /dev/shm file behind.
#include "pool/support.hpp"

namespace {

using namespace pool_test;

TEST(PoolProgress, ProgressDrawsDoneAndTotalOnStderr) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    std::string text;
    {
        CaptureStderr capture;
        pool.map(square, std::views::iota(0, 200), {.progress = true});
        text = capture.text();
    }
    EXPECT_NE(text.find("200/200"), std::string::npos) << text;
    {
        CaptureStderr capture;
        {
            auto results = pool.imap(square, std::vector<int>(25, 1), {.progress = true});
            EXPECT_EQ(collect(results).size(), 25u);
        }
        text = capture.text();
    }
    EXPECT_NE(text.find("25/25"), std::string::npos) << text;
    {
        CaptureStderr capture;
        {
            auto results = pool.imap_unordered(square, Generated(30), {.progress = true});
            EXPECT_EQ(collect(results).size(), 30u);
        }
        text = capture.text();
    }
    EXPECT_NE(text.find("30 done"), std::string::npos) << "unknown total: " << text;
    {
        CaptureStderr capture;
        pool.map(square, std::views::iota(0, 100));
        text = capture.text();
    }
    EXPECT_EQ(text, "") << "progress drawn although not asked for";
}

TEST(PoolProgress, OnStderrNotATerminalWritesALineEachTenthOfTheWay) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    std::string text;
    {
        CaptureStderr capture;
        pool.map(sleep_for_ms, std::vector<int>(40, 25), {.chunksize = 1, .progress = true});
        text = capture.text();
    }
    const auto lines = std::ranges::count(text, '\n');
    EXPECT_GE(lines, 2) << text;
    EXPECT_LE(lines, 11) << text;  // 0%, 10%, ..., 100%
    EXPECT_NE(text.find("40/40"), std::string::npos) << text;
}

TEST(PoolEfficiency, ParentUsesNoCpuWhileWaiting) {
    LeakCheck leaks;
    mproc::Pool pool(2);
    EXPECT_EQ(pool.apply(square, 1), 1);
    const double before = cpu_seconds_of_this_process();
    EXPECT_EQ(pool.apply(sleep_for_ms, 500), 500);
    sleep_ms(200);  // an idle pool
    EXPECT_LT(cpu_seconds_of_this_process() - before, 0.05) << "the parent busy-waits";
}

}  // namespace
