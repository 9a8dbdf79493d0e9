// The shared-memory message ring: order, wrap-around, spilling, limits, and two processes; and
// the futex deadlines that both rings wait by.
#include "transport/spsc_ring.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <numeric>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "os/memfd.hpp"
#include "os_error.hpp"
#include "transport/futex_wait.hpp"

namespace {

using mproc::transport::Ring;

constexpr std::size_t capacity = 64 * 1024;
constexpr std::size_t spill_capacity = 1 << 20;

struct RingPair {
    explicit RingPair(std::size_t spill_limit = spill_capacity)
        : producer(region.data(), capacity, spill.get(), spill_limit),
          consumer(region.data(), capacity, spill.get(), spill_limit, Ring::Setup::attach) {}
    mproc::os::MappedMemfd region =
        mproc::detail::or_throw(mproc::os::MappedMemfd::create("ring-test", Ring::region_size(capacity)));
    mproc::os::UniqueFd spill = mproc::detail::or_throw(mproc::os::create_growing_file("ring-test-spill"));
    // Both sides map the same memory, each with its own view of the spill file; the consumer's
    // object must not reinitialize the control block.
    Ring producer;
    Ring consumer;
};

void send(Ring& ring, std::uint64_t tag, const std::vector<std::uint32_t>& values) {
    auto& out = ring.begin(7, tag);
    mproc::encode(out, values);
    if (ring.commit()) ring.wake_consumer();
}

std::vector<std::uint32_t> receive(Ring& ring, std::uint64_t& tag) {
    auto record = ring.wait();
    EXPECT_TRUE(record);
    EXPECT_EQ(record->type, 7);
    tag = record->tag;
    mproc::Reader in(record->payload);
    auto values = mproc::decode<std::vector<std::uint32_t>>(in);
    ring.release(*record);
    return values;
}

TEST(Ring, MessagesArriveInOrderAcrossWrapAroundAndSpills) {
    RingPair rings;
    std::mt19937 random(1);
    std::uniform_int_distribution<std::size_t> size(0, 40000);  // some exceed the ring's free run
    std::thread producer([&] {
        std::mt19937 values(2);
        for (std::uint64_t i = 0; i < 2000; ++i) {
            std::vector<std::uint32_t> message(size(random) / 4);
            for (auto& v : message) v = static_cast<std::uint32_t>(values());
            send(rings.producer, i, message);
        }
    });
    std::mt19937 expected_random(1), expected_values(2);
    for (std::uint64_t i = 0; i < 2000; ++i) {
        std::uint64_t tag = 0;
        const auto message = receive(rings.consumer, tag);
        ASSERT_EQ(tag, i);
        ASSERT_EQ(message.size(), size(expected_random) / 4);
        for (auto v : message) ASSERT_EQ(v, static_cast<std::uint32_t>(expected_values()));
    }
    producer.join();
    EXPECT_TRUE(rings.consumer.empty());
}

// The consumer skips trailing padding without releasing it, so a drained ring can still count
// the padding as used. A producer that wraps and finds the ring full must wait only for the room
// it needs, never for the whole ring.
TEST(Ring, ProducerBlockedRightAfterPaddingWakesWhenTheConsumerDrains) {
    RingPair rings;
    constexpr std::size_t trailing = 64;  // less than a record needs: the next begin() pads it
    {
        auto& out = rings.producer.begin(7, 0);
        const std::vector<std::byte> filler(capacity - trailing - Ring::alignment);
        out.write(filler.data(), filler.size());
        ASSERT_FALSE(rings.producer.commit());
    }
    std::thread consumer([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the producer block first
        for (int i = 0; i < 2; ++i) {
            auto record = rings.consumer.wait(std::chrono::seconds(10));
            ASSERT_TRUE(record);
            EXPECT_EQ(record->tag, static_cast<std::uint64_t>(i));
            rings.consumer.release(*record);
        }
    });
    send(rings.producer, 1, {42});  // pads the tail, then waits for the consumer to make room
    consumer.join();
}

TEST(Ring, MessageOverTheSpillLimitIsASerializationErrorAndNothingIsPublished) {
    RingPair rings;
    auto& out = rings.producer.begin(1, 1);
    EXPECT_THROW(mproc::encode(out, std::vector<char>(spill_capacity + 1)), mproc::SerializationError);
    rings.producer.abandon();
    EXPECT_TRUE(rings.consumer.empty());
    send(rings.producer, 2, {1, 2, 3});
    std::uint64_t tag = 0;
    EXPECT_EQ(receive(rings.consumer, tag), (std::vector<std::uint32_t>{1, 2, 3}));
    EXPECT_EQ(tag, 2u);
}

TEST(Ring, WaitTimesOutWhenNothingArrives) {
    RingPair rings;
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(rings.consumer.wait(std::chrono::milliseconds(20)));
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(20));
}

