// Shared objects passed as arguments of pool tasks refer to the same object in the workers, even
// when the pool was started before the objects were created (Python refuses this with "should
// only be shared through inheritance").
#include <mutex>
#include <numeric>
#include <ranges>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/mproc.hpp>

#include "support/leak_check.hpp"

namespace {

TEST(PoolSharedObjects, ValueCreatedAfterThePoolIsIncrementedByItsWorkers) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(2);
    mproc::Value<long> total(0);
    pool.map(
        [](std::tuple<mproc::Value<long>, int> task) {
            auto& [counter, amount] = task;
            for (int i = 0; i < amount; ++i) {
                std::lock_guard guard(counter.get_lock());
                counter.value() += 1;
            }
        },
        std::vector<std::tuple<mproc::Value<long>, int>>(8, {total, 1000}), {.chunksize = 1});
    EXPECT_EQ(total.value(), 8000);
}

TEST(PoolSharedObjects, ArrayWrittenByWorkersIsSeenByTheParent) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(2);
    mproc::Array<int> squares(100);
    pool.starmap([](mproc::Array<int> out, int i) { out[static_cast<std::size_t>(i)] = i * i; },
                 std::views::iota(0, 100) | std::views::transform([&](int i) { return std::tuple(squares, i); }));
    for (int i = 0; i < 100; ++i) EXPECT_EQ(squares[static_cast<std::size_t>(i)], i * i);
}

TEST(PoolSharedObjects, WorkersReportThroughAQueueAndAnEvent) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(2);
    mproc::Queue<int> results;
    mproc::Event done;
    auto finished = pool.map_async(
        [](std::tuple<mproc::Queue<int>, int> task) {
            auto& [queue, value] = task;
            queue.put(value * 10);
        },
        std::views::iota(0, 20) | std::views::transform([&](int i) { return std::tuple(results, i); }));
    pool.apply_async([](mproc::Event event) { event.set(); }, done).get();
    EXPECT_TRUE(done.is_set());
    finished.get();
    std::vector<int> got;
    for (int i = 0; i < 20; ++i) got.push_back(results.get(std::chrono::seconds(5)));
    std::ranges::sort(got);
    std::vector<int> expected(20);
    for (int i = 0; i < 20; ++i) expected[static_cast<std::size_t>(i)] = i * 10;
    EXPECT_EQ(got, expected);
}

TEST(PoolSharedObjects, LockSerializesWorkersOfAPool) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(2);
    mproc::Lock lock;
    mproc::RawValue<int> inside(0), overlaps(0);
    pool.map(
        [](std::tuple<mproc::Lock, mproc::RawValue<int>, mproc::RawValue<int>> task) {
            auto& [guard_lock, in, overlap] = task;
            for (int i = 0; i < 200; ++i) {
                std::lock_guard guard(guard_lock);
                if (++in.value() != 1) ++overlap.value();
                --in.value();
            }
        },
        std::vector(4, std::tuple(lock, inside, overlaps)), {.chunksize = 1});
    EXPECT_EQ(overlaps.value(), 0);
}

// Python's pattern: the initializer stores the shared object in a global of each worker.
mproc::Value<int>* worker_counter = nullptr;
void remember_counter(mproc::Value<int> counter) { worker_counter = new mproc::Value<int>(counter); }

TEST(PoolSharedObjects, InitializerReceivesSharedObjects) {
    mproc::test::LeakCheck leaks;
    mproc::Value<int> counter(0);
    {
        mproc::Pool pool({.processes = 2, .initializer = mproc::call(remember_counter, counter)});
        pool.map(
            [](int) {
                std::lock_guard guard(worker_counter->get_lock());
                ++worker_counter->value();
            },
            std::views::iota(0, 50));
    }
    EXPECT_EQ(counter.value(), 50);
}

TEST(PoolSharedObjects, TasksMayReturnSharedObjects) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(1);
    auto array = pool.apply([](int n) {
        mproc::Array<int> made(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) made[static_cast<std::size_t>(i)] = i * 3;
        return made;
    }, 10);
    ASSERT_EQ(array.size(), 10u);
    EXPECT_EQ(array[9], 27);
}

}  // namespace
