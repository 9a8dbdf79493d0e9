// Queue, SimpleQueue, JoinableQueue: Python semantics, items of any size between processes,
// many producers and consumers, a killed lock holder, and how queues travel.
#include <mproc/queue.hpp>

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <numeric>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <mproc/process.hpp>
#include <mproc/shared.hpp>
#include <mproc/sync.hpp>

#include "transport/message_queue_hooks.hpp"
#include "support/children.hpp"
#include "support/descriptor.hpp"
#include "support/fd_passing.hpp"
#include "support/leak_check.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::test::require;
using Clock = std::chrono::steady_clock;

struct Order {
    int id;
    double price;
    friend bool operator==(const Order&, const Order&) = default;
};

TEST(Queue, DeliversItemsInOrder) {
    mproc::Queue<std::string> strings;
    strings.put("one");
    strings.put("");
    strings.put(std::string(1000, 'x'));
    EXPECT_EQ(strings.qsize(), 3u);
    EXPECT_EQ(strings.get(), "one");
    EXPECT_EQ(strings.get(), "");
    EXPECT_EQ(strings.get(), std::string(1000, 'x'));
    EXPECT_TRUE(strings.empty());
    mproc::Queue<std::tuple<Order, std::vector<int>, std::map<std::string, int>>> mixed;
    mixed.put({Order{1, 2.5}, {1, 2, 3}, {{"a", 1}}});
    EXPECT_EQ(mixed.get(), std::make_tuple(Order{1, 2.5}, std::vector<int>{1, 2, 3}, std::map<std::string, int>{{"a", 1}}));
}

TEST(Queue, EmptyAndFullFollowPython) {
    mproc::Queue<int> queue(2);
    EXPECT_EQ(queue.maxsize(), 2u);
    EXPECT_THROW(queue.get_nowait(), mproc::Empty);
    const auto start = Clock::now();
    EXPECT_THROW(queue.get(30ms), mproc::Empty);
    EXPECT_GE(Clock::now() - start, 30ms);
    queue.put(1);
    queue.put_nowait(2);
    EXPECT_TRUE(queue.full());
    EXPECT_THROW(queue.put_nowait(3), mproc::Full);
    EXPECT_THROW(queue.put(3, 20ms), mproc::Full);
    EXPECT_EQ(queue.get_nowait(), 1);
    EXPECT_FALSE(queue.full());
    queue.put(3, 1s);
    EXPECT_EQ(queue.get(1s), 2);
    EXPECT_EQ(queue.get(), 3);
    EXPECT_TRUE(queue.empty());
}

TEST(Queue, CloseEndsThisProcessesUseOnly) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<int> queue;
    auto copy = queue;
    queue.put(1);
    EXPECT_EQ(mproc::test::run_child([](mproc::Queue<int> q) { q.close(); }, queue), 0);
    EXPECT_EQ(copy.get(), 1);  // a child's close() does not affect us
    queue.close();
    EXPECT_TRUE(copy.closed());
    EXPECT_THROW(copy.put(1), mproc::StateError);
    EXPECT_THROW(queue.get(), mproc::StateError);
}

TEST(Queue, ItemsHoldingSharedObjectsAreRefused) {
    mproc::Queue<mproc::Lock> locks;
    EXPECT_THROW(locks.put(mproc::Lock{}), mproc::SerializationError);
    EXPECT_TRUE(locks.empty());
}

TEST(Queue, BlockedGetWakesWhenAnotherProcessPuts) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<int> queue;
    mproc::Process producer([](mproc::Queue<int> q) {
        std::this_thread::sleep_for(50ms);
        q.put(7);
    }, queue);
    producer.start();
    EXPECT_EQ(queue.get(10s), 7);
    producer.join();
}

TEST(Queue, BlockedPutWakesWhenAnotherProcessGets) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<int> queue(1);
    queue.put(1);
    mproc::Process consumer([](mproc::Queue<int> q) {
        std::this_thread::sleep_for(50ms);
        require(q.get() == 1, "first item");
    }, queue);
    consumer.start();
    queue.put(2, 10s);
    consumer.join();
    EXPECT_EQ(consumer.exitcode(), 0);
    EXPECT_EQ(queue.get_nowait(), 2);
}

