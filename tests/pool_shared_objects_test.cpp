// Shared objects passed as arguments of pool tasks refer to the same object in the workers, even
// when the pool was started before the objects were created (Python refuses this with "should
// only be shared through inheritance").
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <numeric>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/mproc.hpp>

#include "mapping_cache.hpp"
#include "os/unique_fd.hpp"
#include "support/children.hpp"
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

// ---------------------------------------------------------------------------------------------
// A worker keeps the mappings of the shared objects it received (src/mapping_cache.hpp).

// How many mappings of memfds named `name` process `pid` has.
int mappings_named(const std::string& name, int pid) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    int count = 0;
    for (std::string line; std::getline(maps, line);)
        if (line.find("/memfd:" + name + " ") != std::string::npos) ++count;
    return count;
}

// The bytes of this process's mappings of memfds named `name` that are mapped in (faulted in).
long resident_bytes_of_mappings(const std::string& name) {
    std::ifstream smaps("/proc/self/smaps");
    long kib = 0;
    bool counting = false;
    for (std::string line; std::getline(smaps, line);) {
        // A mapping's first line starts with its address range; its fields ("Rss: ...") follow.
        if (line.find('-') < line.find(' ')) counting = line.find("/memfd:" + name + " ") != std::string::npos;
        else if (counting && line.rfind("Rss:", 0) == 0) kib += std::stol(line.substr(4));
    }
    return kib * 1024;
}

int worker_pid(mproc::Pool& pool) {
    return pool.apply([](int) { return static_cast<int>(::getpid()); }, 0);
}

// Waits (up to a deadline generous for a loaded machine) until process `pid` maps no memfd named
// `name`; how many it maps in the end.
int mappings_after_letting_go(const std::string& name, int pid) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    int count = mappings_named(name, pid);
    while (count != 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        count = mappings_named(name, pid);
    }
    return count;
}

constexpr std::size_t page_size = 4096;

TEST(PoolSharedObjects, PagesOneTaskFaultedInStayMappedForTheNextTaskOnTheSameArray) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(1);
    constexpr std::size_t bytes = 4 << 20;
    mproc::RawArray<char> array(bytes);
    pool.apply([](mproc::RawArray<char> shared) {
        for (std::size_t i = 0; i < shared.size(); i += page_size) shared[i] = 1;
    }, array);
    // The second task touches nothing but the header: its pages are the first task's.
    const long resident = pool.apply([](mproc::RawArray<char> shared) {
        (void)shared;
        return resident_bytes_of_mappings("mproc-array");
    }, array);
    EXPECT_GE(resident, static_cast<long>(bytes));
    for (std::size_t i = 0; i < bytes; i += page_size) ASSERT_EQ(array[i], 1) << "at " << i;
}

TEST(PoolSharedObjects, ArrayKeptMappedInAWorkerSeesTheParentsLaterWrites) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(1);
    mproc::RawArray<int> array(1024);
    const auto read_ends = [](mproc::RawArray<int> shared) { return shared[0] + shared[1023]; };
    EXPECT_EQ(pool.apply(read_ends, array), 0);
    array[0] = 40;
    array[1023] = 2;
    EXPECT_EQ(pool.apply(read_ends, array), 42);
    pool.apply([](mproc::RawArray<int> shared) { shared[1] = 7; }, array);
    EXPECT_EQ(array[1], 7);
}

TEST(PoolSharedObjects, QueueAndLockSentWithEveryTaskKeepWorking) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(1);
    mproc::Queue<int> queue;
    mproc::Lock lock;
    for (int i = 0; i < 50; ++i)
        pool.apply([](mproc::Queue<int> out, mproc::Lock guard_lock, int value) {
            std::lock_guard guard(guard_lock);
            out.put(value);
        }, queue, lock, i);
    for (int i = 0; i < 50; ++i) ASSERT_EQ(queue.get(std::chrono::seconds(10)), i);
    EXPECT_TRUE(lock.acquire(std::chrono::seconds(0)));
    lock.release();
}

TEST(PoolSharedObjects, WorkerUnmapsAnArrayOnceTheParentDropsIt) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(1);
    const int worker = worker_pid(pool);
    {
        mproc::RawArray<char> array(1 << 20);
        pool.apply([](mproc::RawArray<char> shared) { shared[0] = 1; }, array);
        EXPECT_EQ(mappings_named("mproc-array", worker), 1) << "the worker keeps the array mapped while it lives";
    }
    // No task follows: an idle worker lets go too.
    EXPECT_EQ(mappings_after_letting_go("mproc-array", worker), 0);
}

