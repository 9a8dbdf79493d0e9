// mproc::connection (Python's multiprocessing.connection): bytes messages with offsets and limits,
// recv_bytes_into, poll, typed values and descriptors, Listener/Client over Unix paths, abstract
// names and TCP, the authkey handshake (against vectors made with Python's hmac module, and with
// malformed messages at every step), Connections passed to other processes, and wait().
// The Python interop test is connection_python_test.cpp.
#include <mproc/connection.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <future>
#include <map>
#include <numeric>
#include <thread>

#include <gtest/gtest.h>

#include <mproc/pipe.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/queue.hpp>
#include <mproc/shared.hpp>

#include "connection/connection_state.hpp"
#include "connection/handshake.hpp"
#include "connection/wire.hpp"
#include "support/children.hpp"
#include "support/leak_check.hpp"

namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
namespace conn = mproc::connection;
using mproc::test::require;

std::vector<std::byte> bytes_of(std::string_view text) {
    const auto view = std::as_bytes(std::span(text.data(), text.size()));
    return {view.begin(), view.end()};
}

std::string text_of(std::span<const std::byte> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::vector<std::byte> from_hex(std::string_view hex) {
    std::vector<std::byte> out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
}

// Python's framing of one message, written by hand.
std::vector<std::byte> framed(std::span<const std::byte> payload) {
    const auto header = conn::wire::encode_header(payload.size());
    std::vector<std::byte> out(header.view().begin(), header.view().end());
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}
std::vector<std::byte> framed(std::string_view text) { return framed(bytes_of(text)); }

// Writes raw bytes to a connection's socket, bypassing its framing: what a broken peer sends.
void write_raw(const conn::Connection& c, std::span<const std::byte> bytes) {
    ASSERT_EQ(::send(c.fileno(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

template <class F>
int os_error_code(F&& f) {
    try {
        f();
    } catch (const mproc::OSError& e) {
        return e.code();
    }
    return 0;
}

std::string unique_path(const char* stem) {
    return "/tmp/mproc-" + std::string(stem) + "-" + std::to_string(::getpid()) + ".sock";
}

// ---------------------------------------------------------------------------------------------
// Bytes messages (Python's _TestConnection).

TEST(Connection, SendBytesSendsTheGivenRangeOfTheBuffer) {
    auto [a, b] = conn::Pipe();
    const auto data = bytes_of("0123456789");
    a.send_bytes(data);
    a.send_bytes(data, 3);
    a.send_bytes(data, 2, 4);
    a.send_bytes(data, 10);
    a.send_bytes("text");
    EXPECT_EQ(text_of(b.recv_bytes()), "0123456789");
    EXPECT_EQ(text_of(b.recv_bytes()), "3456789");
    EXPECT_EQ(text_of(b.recv_bytes()), "2345");
    EXPECT_EQ(b.recv_bytes().size(), 0u);
    EXPECT_EQ(text_of(b.recv_bytes()), "text");
}

TEST(Connection, SendBytesRefusesARangeOutsideTheBuffer) {
    auto [a, b] = conn::Pipe();
    const auto data = bytes_of("0123");
    EXPECT_THROW(a.send_bytes(data, 5), mproc::StateError);
    EXPECT_THROW(a.send_bytes(data, 2, 3), mproc::StateError);
    EXPECT_FALSE(b.poll());  // nothing was sent
}

TEST(Connection, RecvBytesLongerThanMaxlengthIsOSErrorAndClosesTheConnection) {
    auto [a, b] = conn::Pipe();
    a.send_bytes("12345");
    a.send_bytes("1234");
    EXPECT_EQ(os_error_code([&] { (void)b.recv_bytes(4); }), EMSGSIZE);
    EXPECT_TRUE(b.closed());  // as Python: the stream cannot be resynchronised
    EXPECT_EQ(os_error_code([&] { (void)b.recv_bytes(); }), EBADF);
}

TEST(Connection, RecvBytesAcceptsAMessageOfExactlyMaxlength) {
    auto [a, b] = conn::Pipe();
    a.send_bytes("1234");
    EXPECT_EQ(text_of(b.recv_bytes(4)), "1234");
}

TEST(Connection, RecvBytesIntoWritesAtTheOffsetAndReturnsTheSize) {
    auto [a, b] = conn::Pipe();
    a.send_bytes("abc");
    std::vector<std::byte> buffer(8, std::byte{'.'});
    EXPECT_EQ(b.recv_bytes_into(buffer, 5), 3u);
    EXPECT_EQ(text_of(buffer), ".....abc");
    a.send_bytes("");
    EXPECT_EQ(b.recv_bytes_into(buffer, 8), 0u);
}

TEST(Connection, RecvBytesIntoATooShortBufferIsBufferTooShortWithTheWholeMessage) {
    auto [a, b] = conn::Pipe();
    a.send_bytes("abcdef");
    a.send_bytes("next");
    std::vector<std::byte> buffer(8, std::byte{'.'});
    try {
        (void)b.recv_bytes_into(buffer, 4);
        FAIL() << "no BufferTooShort";
    } catch (const mproc::BufferTooShort& e) {
        EXPECT_EQ(text_of(e.message()), "abcdef");
    }
    EXPECT_EQ(text_of(buffer), "........");
    // The message was consumed; the connection goes on with the next one, as Python's.
    EXPECT_EQ(text_of(b.recv_bytes()), "next");
    EXPECT_THROW((void)b.recv_bytes_into(buffer, 9), mproc::StateError);
}

// A message larger than the socket's buffer, sent from another thread, arrives whole.
void expect_large_message_arrives_whole(conn::Connection& from, conn::Connection& to) {
    std::vector<std::byte> big(3 * 1024 * 1024 + 17);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::byte>(i * 7);
    std::thread sender([&] { from.send_bytes(big); });
    const auto received = to.recv_bytes();
    sender.join();
    EXPECT_EQ(received, big);
}

TEST(Connection, LargeMessagesArriveWhole) {
    auto [a, b] = conn::Pipe();
    expect_large_message_arrives_whole(a, b);
}

// Larger than the socket's buffer: the header and the bytes go out over several sends, the
// descriptors with the first of them.
TEST(Connection, ALargeTypedValueArrivesWholeWithItsDescriptors) {
    mproc::test::LeakCheck leaks;
    {
        auto [a, b] = conn::Pipe();
        mproc::Value<int> value(1);
        std::vector<std::uint8_t> big(3 * 1024 * 1024 + 5);
        for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 13);
        std::thread sender([&] { a.send(std::pair{value, big}); });
        auto [received_value, received_big] = b.recv<std::pair<mproc::Value<int>, std::vector<std::uint8_t>>>();
        sender.join();
        EXPECT_EQ(received_big, big);
        received_value.value() = 42;
        EXPECT_EQ(value.value(), 42);
    }
}

TEST(Connection, LargeMessagesArriveWholeOverTcp) {
    conn::Listener listener({"127.0.0.1", 0}, {.authkey = conn::no_authkey});
    auto client = conn::Client(listener.address(), {.authkey = conn::no_authkey});
    auto server = listener.accept();
    expect_large_message_arrives_whole(client, server);
}

TEST(Connection, PollTellsWhetherAMessageIsWaiting) {
    auto [a, b] = conn::Pipe();
    EXPECT_FALSE(b.poll());
    EXPECT_FALSE(b.poll(10ms));
    a.send_bytes("x");
    EXPECT_TRUE(b.poll());
    EXPECT_TRUE(b.poll(-1s));  // a negative timeout only looks
    (void)b.recv_bytes();
    EXPECT_FALSE(b.poll());
    std::thread later([&] { a.send_bytes("y"); });
    EXPECT_TRUE(b.poll_forever());
    later.join();
    (void)b.recv_bytes();
    a.close();
    EXPECT_TRUE(b.poll());  // the end of the connection is readable too: recv tells EOFError
    EXPECT_THROW((void)b.recv_bytes(), mproc::EOFError);
}

TEST(Connection, AnEmptyMessageIsReadyAndStaysReadyUntilReceived) {
    auto [a, b] = conn::Pipe();
    EXPECT_FALSE(a.poll());
    b.send_bytes("");
    EXPECT_TRUE(a.poll());
    EXPECT_TRUE(a.poll());  // polling does not consume it
    EXPECT_TRUE(a.recv_bytes().empty());
    EXPECT_FALSE(a.poll());
}

TEST(Connection, MessagesFromAChildArriveOneByOneNeverMerged) {
    // Python's _TestPoll.test_strings and test_dont_merge.
    mproc::test::LeakCheck leaks;
    {
        const std::vector<std::string> strings{"hello", "", "a", "b", "", "bye", "", "lop", "cd"};
        auto [a, b] = conn::Pipe();
        mproc::Process child([](conn::Connection c, std::vector<std::string> all) {
            for (const auto& s : all) c.send_bytes(s);
        }, b, strings);
        child.start();
        b.close();
        for (const auto& s : strings) {
            EXPECT_TRUE(a.poll(60s));
            EXPECT_EQ(text_of(a.recv_bytes()), s);
        }
        child.join();
        EXPECT_EQ(child.exitcode(), 0);
        EXPECT_TRUE(a.poll());  // the end
        EXPECT_THROW((void)a.recv_bytes(), mproc::EOFError);
    }
}

TEST(Connection, PollInAnotherProcessDoesNotTakeAPartOfAMessage) {
    // Python's _TestPoll.test_boundaries: a poll elsewhere leaves whole messages for the reader.
    mproc::test::LeakCheck leaks;
    {
        auto [r, w] = conn::Pipe(false);
        auto [done_parent, done_child] = conn::Pipe();
        mproc::Process child([](conn::Connection reader, conn::Connection done) {
            require(reader.poll(60s), "a message arrives");
            done.send_bytes("polled");
        }, r, done_child);
        child.start();
        done_child.close();
        w.send_bytes("first");
        w.send_bytes("second");
        w.close();
        EXPECT_EQ(text_of(done_parent.recv_bytes()), "polled");
        child.join();
        EXPECT_EQ(child.exitcode(), 0);
        EXPECT_EQ(text_of(r.recv_bytes()), "first");
        EXPECT_EQ(text_of(r.recv_bytes()), "second");
    }
}

TEST(Connection, EndOfFileInsideAMessageIsOSError) {
    auto [a, b] = conn::Pipe();
    auto header = conn::wire::encode_header(100);
    write_raw(a, header.view());
    write_raw(a, bytes_of("only a part"));
    a.close();
    EXPECT_EQ(os_error_code([&] { (void)b.recv_bytes(); }), ECONNRESET);
}

TEST(Connection, AHugeAnnouncedLengthCostsOnlyWhatArrives) {
    auto [a, b] = conn::Pipe();
    // The long form announcing 2^62 bytes, then a few and the end: no allocation of the announced
    // size (that would be bad_alloc), a clean OSError.
    std::vector<std::byte> header = from_hex("ffffffff4000000000000000");
    write_raw(a, header);
    write_raw(a, bytes_of("abc"));
    a.close();
    EXPECT_EQ(os_error_code([&] { (void)b.recv_bytes(); }), ECONNRESET);
}

TEST(Connection, ANegativeLengthIsOSError) {
    auto [a, b] = conn::Pipe();
    write_raw(a, from_hex("fffffffe"));
    EXPECT_EQ(os_error_code([&] { (void)b.recv_bytes(); }), EMSGSIZE);
    EXPECT_TRUE(b.closed());
}

TEST(Connection, TheLongFormIsReadForAnyLength) {
    // Python writes the 8-byte form only above 2^31 - 1 bytes, but reads it for any length.
    auto [a, b] = conn::Pipe();
    write_raw(a, from_hex("ffffffff0000000000000002"));
    write_raw(a, bytes_of("hi"));
    EXPECT_EQ(text_of(b.recv_bytes()), "hi");
}

TEST(Connection, HeadersAreBigEndianAndSwitchToTheLongFormAbove2GiB) {
    const auto short_form = conn::wire::encode_header(0x01020304);
    EXPECT_EQ(std::vector<std::byte>(short_form.view().begin(), short_form.view().end()), from_hex("01020304"));
    const auto at_limit = conn::wire::encode_header(0x7fffffff);
    EXPECT_EQ(at_limit.size, 4u);
    const auto long_form = conn::wire::encode_header(0x80000000);
    EXPECT_EQ(std::vector<std::byte>(long_form.view().begin(), long_form.view().end()),
              from_hex("ffffffff0000000080000000"));
}

TEST(Connection, SendToAClosedPeerIsEPIPEAndRecvIsEOFError) {
    auto [a, b] = conn::Pipe();
    b.close();
    EXPECT_EQ(os_error_code([&] { a.send_bytes("x"); }), EPIPE);
    EXPECT_THROW((void)a.recv_bytes(), mproc::EOFError);
}

TEST(Connection, AClosedConnectionIsOSErrorEBADF) {
    auto [a, b] = conn::Pipe();
    conn::Connection copy = a;
    EXPECT_FALSE(copy.closed());
    a.close();
    EXPECT_TRUE(copy.closed());  // copies share the socket
    EXPECT_FALSE(copy.readable());
    EXPECT_EQ(os_error_code([&] { copy.send_bytes("x"); }), EBADF);
    EXPECT_EQ(os_error_code([&] { (void)copy.recv_bytes(); }), EBADF);
    EXPECT_EQ(os_error_code([&] { (void)copy.fileno(); }), EBADF);
    EXPECT_EQ(os_error_code([&] { (void)copy.poll(); }), EBADF);
    a.close();  // twice is fine
    conn::Connection never_opened;
    EXPECT_TRUE(never_opened.closed());
}

TEST(Connection, OneWayPipeRefusesTheWrongDirection) {
    auto [reader, writer] = conn::Pipe(false);
    EXPECT_TRUE(reader.readable());
    EXPECT_FALSE(reader.writable());
    EXPECT_FALSE(writer.readable());
    EXPECT_TRUE(writer.writable());
    writer.send_bytes("one way");
    EXPECT_EQ(text_of(reader.recv_bytes()), "one way");
    EXPECT_EQ(os_error_code([&] { reader.send_bytes("x"); }), EBADF);
    EXPECT_EQ(os_error_code([&] { (void)writer.recv_bytes(); }), EBADF);
}

TEST(Connection, FromFdTakesASocketAndRefusesAnythingElse) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    auto a = conn::Connection::from_fd(fds[0]);
    auto b = conn::Connection::from_fd(fds[1]);
    a.send_bytes("raw");
    EXPECT_EQ(text_of(b.recv_bytes()), "raw");
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    EXPECT_EQ(os_error_code([&] { (void)conn::Connection::from_fd(pipe_fds[0]); }), ENOTSOCK);
    ::close(pipe_fds[0]);  // refused: still ours
    ::close(pipe_fds[1]);
    // Python's test_invalid_handles: a number that is no descriptor.
    EXPECT_EQ(os_error_code([&] { (void)conn::Connection::from_fd(pipe_fds[0]); }), EBADF);
    EXPECT_EQ(os_error_code([] { (void)conn::Connection::from_fd(-1); }), EBADF);
}

// ---------------------------------------------------------------------------------------------
// Typed values and descriptors.

struct Point {
    int x;
    double y;
    bool operator==(const Point&) const = default;
};

TEST(Connection, TypedValuesRoundTrip) {
    auto [a, b] = conn::Pipe();
    a.send(std::map<std::string, std::vector<int>>{{"a", {1, 2}}, {"b", {}}});
    a.send(Point{3, 4.5});
    a.send(std::string("text"));
    EXPECT_EQ((b.recv<std::map<std::string, std::vector<int>>>()),
              (std::map<std::string, std::vector<int>>{{"a", {1, 2}}, {"b", {}}}));
    EXPECT_EQ(b.recv<Point>(), (Point{3, 4.5}));
    EXPECT_EQ(b.recv<std::string>(), "text");
}

TEST(Connection, ATypedValueOfTheWrongShapeIsSerializationError) {
    auto [a, b] = conn::Pipe();
    a.send(std::int64_t{1});
    EXPECT_THROW((void)b.recv<std::string>(), mproc::SerializationError);
    a.send_bytes("abc");
    EXPECT_THROW((void)b.recv<std::int64_t>(), mproc::SerializationError);
}

TEST(Connection, SharedObjectsTravelThroughASocketConnection) {
    mproc::test::LeakCheck leaks;
    {
        auto [a, b] = conn::Pipe();
        mproc::Value<int> value(1);
        a.send(value);
        auto received = b.recv<mproc::Value<int>>();
        received.value() = 42;
        EXPECT_EQ(value.value(), 42);
    }
}

TEST(Connection, AConnectionTravelsThroughAConnection) {
    mproc::test::LeakCheck leaks;
    {
        auto [a, b] = conn::Pipe();
        auto [inner_a, inner_b] = conn::Pipe();
        a.send(inner_b);
        auto received = b.recv<conn::Connection>();
        inner_b.close();  // the received copy is a descriptor of its own
        inner_a.send_bytes("through the passed end");
        EXPECT_EQ(text_of(received.recv_bytes()), "through the passed end");
        received.send_bytes("back");
        EXPECT_EQ(text_of(inner_a.recv_bytes()), "back");
    }
}

TEST(Connection, ClosedConnectionsCannotBeSent) {
    auto [a, b] = conn::Pipe();
    auto [inner_a, inner_b] = conn::Pipe();
    inner_b.close();
    EXPECT_THROW(a.send(inner_b), mproc::SerializationError);
}

TEST(Connection, DescriptorsSentBesideBytesAreClosedByRecvBytes) {
    mproc::test::LeakCheck leaks;
    {
        auto [a, b] = conn::Pipe();
        auto [inner_a, inner_b] = conn::Pipe();
        a.send(inner_b);
        const auto bytes = b.recv_bytes();  // the descriptor came too, and is not leaked
        EXPECT_FALSE(bytes.empty());
    }
}

TEST(Connection, DescriptorsCannotCrossTcp) {
    conn::Listener listener({"127.0.0.1", 0}, {.authkey = conn::no_authkey});
    std::thread client_side([address = listener.address()] {
        auto c = conn::Client(address, {.authkey = conn::no_authkey});
        auto [inner_a, inner_b] = conn::Pipe();
        EXPECT_THROW(c.send(inner_a), mproc::SerializationError);
        c.send(std::string("plain values do"));
    });
    auto server = listener.accept();
    EXPECT_EQ(server.recv<std::string>(), "plain values do");
    client_side.join();
}

// ---------------------------------------------------------------------------------------------
// Connections in other processes.

TEST(Connection, AConnectionPassedToAChildIsUsedThere) {
    mproc::test::LeakCheck leaks;
    {
        auto [parent_end, child_end] = conn::Pipe();
        mproc::Process child([](conn::Connection c) {
            auto message = c.recv_bytes();
            std::reverse(message.begin(), message.end());
            c.send_bytes(message);
            c.send(std::vector<int>{1, 2, 3});
        }, child_end);
        child.start();
        child_end.close();
        parent_end.send_bytes("olleh");
        EXPECT_EQ(text_of(parent_end.recv_bytes()), "hello");
        EXPECT_EQ(parent_end.recv<std::vector<int>>(), (std::vector<int>{1, 2, 3}));
        child.join();
        EXPECT_EQ(child.exitcode(), 0);
        // The child's copy is gone with it: end of file.
        EXPECT_THROW((void)parent_end.recv_bytes(), mproc::EOFError);
    }
}

TEST(Connection, AConnectionPassedToAPoolTaskIsUsedThere) {
    mproc::test::LeakCheck leaks;
    {
        auto [a, b] = conn::Pipe();
        mproc::Pool pool(1);
        auto result = pool.apply_async([](conn::Connection c) {
            const auto question = c.recv<int>();
            c.send(question * 2);
            return question;
        }, b);
        a.send(21);
        EXPECT_EQ(a.recv<int>(), 42);
        EXPECT_EQ(result.get(), 21);
        pool.close();
        pool.join();
    }
}

TEST(Connection, AClientInAChildReachesAListenerInTheParent) {
    mproc::test::LeakCheck leaks;
    {
        conn::Listener listener({.authkey = "child key"});
        EXPECT_TRUE(listener.address().abstract());
        mproc::Process child([](std::string address) {
            auto c = conn::Client(conn::Address(address), {.authkey = "child key"});
            c.send_bytes("hello from " + std::to_string(::getpid()));
        }, listener.address().path());
        child.start();
        auto c = listener.accept();
        EXPECT_EQ(text_of(c.recv_bytes()), "hello from " + std::to_string(*child.pid()));
        child.join();
        EXPECT_EQ(child.exitcode(), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// Reading ahead (the managers' own TCP connections): what one recv takes beyond a message is kept
// for the next.

struct TcpPair {
    conn::Connection sender;
    conn::Connection receiver;
};

TcpPair tcp_pair_reading_ahead() {
    conn::Listener listener({"127.0.0.1", 0}, {.authkey = conn::no_authkey});
    auto sender = conn::Client(listener.address(), {.authkey = conn::no_authkey});
    auto receiver = listener.accept();
    conn::detail::ConnectionAccess::read_ahead(receiver);
    return {std::move(sender), std::move(receiver)};
}

TEST(ReadAhead, MessagesWrittenInOneSendArriveWholeAndInOrder) {
    auto [sender, receiver] = tcp_pair_reading_ahead();
    // Sizes around the read-ahead buffer's, all in one write: each recv is served partly from
    // what the one before it took.
    std::vector<std::vector<std::byte>> messages;
    std::vector<std::byte> stream;
    for (const std::size_t size : {0ul, 1ul, 4091ul, 4092ul, 4096ul, 5000ul, 3ul, 100000ul, 7ul}) {
        std::vector<std::byte> message(size);
        for (std::size_t i = 0; i < size; ++i) message[i] = static_cast<std::byte>(i * 7 + size);
        const auto frame = framed(message);
        stream.insert(stream.end(), frame.begin(), frame.end());
        messages.push_back(std::move(message));
    }
    std::thread writer([&, &sender = sender] { write_raw(sender, stream); });
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (i % 3 == 2) {
            std::vector<std::byte> buffer(messages[i].size() + 5);
            EXPECT_EQ(receiver.recv_bytes_into(buffer, 5), messages[i].size());
            EXPECT_TRUE(std::equal(messages[i].begin(), messages[i].end(), buffer.begin() + 5)) << "message " << i;
        } else {
            EXPECT_EQ(receiver.recv_bytes(), messages[i]) << "message " << i;
        }
    }
    writer.join();
    sender.close();
    EXPECT_THROW((void)receiver.recv_bytes(), mproc::EOFError);
}

TEST(ReadAhead, PollAndWaitSeeAMessageAlreadyReadAhead) {
    auto [sender, receiver] = tcp_pair_reading_ahead();
    auto both = framed("first");
    const auto second = framed("second");
    both.insert(both.end(), second.begin(), second.end());
    write_raw(sender, both);
    ASSERT_TRUE(receiver.poll_forever());
    ASSERT_EQ(text_of(receiver.recv_bytes()), "first");
    // The second message is in the connection's own buffer, no longer in the socket: still ready.
    ASSERT_TRUE(receiver.poll());
    EXPECT_TRUE(receiver.poll_forever());
    EXPECT_EQ(conn::wait({conn::Waitable(&receiver)}, 0s).size(), 1u);
    EXPECT_EQ(text_of(receiver.recv_bytes()), "second");
    EXPECT_FALSE(receiver.poll());
    EXPECT_TRUE(conn::wait({conn::Waitable(&receiver)}, 0s).empty());
}

TEST(ReadAhead, AUnixSocketDoesNotReadAheadSoTheNextMessagesDescriptorsStay) {
    auto [a, b] = conn::Pipe();
    conn::detail::ConnectionAccess::read_ahead(b);
    auto [inner_a, inner_b] = conn::Pipe();
    a.send_bytes("before");
    a.send(inner_b);
    // Read ahead, this bytes-only read would take the next message's first bytes, and with them
    // its descriptor, which a bytes-only read lets the kernel close.
    EXPECT_EQ(text_of(b.recv_bytes()), "before");
    auto received = b.recv<conn::Connection>();
    inner_a.send_bytes("through");
    EXPECT_EQ(text_of(received.recv_bytes()), "through");
}

// ---------------------------------------------------------------------------------------------
// Listener and Client (Python's _TestListenerClient).

TEST(Listener, UnixPathAcceptsClientsAndRemovesItsFileOnClose) {
    mproc::test::LeakCheck leaks;
    const std::string path = unique_path("listener");
    {
        conn::Listener listener(path);
        EXPECT_EQ(listener.address(), conn::Address(path));
        EXPECT_EQ(listener.address().family(), conn::Family::unix_socket);
        struct stat info{};
        ASSERT_EQ(::stat(path.c_str(), &info), 0);
        EXPECT_TRUE(S_ISSOCK(info.st_mode));
        EXPECT_FALSE(listener.last_accepted());
        auto client = conn::Client(path);
        auto server = listener.accept();
        ASSERT_TRUE(listener.last_accepted());
        EXPECT_EQ(listener.last_accepted()->family(), conn::Family::unix_socket);
        client.send_bytes("ping");
        EXPECT_EQ(text_of(server.recv_bytes()), "ping");
        server.send_bytes("pong");
        EXPECT_EQ(text_of(client.recv_bytes()), "pong");
        listener.close();
        EXPECT_TRUE(listener.closed());
        EXPECT_NE(::access(path.c_str(), F_OK), 0);
        EXPECT_EQ(os_error_code([&] { (void)listener.accept(); }), EBADF);
        // Connections made before stay usable.
        client.send_bytes("still there");
        EXPECT_EQ(text_of(server.recv_bytes()), "still there");
    }
}

TEST(Listener, EveryFamilyWithAnAddressOfItsOwnConnectsAndPolls) {
    // Python's _TestListenerClient.test_issue16955.
    for (const auto family : {conn::Family::unix_socket, conn::Family::tcp}) {
        conn::Listener listener({.family = family, .authkey = "k"});
        EXPECT_EQ(listener.address().family(), family);
        auto accepted = std::async(std::launch::async, [&] { return listener.accept(); });
        auto c = conn::Client(listener.address(), {.authkey = "k"});
        auto a = accepted.get();
        a.send_bytes("hello");
        EXPECT_TRUE(c.poll(60s));
        EXPECT_EQ(text_of(c.recv_bytes()), "hello");
    }
}

TEST(Listener, AnExistingFileIsEADDRINUSE) {
    const std::string path = unique_path("taken");
    conn::Listener first(path);
    EXPECT_EQ(os_error_code([&] { conn::Listener second(path); }), EADDRINUSE);
}

TEST(Listener, AbstractNamesLeaveNothingInTheFileSystem) {
    const std::string name = "\0mproc-test-abstract-"s + std::to_string(::getpid());
    conn::Listener listener(name, {.family = conn::Family::unix_socket});
    EXPECT_TRUE(listener.address().abstract());
    EXPECT_EQ(listener.address().to_string(), "@" + name.substr(1));
    auto client = conn::Client(name);
    auto server = listener.accept();
    client.send_bytes("abstract");
    EXPECT_EQ(text_of(server.recv_bytes()), "abstract");
}

TEST(Listener, TcpOnPortZeroReportsThePortItGot) {
    conn::Listener listener({"127.0.0.1", 0}, {.backlog = 4, .authkey = "tcp key"});
    EXPECT_EQ(listener.address().family(), conn::Family::tcp);
    EXPECT_EQ(listener.address().host(), "127.0.0.1");
    EXPECT_NE(listener.address().port(), 0);
    auto accepted = std::async(std::launch::async, [&] { return listener.accept(); });
    auto client = conn::Client(listener.address(), {.authkey = "tcp key"});
    auto server = accepted.get();
    ASSERT_TRUE(listener.last_accepted());
    EXPECT_EQ(listener.last_accepted()->host(), "127.0.0.1");
    EXPECT_NE(listener.last_accepted()->port(), 0);
    client.send_bytes("over tcp");
    EXPECT_EQ(text_of(server.recv_bytes()), "over tcp");
}

TEST(Listener, TcpWithoutAnAuthkeyIsRefusedUnlessOptedOut) {
    EXPECT_THROW(conn::Listener({"127.0.0.1", 0}), mproc::StateError);
    EXPECT_THROW(conn::Listener(conn::ListenerOptions{.family = conn::Family::tcp}), mproc::StateError);
    conn::Listener listener({"127.0.0.1", 0}, {.authkey = conn::no_authkey});
    EXPECT_THROW((void)conn::Client(listener.address()), mproc::StateError);
    auto client = conn::Client(listener.address(), {.authkey = conn::no_authkey});
    auto server = listener.accept();
    client.send_bytes("unauthenticated, on purpose");
    EXPECT_EQ(text_of(server.recv_bytes()), "unauthenticated, on purpose");
}

TEST(Listener, AMismatchedFamilyOrBadPortOrEmptyKeyIsStateError) {
    EXPECT_THROW(conn::Listener(unique_path("family"), {.family = conn::Family::tcp}), mproc::StateError);
    EXPECT_THROW(conn::Address("127.0.0.1", 70000), mproc::StateError);
    EXPECT_THROW(conn::Authkey(""), mproc::StateError);
}

TEST(Client, NobodyListeningIsOSError) {
    EXPECT_EQ(os_error_code([] { (void)conn::Client(unique_path("nobody")); }), ENOENT);
    const std::string name = "\0mproc-test-nobody-"s + std::to_string(::getpid());
    EXPECT_EQ(os_error_code([&] { (void)conn::Client(name); }), ECONNREFUSED);
}

// The server's accept() and the client's Client(), run at once; the outcome of each.
struct Outcome {
    std::string error;  // the exception's type, or "" on success
    std::optional<conn::Connection> connection;
};

template <class F>
Outcome outcome_of(F&& f) {
    Outcome outcome;
    try {
        outcome.connection = f();
    } catch (const mproc::AuthenticationError&) {
        outcome.error = "AuthenticationError";
    } catch (const mproc::EOFError&) {
        outcome.error = "EOFError";
    } catch (const mproc::OSError& e) {
        outcome.error = "OSError " + std::to_string(e.code());
    }
    return outcome;
}

std::pair<Outcome, Outcome> handshake_between(conn::Authkey server_key, conn::Authkey client_key) {
    conn::Listener listener({.authkey = std::move(server_key)});
    auto server = std::async(std::launch::async, [&] { return outcome_of([&] { return listener.accept(); }); });
    Outcome client = outcome_of([&] { return conn::Client(listener.address(), {.authkey = std::move(client_key)}); });
    return {server.get(), std::move(client)};
}

TEST(Authkey, TheRightKeyConnectsBothWays) {
    mproc::test::LeakCheck leaks;
    auto [server, client] = handshake_between("the key", "the key");
    ASSERT_EQ(server.error, "");
    ASSERT_EQ(client.error, "");
    client.connection->send_bytes("authenticated");
    EXPECT_EQ(text_of(server.connection->recv_bytes()), "authenticated");
}

TEST(Authkey, AWrongKeyIsAuthenticationErrorOnBothSides) {
    mproc::test::LeakCheck leaks;
    auto [server, client] = handshake_between("the key", "another key");
    EXPECT_EQ(server.error, "AuthenticationError");
    EXPECT_EQ(client.error, "AuthenticationError");
}

TEST(Authkey, AKeyBytesLongerThanABlockWorks) {
    const std::string long_key(1000, 'k');
    auto [server, client] = handshake_between(long_key, long_key);
    EXPECT_EQ(server.error, "");
    EXPECT_EQ(client.error, "");
}

TEST(Authkey, AClientWithoutTheKeyIsRefusedByTheListener) {
    // The client knows nothing of a handshake: it reads the challenge as data and sends a reply
    // that is no answer. The Listener refuses it; the client has learned nothing but a challenge.
    conn::Listener listener({.authkey = "the key"});
    auto server = std::async(std::launch::async, [&] { return outcome_of([&] { return listener.accept(); }); });
    auto client = conn::Client(listener.address());
    const auto challenge = client.recv_bytes();
    EXPECT_EQ(text_of(challenge).substr(0, 19), "#CHALLENGE#{sha256}");
    EXPECT_EQ(challenge.size(), 19u + conn::handshake::challenge_bytes);
    client.send_bytes("hello?");
    EXPECT_EQ(server.get().error, "AuthenticationError");
    EXPECT_EQ(text_of(client.recv_bytes()), "#FAILURE#");
}

TEST(Authkey, AListenerWithoutTheKeyIsRefusedByTheClient) {
    conn::Listener listener;
    auto server = std::async(std::launch::async, [&] {
        auto c = listener.accept();
        c.send_bytes("hello, no challenge here");
        return c;
    });
    EXPECT_EQ(outcome_of([&] { return conn::Client(listener.address(), {.authkey = "the key"}); }).error,
              "AuthenticationError");
    server.get();
}

TEST(Authkey, ChallengesAreFreshEachTime) {
    auto challenge = [] {
        conn::Listener listener({.authkey = "k"});
        auto server = std::async(std::launch::async, [&] { return outcome_of([&] { return listener.accept(); }); });
        auto client = conn::Client(listener.address());
        auto message = client.recv_bytes();
        client.close();
        (void)server.get();
        return message;
    };
    EXPECT_NE(challenge(), challenge());
}

// ---------------------------------------------------------------------------------------------
// The handshake against vectors made with Python's hmac module:
//   key = b"mproc test key"; random = bytes(range(40)); challenge = b"{sha256}" + random
//   hmac.new(key, challenge, 'sha256'), 'md5', 'sha384', 'sha3_256'; and for Python 3.11's
//   20-byte challenge bytes(range(100, 120)): hmac.new(key, it, 'md5').

// A channel that replays scripted messages and records what is sent.
class ScriptedChannel final : public conn::handshake::Channel {
public:
    explicit ScriptedChannel(std::deque<std::vector<std::byte>> incoming) : incoming_(std::move(incoming)) {}
    void send(std::span<const std::byte> message) override { sent.emplace_back(message.begin(), message.end()); }
    std::vector<std::byte> receive(std::size_t maxlength) override {
        if (incoming_.empty()) throw mproc::EOFError("script ended");
        auto next = std::move(incoming_.front());
        incoming_.pop_front();
        if (next.size() > maxlength) throw mproc::OSError("too long", EMSGSIZE);
        return next;
    }
    std::vector<std::vector<std::byte>> sent;

private:
    std::deque<std::vector<std::byte>> incoming_;
};

const std::string vector_key = "mproc test key";
std::span<const std::byte> key_bytes() { return std::as_bytes(std::span(vector_key)); }

std::vector<std::byte> vector_random() {
    std::vector<std::byte> random(40);
    for (std::size_t i = 0; i < random.size(); ++i) random[i] = static_cast<std::byte>(i);
    return random;
}

std::vector<std::byte> concat(std::vector<std::byte> a, std::span<const std::byte> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

const char* const sha256_answer_hex =
    "7b7368613235367d116b2210adc655b1390e33800046b0dc232bb50256f509ee247d22ff757c1bc4";

TEST(Handshake, OurChallengeIsPython312sForm) {
    ScriptedChannel channel({from_hex(sha256_answer_hex)});
    conn::handshake::deliver_challenge(channel, key_bytes(), vector_random());
    ASSERT_EQ(channel.sent.size(), 2u);
    EXPECT_EQ(channel.sent[0], concat(bytes_of("#CHALLENGE#{sha256}"), vector_random()));
    EXPECT_EQ(text_of(channel.sent[1]), "#WELCOME#");
}

TEST(Handshake, OurAnswerToA312ChallengeIsPythonsAnswer) {
    ScriptedChannel channel({concat(bytes_of("#CHALLENGE#{sha256}"), vector_random()), bytes_of("#WELCOME#")});
    conn::handshake::answer_challenge(channel, key_bytes());
    ASSERT_EQ(channel.sent.size(), 1u);
    EXPECT_EQ(channel.sent[0], from_hex(sha256_answer_hex));
}

TEST(Handshake, OurAnswerToALegacyChallengeIsABareHmacMd5) {
    std::vector<std::byte> legacy(20);
    for (std::size_t i = 0; i < legacy.size(); ++i) legacy[i] = static_cast<std::byte>(100 + i);
    ScriptedChannel channel({concat(bytes_of("#CHALLENGE#"), legacy), bytes_of("#WELCOME#")});
    conn::handshake::answer_challenge(channel, key_bytes());
    ASSERT_EQ(channel.sent.size(), 1u);
    EXPECT_EQ(channel.sent[0], from_hex("87b056294d90b022db8dd58bb5848406"));
}

TEST(Handshake, AnswersInEveryDigestPythonAllowsAreAccepted) {
    const std::vector<std::vector<std::byte>> answers = {
        from_hex("a671b2a5529ecb8a219a037f220e1651"),  // a Python 3.11 client: bare HMAC-MD5
        concat(bytes_of("{sha384}"), from_hex("0a52e2ccd39cd3d7841e4e087c2fbbcf27aa7efd75e00c0df608b008e322998f"
                                              "2831bc732b15c6d5cede325c88a3fd2f")),
        concat(bytes_of("{sha3_256}"), from_hex("4944a4b95548b7cd8ca6e137fd5982080797786369d7959e49a9b341ef1e0a11")),
        concat(bytes_of("{md5}"), from_hex("a671b2a5529ecb8a219a037f220e1651")),
    };
    for (const auto& answer : answers) {
        ScriptedChannel channel({answer});
        EXPECT_NO_THROW(conn::handshake::deliver_challenge(channel, key_bytes(), vector_random()));
        ASSERT_EQ(channel.sent.size(), 2u);
        EXPECT_EQ(text_of(channel.sent[1]), "#WELCOME#");
    }
}

TEST(Handshake, MalformedOrWrongAnswersAreRefusedWithFailure) {
    auto good = from_hex(sha256_answer_hex);
    auto flipped = good;
    flipped.back() ^= std::byte{1};
    const std::vector<std::vector<std::byte>> answers = {
        flipped,                                                       // wrong MAC
        std::vector<std::byte>(20, std::byte{1}),                      // legacy length 20: MD5 of 16 expected
        concat(bytes_of("{sha1}"), std::vector<std::byte>(20)),        // a digest Python does not allow
        concat(bytes_of("{sha256}"), std::vector<std::byte>(31)),      // a MAC of the wrong length
        bytes_of("sha256}0123456789012345678901234567890123456789"),  // no prefix
        bytes_of("{sha256"),                                          // no closing brace
        bytes_of("{}0123456789012345678901"),                          // empty name
        {},                                                            // nothing
    };
    for (const auto& answer : answers) {
        ScriptedChannel channel({answer});
        EXPECT_THROW(conn::handshake::deliver_challenge(channel, key_bytes(), vector_random()),
                     mproc::AuthenticationError);
        ASSERT_EQ(channel.sent.size(), 2u);
        EXPECT_EQ(text_of(channel.sent[1]), "#FAILURE#");
    }
}

TEST(Handshake, MalformedChallengesAndVerdictsAreAuthenticationError) {
    const auto challenge = concat(bytes_of("#CHALLENGE#{sha256}"), vector_random());
    const std::vector<std::deque<std::vector<std::byte>>> scripts = {
        {bytes_of("#CHALLENGX#{sha256}0123456789012345678901234567890123456789")},  // not a challenge
        {concat(bytes_of("#CHALLENGE#"), std::vector<std::byte>(19))},                 // too short
        {concat(bytes_of("#CHALLENGE#{sha1}"), vector_random())},                     // digest not allowed
        {concat(bytes_of("#CHALLENGE#"), std::vector<std::byte>(25))},                 // no prefix
        {challenge, bytes_of("#FAILURE#")},                                            // refused
        {challenge, bytes_of("#WELCOME")},                                             // garbled verdict
        {challenge, {}},                                                               // empty verdict
    };
    for (const auto& script : scripts) {
        ScriptedChannel channel(script);
        EXPECT_THROW(conn::handshake::answer_challenge(channel, key_bytes()), mproc::AuthenticationError);
    }
}

// Every step of the handshake over a real socket, the peer sending a truncated message, one over
// the 256-byte limit, garbage, or closing: a typed mproc error each time, never a hang (the peer
// shuts its sending side once its script is written, so every read ends, while our own sends
// still go through).
struct BrokenStep {
    const char* name;
    std::vector<std::vector<std::byte>> peer_writes;  // raw bytes, written before the peer closes
    std::string expected;                              // Outcome::error
};

std::string os_error(int code) { return "OSError " + std::to_string(code); }

std::vector<std::byte> truncated_frame() {
    auto frame = framed(std::string(40, 'x'));
    frame.resize(20);
    return frame;
}

void run_broken_steps(bool server_side, const std::vector<BrokenStep>& steps) {
    for (const auto& step : steps) {
        SCOPED_TRACE(step.name);
        auto [ours, peer] = conn::Pipe();
        for (const auto& bytes : step.peer_writes) write_raw(peer, bytes);
        ASSERT_EQ(::shutdown(peer.fileno(), SHUT_WR), 0);
        const auto outcome = outcome_of([&, &ours = ours] {
            struct Over final : conn::handshake::Channel {
                conn::Connection& c;
                explicit Over(conn::Connection& connection) : c(connection) {}
                void send(std::span<const std::byte> m) override { c.send_bytes(m); }
                std::vector<std::byte> receive(std::size_t max) override { return c.recv_bytes(max); }
            } channel(ours);
            if (server_side)
                conn::handshake::deliver_challenge(channel, key_bytes());
            else
                conn::handshake::answer_challenge(channel, key_bytes());
            return ours;
        });
        EXPECT_EQ(outcome.error, step.expected);
    }
}

TEST(Handshake, BrokenAnswersAtTheServerAreTypedErrors) {
    run_broken_steps(true, {
        {"no answer", {}, "EOFError"},
        {"truncated header", {from_hex("0000")}, os_error(ECONNRESET)},
        {"truncated answer", {truncated_frame()}, os_error(ECONNRESET)},
        {"oversized answer", {framed(std::string(257, 'x'))}, os_error(EMSGSIZE)},
        {"huge length", {from_hex("ffffffffffffffffffffffff")}, os_error(EMSGSIZE)},
        {"negative length", {from_hex("80000000")}, os_error(EMSGSIZE)},
        {"garbage answer", {framed("garbage")}, "AuthenticationError"},
    });
}

TEST(Handshake, BrokenChallengesAndVerdictsAtTheClientAreTypedErrors) {
    const auto challenge = framed(concat(bytes_of("#CHALLENGE#"), std::vector<std::byte>(20)));
    run_broken_steps(false, {
        {"no challenge", {}, "EOFError"},
        {"truncated challenge", {truncated_frame()}, os_error(ECONNRESET)},
        {"oversized challenge", {framed(std::string(300, '#'))}, os_error(EMSGSIZE)},
        {"garbage challenge", {framed("garbage")}, "AuthenticationError"},
        {"no verdict", {challenge}, "EOFError"},
        {"truncated verdict", {challenge, from_hex("00000009") , bytes_of("#WEL")}, os_error(ECONNRESET)},
        {"oversized verdict", {challenge, framed(std::string(1000, 'W'))}, os_error(EMSGSIZE)},
        {"garbage verdict", {challenge, framed("#WELCOME!")}, "AuthenticationError"},
    });
}

// ---------------------------------------------------------------------------------------------
// wait() (Python's _TestWait) and Process::sentinel.

TEST(Wait, ReturnsTheReadyConnectionsInTheirOrder) {
    auto [a1, b1] = conn::Pipe();
    auto [a2, b2] = conn::Pipe();
    auto [a3, b3] = conn::Pipe();
    EXPECT_TRUE(conn::wait({&b1, &b2, &b3}, 0s).empty());
    EXPECT_TRUE(conn::wait({&b1, &b2, &b3}, 20ms).empty());
    a3.send_bytes("3");
    a1.send_bytes("1");
    const auto ready = conn::wait({&b1, &b2, &b3}, 10s);
    ASSERT_EQ(ready.size(), 2u);
    EXPECT_EQ(ready[0], &b1);
    EXPECT_EQ(ready[1], &b3);
    EXPECT_EQ(ready[0].connection(), &b1);
    (void)b1.recv_bytes();
    (void)b3.recv_bytes();
    a2.close();  // the end of a connection is ready too
    const auto closed = conn::wait({&b1, &b2, &b3});
    ASSERT_EQ(closed.size(), 1u);
    EXPECT_EQ(closed[0], &b2);
}

TEST(Wait, WaitsForAMessageFromAnotherThread) {
    auto [a, b] = conn::Pipe();
    std::thread sender([&] { a.send_bytes("late"); });
    const auto ready = conn::wait({&b});
    sender.join();
    ASSERT_EQ(ready.size(), 1u);
    EXPECT_EQ(text_of(b.recv_bytes()), "late");
}

TEST(Wait, AClosedConnectionOrABadDescriptorIsOSError) {
    auto [a, b] = conn::Pipe();
    EXPECT_EQ(os_error_code([&] { (void)conn::wait({&a}, 0s); }), 0);
    const conn::Waitable listed(&a);
    a.close();
    EXPECT_EQ(os_error_code([&] { (void)conn::wait({listed}, 0s); }), EBADF);
    EXPECT_EQ(os_error_code([&] { (void)conn::wait({&a}, 0s); }), EBADF);
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    const int stale = fds[0];
    ::close(fds[0]);
    ::close(fds[1]);
    EXPECT_EQ(os_error_code([&] { (void)conn::wait({stale}, 0s); }), EBADF);
}

TEST(Wait, WatchesProcessSentinelsAndRawDescriptorsWithConnections) {
    mproc::test::LeakCheck leaks;
    {
        auto [a, b] = conn::Pipe();
        auto [go_parent, go_child] = conn::Pipe();
        // The child ends when told to: its sentinel becomes ready then, not before.
        mproc::Process child([](conn::Connection go) { (void)go.recv_bytes(); }, go_child);
        EXPECT_THROW((void)child.sentinel(), mproc::StateError);
        child.start();
        go_child.close();
        int fds[2];
        ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        const std::vector<conn::Waitable> objects{&b, child.sentinel(), fds[0]};
        EXPECT_TRUE(conn::wait(objects, 0s).empty());
        go_parent.send_bytes("end");
        const auto ended = conn::wait(objects, 60s);
        ASSERT_EQ(ended.size(), 1u);
        EXPECT_EQ(ended[0], conn::Waitable(child.sentinel()));
        ASSERT_EQ(::write(fds[1], "x", 1), 1);
        a.send_bytes("m");
        const auto all = conn::wait(objects, 60s);
        EXPECT_EQ(all, objects);
        child.join();
        // Still ready once reaped, as Python's sentinel.
        EXPECT_EQ(conn::wait({child.sentinel()}, 0s).size(), 1u);
        ::close(fds[0]);
        ::close(fds[1]);
    }
}

// Python's wait([q._reader, conn, p.sentinel]): mproc's typed Pipe ends and Queues have no
// descriptor; wait() watches them beside the ones that do.
TEST(Wait, TypedPipeEndsAndQueuesAreReadyWhenAReadWouldNotBlock) {
    mproc::Queue<int> queue;
    auto [sender, receiver] = mproc::Pipe<std::string>();
    auto [a, b] = conn::Pipe();
    const std::vector<conn::Waitable> objects{&queue, &receiver, &b};
    EXPECT_TRUE(conn::wait(objects, 0s).empty());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(conn::wait(objects, 50ms).empty());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms) << "a timeout on a mix waits it out";

    queue.put(1);
    EXPECT_EQ(conn::wait(objects, 10s), (std::vector<conn::Waitable>{&queue}));
    EXPECT_EQ(queue.get(), 1);
    sender.send("item");
    a.send_bytes("bytes");
    EXPECT_EQ(conn::wait(objects, 10s), (std::vector<conn::Waitable>{&receiver, &b}));
    EXPECT_EQ(receiver.recv(), "item");
    (void)b.recv_bytes();
    EXPECT_TRUE(conn::wait(objects, 0s).empty());
    sender.close();  // recv() would throw EOFError: ready, as Python's
    EXPECT_EQ(conn::wait(objects, 10s), (std::vector<conn::Waitable>{&receiver}));
}

TEST(Wait, AnItemPutByAnotherProcessWakesAWaitOnAQueue) {
    mproc::Queue<int> queue;
    auto [go, child_go] = conn::Pipe();
    mproc::Process child(
        [](mproc::Queue<int> q, conn::Connection told) {
            (void)told.recv_bytes();
            q.put(7);
        },
        queue, child_go);
    child.start();
    child_go.close();
    mproc::SimpleQueue<int> simple;
    mproc::JoinableQueue<int> joinable;
    const std::vector<conn::Waitable> objects{&simple, &joinable, &queue, child.sentinel()};
    EXPECT_TRUE(conn::wait(objects, 0s).empty());
    std::thread telling([&] { go.send_bytes("put"); });
    const auto ready = conn::wait(objects, 60s);  // asleep on the queue's futex, woken by the put
    telling.join();
    ASSERT_FALSE(ready.empty());
    EXPECT_EQ(ready[0], conn::Waitable(&queue)) << "the item arrives before the child ends";
    EXPECT_EQ(queue.get(), 7);
    child.join();
    EXPECT_EQ(conn::wait(objects, 60s), (std::vector<conn::Waitable>{child.sentinel()}));
    simple.put(1);
    joinable.put(2);
    EXPECT_EQ(conn::wait(objects, 0s), (std::vector<conn::Waitable>{&simple, &joinable, child.sentinel()}));
}

TEST(Wait, AClosedQueueOrASendOnlyPipeEndIsStateError) {
    mproc::Queue<int> queue;
    queue.close();
    EXPECT_THROW((void)conn::Waitable(&queue), mproc::StateError);
    auto [reader, writer] = mproc::Pipe<int>(/*duplex=*/false);
    EXPECT_THROW((void)conn::Waitable(&writer), mproc::StateError);
    reader.close();
    EXPECT_THROW((void)conn::Waitable(&reader), mproc::StateError);
}

}  // namespace