// The queue changes just before a get (or put) that found it empty (full) goes to sleep, too late
// for the other side to see a sleeper: the sleeper must notice the change itself, or it sleeps
// until its timeout with an item there (or room).
mproc::Queue<int>* queue_changed_before_sleep = nullptr;
TEST(Queue, GetNoticesAnItemPutJustBeforeItSleeps) {
    mproc::Queue<int> queue;
    queue_changed_before_sleep = &queue;
    mproc::detail::queue_before_sleep_hook = [] {
        mproc::detail::queue_before_sleep_hook = nullptr;
        queue_changed_before_sleep->put(5);
    };
    const auto start = Clock::now();
    EXPECT_EQ(queue.get(5s), 5);
    EXPECT_LT(Clock::now() - start, 4s);
    EXPECT_EQ(mproc::detail::queue_before_sleep_hook, nullptr) << "the get never went to sleep";
    mproc::detail::queue_before_sleep_hook = nullptr;
}

TEST(Queue, PutNoticesRoomMadeJustBeforeItSleeps) {
    mproc::Queue<int> queue(1);
    queue.put(1);
    queue_changed_before_sleep = &queue;
    mproc::detail::queue_before_sleep_hook = [] {
        mproc::detail::queue_before_sleep_hook = nullptr;
        require(queue_changed_before_sleep->get_nowait() == 1, "the item put first");
    };
    const auto start = Clock::now();
    queue.put(2, 5s);
    EXPECT_LT(Clock::now() - start, 4s);
    EXPECT_EQ(mproc::detail::queue_before_sleep_hook, nullptr) << "the put never went to sleep";
    mproc::detail::queue_before_sleep_hook = nullptr;
    EXPECT_EQ(queue.get_nowait(), 2);
}

// Bursts separated by pauses, so that the side waiting goes to sleep again and again, and is woken
// while the other side keeps going: a wake-up lost in any of those races leaves an item (or the
// room for one) unnoticed, and the wait below runs into its timeout instead of returning.
TEST(Queue, SidesThatSleepBetweenBurstsAreAlwaysWoken) {
    mproc::test::LeakCheck leaks;
    constexpr int bursts = 400;
    mproc::Queue<int> queue(8);  // bounded: the producer sleeps too, while the consumer pauses
    mproc::Process producer([](mproc::Queue<int> q) {
        int next = 0;
        for (int burst = 0; burst < bursts; ++burst) {
            for (int i = 0; i <= burst % 24; ++i) q.put(next++, 10s);
            std::this_thread::sleep_for(std::chrono::microseconds(burst % 7 * 40));
        }
    }, queue);
    producer.start();
    int expected = 0;
    for (int burst = 0; burst < bursts; ++burst) {
        for (int i = 0; i <= burst % 24; ++i) ASSERT_EQ(queue.get(10s), expected++);
        std::this_thread::sleep_for(std::chrono::microseconds(burst % 5 * 30));
    }
    producer.join();
    EXPECT_EQ(producer.exitcode(), 0);
}

// Kibibytes of shared memory this process has faulted in (RssShmem).
long shared_memory_kib() {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("RssShmem:", 0) == 0) return std::stol(line.substr(9));
    return -1;
}

// After a large item, a queue keeps its memory up to spill_keep_bytes (the next large item then
// finds it faulted in), and no more.
TEST(Queue, MemoryOfALargeItemIsKeptOnlyUpToSpillKeepBytes) {
    const std::string large(std::size_t{32} << 20, 'x');
    const long before = shared_memory_kib();
    ASSERT_GE(before, 0) << "no RssShmem in /proc/self/status";
    mproc::Queue<std::string> keeping_none(0, {.spill_keep_bytes = 0});
    keeping_none.put(large);
    EXPECT_EQ(keeping_none.get().size(), large.size());
    const long after_none = shared_memory_kib();
    EXPECT_LT(after_none - before, 8 << 10) << "a queue keeping nothing kept " << after_none - before << " KiB";
    mproc::Queue<std::string> keeping(0);  // 64 MiB by default
    keeping.put(large);
    EXPECT_EQ(keeping.get().size(), large.size());
    EXPECT_GE(shared_memory_kib() - after_none, 24 << 10) << "the default keeps a large item's memory";
}