TEST(FutexWaitUntil, NoDeadlineIsNoLimitAndAPassedOneIsNotSleptOn) {
    using namespace std::chrono_literals;
    using mproc::transport::Deadline;
    EXPECT_FALSE(mproc::transport::time_left(std::nullopt));
    EXPECT_FALSE(mproc::transport::expired(std::nullopt));
    std::atomic<std::uint32_t> word{5};
    const Deadline passed = std::chrono::steady_clock::now() - 1s;
    EXPECT_TRUE(mproc::transport::expired(passed));
    EXPECT_LE(*mproc::transport::time_left(passed), 0ns);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(mproc::transport::futex_wait_until(word, 5, passed));
    // A word that no longer holds what was seen ends the wait at once, whatever the deadline.
    EXPECT_TRUE(mproc::transport::futex_wait_until(word, 4, std::nullopt));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST(FutexWaitUntil, UnchangedWordSleepsUntilTheDeadline) {
    using namespace std::chrono_literals;
    std::atomic<std::uint32_t> word{5};
    const auto start = std::chrono::steady_clock::now();
    const mproc::transport::Deadline deadline = start + 20ms;
    // Woken early only by a signal, which this test sends none of.
    while (mproc::transport::futex_wait_until(word, 5, deadline)) {
    }
    EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
}

TEST(Ring, CorruptHeaderIsDetected) {
    RingPair rings;
    send(rings.producer, 1, {1});
    // Overwrite the record's length with garbage, as a crashed writer might.
    std::uint64_t garbage = ~0ull;
    std::memcpy(rings.region.data() + 4096, &garbage, sizeof garbage);
    EXPECT_THROW(rings.consumer.peek(), mproc::SerializationError);
}

// A spilled record names a length; a consumer must not read past what the producer really wrote
// into the spill file (a crashed or hostile producer may claim anything).
TEST(Ring, SpilledRecordLongerThanTheSpillFileIsDetected) {
    RingPair rings(std::size_t{64} << 20);
    auto& out = rings.producer.begin(7, 1);
    mproc::encode(out, std::vector<char>(capacity));  // spills: the spill file now holds it
    ASSERT_FALSE(rings.producer.commit());
    // Claim more than the spill file holds, but less than the limit.
    std::uint64_t longer = std::size_t{32} << 20;
    std::memcpy(rings.region.data() + 4096, &longer, sizeof longer);
    EXPECT_THROW(rings.consumer.peek(), mproc::SerializationError);
}

// The spill file grows with the messages, and each side maps more of it as it needs to.
TEST(Ring, SpilledMessagesOfGrowingSizeArriveIntactAcrossProcesses) {
    RingPair rings(std::size_t{64} << 20);
    const auto message_of = [](std::uint32_t i) {
        std::vector<std::uint32_t> values(i * i * (std::size_t{1} << 16));  // up to 16 MiB
        std::iota(values.begin(), values.end(), i);
        return values;
    };
    const pid_t child = ::fork();
    if (child == 0) {
        for (std::uint32_t i = 1; i <= 8; ++i) send(rings.producer, i, message_of(i));
        ::_exit(0);
    }
    for (std::uint32_t i = 1; i <= 8; ++i) {
        std::uint64_t tag = 0;
        const auto message = receive(rings.consumer, tag);
        ASSERT_EQ(tag, i);
        ASSERT_TRUE(message == message_of(i)) << "message " << i;
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_EQ(status, 0);
}

TEST(Ring, WorksBetweenTwoProcesses) {
    RingPair rings;
    const pid_t child = ::fork();
    if (child == 0) {
        for (std::uint32_t i = 0; i < 10000; ++i) send(rings.producer, i, std::vector<std::uint32_t>(i % 300, i));
        ::_exit(0);
    }
    for (std::uint32_t i = 0; i < 10000; ++i) {
        std::uint64_t tag = 0;
        const auto message = receive(rings.consumer, tag);
        ASSERT_EQ(tag, i);
        ASSERT_EQ(message, std::vector<std::uint32_t>(i % 300, i));
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_EQ(status, 0);
}

}  // namespace