TEST(PoolSharedObjects, WorkerSentManyDistinctArraysKeepsBoundedMappingsAndMemory) {
    mproc::test::LeakCheck leaks;
    mproc::Pool pool(1);
    const int worker = worker_pid(pool);
    const auto touch_every_page = [](mproc::RawArray<char> shared) {
        for (std::size_t i = 0; i < shared.size(); i += page_size) shared[i] = 1;
    };
    const long resident_before = mproc::test::resident_bytes(worker);
    // Dropped by the parent after their task: let go of at once.
    for (int i = 0; i < 1000; ++i) {
        mproc::RawArray<char> array(1 << 20);
        pool.apply(touch_every_page, array);
    }
    EXPECT_LE(mappings_named("mproc-array", worker), 1);
    const long resident_after = mproc::test::resident_bytes(worker);
    // Kept by the parent: the worker keeps the most recently used ones only.
    std::vector<mproc::RawArray<char>> kept;
    for (int i = 0; i < 100; ++i) {
        kept.emplace_back(std::size_t{1} << 16);
        pool.apply(touch_every_page, kept.back());
    }
    EXPECT_EQ(mappings_named("mproc-array", worker), static_cast<int>(mproc::detail::mapping_cache_capacity));
    kept.clear();
    EXPECT_EQ(mappings_after_letting_go("mproc-array", worker), 0);
    ASSERT_GT(resident_before, 0);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    // 1000 arrays of 1 MiB, all touched, went through the worker.
    EXPECT_LT(resident_after - resident_before, 32l << 20)
        << "the worker grew from " << resident_before / 1024 << " KiB to " << resident_after / 1024 << " KiB";
#else
    (void)resident_after;
#endif
}

// The cache itself, in a child process of its own (turning it on is for the rest of a process's
// life): blocks attached twice share one mapping, which a forked child inherits and can use.
void attach_through_the_cache() {
    using mproc::detail::SharedBlock;
    using mproc::test::require;
    mproc::detail::enable_mapping_cache();
    SharedBlock created = SharedBlock::create("mproc-test", page_size);
    mproc::detail::init_header(created.data(), mproc::detail::ObjectKind::value);
    const SharedBlock first = SharedBlock::attach(created.fd(), 0);
    require(!first.same_mapping(created), "a received block is mapped apart from its creator's mapping");
    require(SharedBlock::attach(created.fd(), 0).same_mapping(first), "a second attach finds the first mapping");
    const SharedBlock larger = SharedBlock::attach(created.fd(), 16 * page_size);
    require(!larger.same_mapping(first) && larger.mapped_size() >= 16 * page_size,
            "a larger reservation than the cached mapping's maps again");
    require(SharedBlock::attach(created.fd(), 0).same_mapping(larger), "the larger mapping serves smaller ones");

    const pid_t child = ::fork();
    if (child == 0) {
        const SharedBlock inherited = SharedBlock::attach(created.fd(), 0);
        if (!inherited.same_mapping(larger)) ::_exit(1);
        inherited.data()[100] = std::byte{7};
        ::_exit(0);
    }
    int status = 0;
    require(child > 0 && ::waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "a forked child finds the inherited cache's mapping");
    require(created.data()[100] == std::byte{7}, "the child wrote through the inherited mapping");

    // Beyond its capacity, the least recently used mapping goes.
    std::vector<SharedBlock> others;
    for (std::size_t i = 0; i < mproc::detail::mapping_cache_capacity; ++i) {
        others.push_back(SharedBlock::create("mproc-test", page_size));
        mproc::detail::init_header(others.back().data(), mproc::detail::ObjectKind::value);
        (void)SharedBlock::attach(others.back().fd(), 0);
    }
    require(!SharedBlock::attach(created.fd(), 0).same_mapping(larger), "the oldest entry was dropped");

    // Once its creator lets go of a block, it is mapped afresh each time, and nothing keeps it.
    const auto kept_fd = mproc::os::duplicate_fd_cloexec(created.fd());
    require(static_cast<bool>(kept_fd), "dup");
    created = SharedBlock();
    others.clear();
    const SharedBlock after_release = SharedBlock::attach(kept_fd.value().get(), 0);
    require(!SharedBlock::attach(kept_fd.value().get(), 0).same_mapping(after_release),
            "a released block is not kept mapped");
    require(!mproc::detail::sweep_released_mappings(), "no entry is left once every creator let go");
}

TEST(MappingCache, BlocksAttachedTwiceShareOneMappingWhichAForkedChildInherits) {
    EXPECT_EQ(mproc::test::run_child(attach_through_the_cache), 0);
}

}  // namespace