// Items larger than the ring go through the spill area; several producers take turns with it.
TEST(Queue, ItemsLargerThanTheRingTravelThroughSharedMemory) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<std::vector<std::uint32_t>> queue(0, {.buffer_bytes = 64 * 1024});
    constexpr int producers = 3, items = 4;
    auto children = mproc::test::start_children(producers, [](int p, mproc::Queue<std::vector<std::uint32_t>> q) {
        for (int i = 0; i < items; ++i) {
            std::vector<std::uint32_t> big(static_cast<std::size_t>((1 + i) * 700'000));
            std::iota(big.begin(), big.end(), static_cast<std::uint32_t>(p * 1000 + i));
            q.put(big);
            q.put({static_cast<std::uint32_t>(p), static_cast<std::uint32_t>(i)});  // small ones in between
        }
    }, queue);
    int big_seen = 0, small_seen = 0;
    for (int n = 0; n < producers * items * 2; ++n) {
        auto item = queue.get(30s);
        if (item.size() == 2) {
            ++small_seen;
            continue;
        }
        ++big_seen;
        const std::uint32_t first = item.front();
        const auto i = static_cast<std::size_t>(first % 1000);
        ASSERT_EQ(item.size(), (1 + i) * 700'000);
        for (std::size_t k = 0; k < item.size(); k += 4099) ASSERT_EQ(item[k], first + k);
        ASSERT_EQ(item.back(), first + item.size() - 1);
    }
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    EXPECT_EQ(big_seen, producers * items);
    EXPECT_EQ(small_seen, producers * items);
    EXPECT_TRUE(queue.empty());
}

// Many producers and consumers at once: every item arrives exactly once.
TEST(Queue, ManyProducersAndConsumersLoseAndDuplicateNothing) {
    mproc::test::LeakCheck leaks;
    constexpr int producers = 4, consumers = 3, per_producer = 20'000;
    mproc::Queue<std::pair<int, std::string>> queue(100);  // bounded: producers block too
    mproc::Array<long> counts(consumers, {.lock = false});
    mproc::Array<long> sums(consumers, {.lock = false});
    mproc::Array<unsigned long> checksums(consumers, {.lock = false});
    auto consumer_processes = mproc::test::start_children(consumers,
        [](int c, mproc::Queue<std::pair<int, std::string>> q, mproc::Array<long> count, mproc::Array<long> sum,
           mproc::Array<unsigned long> checksum) {
            const auto me = static_cast<std::size_t>(c);
            for (;;) {
                auto [value, text] = q.get();
                if (value < 0) return;
                require(text == std::to_string(value), "payload matches its value");
                ++count[me];
                sum[me] += value;
                checksum[me] ^= std::hash<int>{}(value) * 0x9e3779b97f4a7c15ul;
            }
        }, queue, counts, sums, checksums);
    auto producer_processes = mproc::test::start_children(producers, [](int p, mproc::Queue<std::pair<int, std::string>> q) {
        for (int i = 0; i < per_producer; ++i) {
            const int value = p * per_producer + i;
            q.put({value, std::to_string(value)});
        }
    }, queue);
    for (int code : mproc::test::join_all(producer_processes)) EXPECT_EQ(code, 0);
    for (int c = 0; c < consumers; ++c) queue.put({-1, ""});
    for (int code : mproc::test::join_all(consumer_processes)) EXPECT_EQ(code, 0);

    constexpr long total = long{producers} * per_producer;
    unsigned long expected_checksum = 0;
    for (int value = 0; value < total; ++value) expected_checksum ^= std::hash<int>{}(value) * 0x9e3779b97f4a7c15ul;
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), 0L), total);
    EXPECT_EQ(std::accumulate(sums.begin(), sums.end(), 0L), total * (total - 1) / 2);
    EXPECT_EQ(std::accumulate(checksums.begin(), checksums.end(), 0UL, std::bit_xor<>()), expected_checksum);
    EXPECT_TRUE(queue.empty());
}

// Item `value` of the test below: its number, padded with a letter to a length that cycles
// through 0..600.
std::string item_of_every_size(int value) {
    std::string text = std::to_string(value) + ':';
    text.resize(text.size() + static_cast<std::size_t>(value * 7 % 601), static_cast<char>('a' + value % 26));
    return text;
}

