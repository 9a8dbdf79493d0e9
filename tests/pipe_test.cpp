// Pipe and Connection: both directions, one-way pipes, end of file when the other end is gone
// (closed, or its process killed), poll, large messages, and how a Connection travels.
#include <mproc/pipe.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <mproc/process.hpp>

#include "support/children.hpp"
#include "support/descriptor.hpp"
#include "support/fd_passing.hpp"
#include "support/leak_check.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::test::require;
using Clock = std::chrono::steady_clock;

TEST(Pipe, CarriesItemsBothWaysBetweenProcesses) {
    mproc::test::LeakCheck leaks;
    auto [parent_end, child_end] = mproc::Pipe<std::string>();
    mproc::Process child([](mproc::Connection<std::string> c) {
        for (std::string s; (s = c.recv()) != "bye";) c.send(s + "!");
    }, child_end);
    child.start();
    child_end.close();
    for (int i = 0; i < 100; ++i) {
        parent_end.send("ping " + std::to_string(i));
        EXPECT_EQ(parent_end.recv(), "ping " + std::to_string(i) + "!");
    }
    parent_end.send("bye");
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

TEST(Pipe, OneWayPipeRefusesTheWrongDirection) {
    auto [reader, writer] = mproc::Pipe<int>(false);
    EXPECT_TRUE(reader.readable());
    EXPECT_FALSE(reader.writable());
    EXPECT_FALSE(writer.readable());
    EXPECT_TRUE(writer.writable());
    writer.send(1);
    EXPECT_EQ(reader.recv(), 1);
    EXPECT_THROW(reader.send(2), mproc::StateError);
    EXPECT_THROW(writer.recv(), mproc::StateError);
}

TEST(Pipe, RecvReturnsWhatIsLeftThenEOFErrorOnceThePeerIsClosed) {
    mproc::test::LeakCheck leaks;
    auto [a, b] = mproc::Pipe<int>();
    b.send(1);
    b.send(2);
    b.close();
    EXPECT_TRUE(b.closed());
    EXPECT_THROW(b.send(3), mproc::StateError);
    EXPECT_EQ(a.recv(), 1);
    EXPECT_EQ(a.recv(), 2);
    EXPECT_TRUE(a.poll());  // recv would not block: it would throw
    EXPECT_THROW(a.recv(), mproc::EOFError);
}

TEST(Pipe, RecvThrowsEOFErrorWhenThePeerProcessIsKilled) {
    mproc::test::LeakCheck leaks;
    auto [parent_end, child_end] = mproc::Pipe<int>();
    mproc::Process child([](mproc::Connection<int> c) {
        c.send(42);
        for (;;) ::pause();
    }, child_end);
    child.start();
    child_end.close();  // the child now holds the only copy of its end
    EXPECT_EQ(parent_end.recv(), 42);
    std::thread killer([&] {
        std::this_thread::sleep_for(50ms);
        child.kill();
    });
    const auto start = Clock::now();
    EXPECT_THROW(parent_end.recv(), mproc::EOFError);  // blocked, then told
    EXPECT_LT(Clock::now() - start, 5s);
    killer.join();
    child.join();
}

// How many times the thread `tid` of this process has gone to sleep and been woken.
long sleeps_of_thread(pid_t tid) {
    std::ifstream status("/proc/self/task/" + std::to_string(tid) + "/status");
    for (std::string line; std::getline(status, line);)
        if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::stol(line.substr(24));
    return -1;
}

// A recv() that waits asks whether the other end is still open every 50 ms at first, then less
// often as the wait goes on (a quarter of the time waited, at most a second apart): an idle end,
// as a manager's connection, does not wake twenty times a second for as long as it waits.
TEST(Pipe, AnIdleRecvWakesLessOftenTheLongerItWaits) {
    auto [sender, receiver] = mproc::Pipe<int>();
    std::atomic<pid_t> waiter_tid{0};
    std::thread waiter([&, &receiver = receiver] {
        waiter_tid = static_cast<pid_t>(::gettid());
        EXPECT_EQ(receiver.recv(), 7);
    });
    while (waiter_tid == 0) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(2s);
    const long before = sleeps_of_thread(waiter_tid);
    std::this_thread::sleep_for(2s);
    const long after = sleeps_of_thread(waiter_tid);
    sender.send(7);
    waiter.join();
    ASSERT_GE(before, 0);
    // Asking every 50 ms would be 40 wake-ups in these two seconds; a quarter of the time waited
    // (from 0.5 s up) is about 4.
    EXPECT_LE(after - before, 15);
}

TEST(Pipe, SendThrowsWhenTheRingIsFullAndThePeerIsGone) {
    auto [a, b] = mproc::Pipe<std::string>(true, {.buffer_bytes = 4096});
    b.close();
    EXPECT_THROW(for (int i = 0; i < 1000; ++i) a.send(std::string(500, 'x')), mproc::OSError);
}

TEST(Pipe, PollWaitsForData) {
    mproc::test::LeakCheck leaks;
    auto [a, b] = mproc::Pipe<int>();
    EXPECT_FALSE(a.poll());
    const auto start = Clock::now();
    EXPECT_FALSE(a.poll(30ms));
    EXPECT_GE(Clock::now() - start, 30ms);
    mproc::Process sender([](mproc::Connection<int> c) {
        std::this_thread::sleep_for(30ms);
        c.send(5);
    }, b);
    sender.start();
    EXPECT_TRUE(a.poll(10s));
    EXPECT_EQ(a.recv(), 5);
    sender.join();
}

TEST(Pipe, LargeMessagesTravelThroughSharedMemory) {
    mproc::test::LeakCheck leaks;
    auto [a, b] = mproc::Pipe<std::vector<double>>();
    mproc::Process echo([](mproc::Connection<std::vector<double>> c) {
        for (int i = 0; i < 3; ++i) {
            auto v = c.recv();
            for (auto& x : v) x *= 2;
            c.send(v);
        }
    }, b);
    echo.start();
    b.close();
    for (std::size_t size : {std::size_t{10}, std::size_t{1} << 20, std::size_t{3} << 20}) {
        std::vector<double> v(size);
        for (std::size_t i = 0; i < size; ++i) v[i] = static_cast<double>(i);
        a.send(v);
        auto doubled = a.recv();
        ASSERT_EQ(doubled.size(), size);
        for (std::size_t i = 0; i < size; i += 997) ASSERT_EQ(doubled[i], 2.0 * static_cast<double>(i));
    }
    echo.join();
    EXPECT_EQ(echo.exitcode(), 0);
}

// A received end whose shared memory says its first ring is far larger than the file: the second
// ring's control would lie beyond the mapping. Refused before anything there is read.
TEST(Pipe, AReceivedEndWhoseRingSizeOverrunsItsMemoryIsRefused) {
    auto [sender, receiver] = mproc::Pipe<int>();
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    mproc::encode(out, receiver);
    ASSERT_FALSE(out.fds().empty());
    struct stat block {};  // the first descriptor: the ends' shared memory, a memfd
    ASSERT_EQ(::fstat(out.fds()[0], &block), 0);
    ASSERT_TRUE(S_ISREG(block.st_mode));
    void* shared = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, out.fds()[0], 0);
    ASSERT_NE(shared, MAP_FAILED);
    constexpr std::size_t first_control = 64;  // after the block's header
    const std::uint64_t capacity = std::uint64_t{1} << 34;  // a power of two, within the limit
    std::memcpy(static_cast<std::byte*>(shared) + first_control + offsetof(mproc::detail::QueueControl, capacity),
                &capacity, sizeof capacity);
    ::munmap(shared, 4096);
    mproc::Reader in(bytes, out.fds());
    EXPECT_THROW((void)mproc::decode<mproc::Connection<int>>(in), mproc::SerializationError);
}

TEST(Pipe, ConnectionTravelsToAProcessStartedBeforeIt) {
    mproc::test::LeakCheck leaks;
    mproc::test::SocketPair sockets;
    mproc::Process child([](mproc::test::Descriptor socket) {
        auto connection = mproc::test::receive_object<mproc::Connection<int>>(socket);
        connection.send(connection.recv() + 1);
    }, mproc::test::Descriptor{sockets.child()});
    child.start();
    {
        auto [mine, theirs] = mproc::Pipe<int>();
        ASSERT_TRUE(mproc::test::send_object(sockets.parent(), theirs));
        theirs.close();
        mine.send(41);
        EXPECT_EQ(mine.recv(), 42);
        child.join();
        EXPECT_EQ(child.exitcode(), 0);
        EXPECT_THROW(mine.recv(), mproc::EOFError);  // the child's copy was the last one
    }
}

}  // namespace