// A ring of the smallest size, items of every size from empty to larger than a quarter of the
// ring (those go through the spill area): records wrap around the end at every offset, producers
// wait for room, and every item still arrives once, intact.
TEST(Queue, TinyRingWithItemsOfEverySizeLosesAndDuplicatesNothing) {
    mproc::test::LeakCheck leaks;
    constexpr int producers = 2, consumers = 2, per_producer = 20'000;
    mproc::Queue<std::string> queue(0, {.buffer_bytes = 1024});
    mproc::Array<long> counts(consumers, {.lock = false});
    mproc::Array<long> sums(consumers, {.lock = false});
    auto consumer_processes = mproc::test::start_children(consumers,
        [](int c, mproc::Queue<std::string> q, mproc::Array<long> count, mproc::Array<long> sum) {
            const auto me = static_cast<std::size_t>(c);
            for (;;) {
                const std::string text = q.get();
                if (text.empty()) return;
                const int value = std::stoi(text);
                require(text == item_of_every_size(value), "the item arrives intact");
                ++count[me];
                sum[me] += value;
            }
        }, queue, counts, sums);
    auto producer_processes = mproc::test::start_children(producers, [](int p, mproc::Queue<std::string> q) {
        for (int i = 0; i < per_producer; ++i) q.put(item_of_every_size(p * per_producer + i));
    }, queue);
    for (int code : mproc::test::join_all(producer_processes)) EXPECT_EQ(code, 0);
    for (int c = 0; c < consumers; ++c) queue.put("");
    for (int code : mproc::test::join_all(consumer_processes)) EXPECT_EQ(code, 0);
    constexpr long total = long{producers} * per_producer;
    EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), 0L), total);
    EXPECT_EQ(std::accumulate(sums.begin(), sums.end(), 0L), total * (total - 1) / 2);
    EXPECT_TRUE(queue.empty());
}

// The child dies holding the producers' lock, after writing a record and before publishing it.
// Consumers never take that lock: they go on; the next producer is told.
TEST(Queue, ProducerKilledHoldingTheInternalLockIsReportedAndTheQueueRepaired) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<int> queue;
    queue.put(1);
    queue.put(2);
    ASSERT_EQ(mproc::test::run_child([](mproc::Queue<int> q) {
        q.put(3);
        mproc::detail::queue_locked_hook = [] { ::raise(SIGKILL); };
        q.put(4);
    }, queue), -SIGKILL);
    EXPECT_EQ(queue.get(), 1);
    EXPECT_THROW(queue.put(5), mproc::OwnerDied);  // told; nothing put
    EXPECT_EQ(queue.qsize(), 2u);
    EXPECT_EQ(queue.get(), 2);
    EXPECT_EQ(queue.get(), 3);  // 4 was never published
    EXPECT_THROW(queue.get_nowait(), mproc::Empty);
    queue.put(5);
    EXPECT_EQ(mproc::test::run_child([](mproc::Queue<int> q) { require(q.get() == 5, "usable"); }, queue), 0);
}

// The child dies holding the producers' lock, after publishing its record and before counting
// it: the record is complete, so it is delivered (here, taken before the repair), and the counts
// agree with the queue again after the repair.
TEST(Queue, ProducerKilledAfterPublishingLosesNothing) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<int> queue;
    queue.put(1);
    ASSERT_EQ(mproc::test::run_child([](mproc::Queue<int> q) {
        mproc::detail::queue_published_hook = [] { ::raise(SIGKILL); };
        q.put(2);
    }, queue), -SIGKILL);
    EXPECT_EQ(queue.get(), 1);
    EXPECT_EQ(queue.get(), 2);  // consumers never take that lock
    EXPECT_THROW(queue.put(3), mproc::OwnerDied);  // told; nothing put
    EXPECT_EQ(queue.qsize(), 0u);
    EXPECT_THROW(queue.get_nowait(), mproc::Empty);
    queue.put(3);
    queue.put(4);
    EXPECT_EQ(queue.qsize(), 2u);
    EXPECT_EQ(queue.get(), 3);
    EXPECT_EQ(queue.get(), 4);
}

// The child dies holding the consumers' lock, after copying an item out and before taking it off
// the queue: the next consumer is told, and the item is still there.
TEST(Queue, ConsumerKilledHoldingTheInternalLockIsReportedAndNothingIsLost) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<int> queue;
    for (int i = 1; i <= 3; ++i) queue.put(i);
    ASSERT_EQ(mproc::test::run_child([](mproc::Queue<int> q) {
        mproc::detail::queue_locked_hook = [] { ::raise(SIGKILL); };
        (void)q.get();
    }, queue), -SIGKILL);
    queue.put(4);  // producers never take that lock
    EXPECT_THROW(queue.get(), mproc::OwnerDied);  // told; nothing taken
    EXPECT_EQ(queue.qsize(), 4u);
    for (int i = 1; i <= 4; ++i) EXPECT_EQ(queue.get(), i);
    EXPECT_THROW(queue.get_nowait(), mproc::Empty);
}

// A producer killed while it holds the spill area (copying a large item) does not block the
// others forever.
TEST(Queue, ProducerKilledWhileCopyingALargeItemDoesNotBlockOthers) {
    mproc::test::LeakCheck leaks;
    mproc::Queue<std::vector<char>> queue(0, {.buffer_bytes = 16 * 1024});
    ASSERT_EQ(mproc::test::run_child([](mproc::Queue<std::vector<char>> q) {
        mproc::detail::queue_locked_hook = [] { ::raise(SIGKILL); };
        q.put(std::vector<char>(1 << 20, 'a'));
    }, queue), -SIGKILL);
    EXPECT_THROW(queue.put(std::vector<char>(1 << 20, 'b'), 10s), mproc::OwnerDied);
    queue.put(std::vector<char>(1 << 20, 'b'), 10s);
    EXPECT_EQ(queue.get(1s), std::vector<char>(1 << 20, 'b'));
}

TEST(JoinableQueue, JoinWaitsUntilEveryItemIsDone) {
    mproc::test::LeakCheck leaks;
    mproc::JoinableQueue<int> queue;
    mproc::Value<int> processed(0, {.lock = false});
    for (int i = 0; i < 10; ++i) queue.put(i);
    EXPECT_FALSE(queue.join(10ms));
    mproc::Process worker([](mproc::JoinableQueue<int> q, mproc::Value<int> done) {
        for (int i = 0; i < 10; ++i) {
            q.get();
            std::this_thread::sleep_for(2ms);
            done.fetch_add(1);
            q.task_done();
        }
    }, queue, processed);
    worker.start();
    queue.join();
    EXPECT_EQ(processed.load(), 10);
    worker.join();
    EXPECT_THROW(queue.task_done(), mproc::StateError);
    EXPECT_TRUE(queue.join(0ms));
}

TEST(SimpleQueue, PutsAndGetsAcrossProcesses) {
    mproc::test::LeakCheck leaks;
    mproc::SimpleQueue<std::string> queue;
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(mproc::test::run_child([](mproc::SimpleQueue<std::string> q) { q.put("from child"); }, queue), 0);
    EXPECT_FALSE(queue.empty());
    EXPECT_EQ(queue.get(), "from child");
    queue.close();
    EXPECT_TRUE(queue.closed());
}

TEST(Queue, TravelsToAProcessStartedBeforeIt) {
    mproc::test::LeakCheck leaks;
    mproc::test::SocketPair sockets;
    mproc::Process child([](mproc::test::Descriptor socket) {
        auto in = mproc::test::receive_object<mproc::Queue<std::string>>(socket);
        auto out = mproc::test::receive_object<mproc::JoinableQueue<std::string>>(socket);
        for (std::string s; (s = in.get(10s)) != "stop";) out.put(s + "!");
    }, mproc::test::Descriptor{sockets.child()});
    child.start();
    mproc::Queue<std::string> in;
    mproc::JoinableQueue<std::string> out;
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), in));
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), out));
    in.put("a");
    in.put(std::string(300'000, 'b'));  // spilled
    in.put("stop");
    EXPECT_EQ(out.get(10s), "a!");
    EXPECT_EQ(out.get(10s), std::string(300'000, 'b') + "!");
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    auto copy = mproc::test::round_trip(in);
    copy.put("x");
    EXPECT_EQ(in.get(), "x");
}

}  // namespace
