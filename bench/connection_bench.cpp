// mproc::connection side by side with Python's multiprocessing.connection on the same work in the
// same run (bench/connection_bench.py). Usage:
//     connection_bench [--quick] [--no-python] [--python-script PATH]
//
//   setup       Client(address, authkey): connect and the authkey handshake both ways, timed in
//               the parent while a forked child accepts, over a Unix socket and over TCP on the
//               loopback
//   round trip  send_bytes of an 8 B or a 64 KiB message to a forked child that sends it back
//               (recv_bytes, send_bytes), then recv_bytes of the echo, on a connection made by
//               the same Listener and Client
//   floor       the same round trips with neither library: the bytes of a framed message
//               sent with one send() and taken with recv() calls on a plain socket of the same
//               kind, each end polling with non-blocking recv() calls on a CPU of its own (left
//               out with fewer than 2 CPUs). What the kernel costs alone: no library's round trip
//               over that socket can be faster. Its ratio, Python's round trip of the same
//               size over this one, is the most that any library could reach there: the
//               median's ratio cannot exceed it
//   wait        wait() on the receiving ends of 100 Pipe()s when one of them has a message, and a
//               round in which each of the 100 in turn gets a message, is returned by wait() and
//               is read
// Each is reported as the median of its samples and as the first (cold) sample; "ratio" is how
// many times faster mproc is (target: 10x for the bytes round trips).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

#include "bench_support.hpp"

namespace {

namespace conn = mproc::connection;

const conn::Authkey authkey("connection bench");

// The times of repeated runs of one piece of work, the first run kept apart.
struct Samples {
    std::vector<double> seconds;
    double first_us() const { return seconds.front() * 1e6; }
    double median_us() const { return mproc::bench::median(seconds) * 1e6; }
};

template <class Work>
Samples sample(int count, Work work) {
    Samples samples;
    for (int i = 0; i < count; ++i) samples.seconds.push_back(mproc::bench::seconds_of(work));
    return samples;
}

// Forks a child that runs `body` and leaves with _exit: 0, or 1 if body threw. Returns once the
// child runs, so that a first sample times the first call, not the child's start.
template <class Body>
pid_t fork_child(Body body) {
    int running[2];
    if (::pipe2(running, O_CLOEXEC) != 0) std::abort();
    const pid_t pid = ::fork();
    if (pid < 0) std::abort();
    if (pid > 0) {
        char byte;
        ::close(running[1]);
        if (::read(running[0], &byte, 1) != 1) std::abort();
        ::close(running[0]);
        return pid;
    }
    ::close(running[0]);
    if (::write(running[1], "r", 1) != 1) ::_exit(1);
    ::close(running[1]);
    int status = 0;
    try {
        body();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "connection_bench child: %s\n", e.what());
        status = 1;
    }
    ::_exit(status);
}

void join_child(pid_t pid) {
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "connection_bench: a child failed\n");
        std::exit(1);
    }
}

// Client() in the parent while a child accepts and handshakes: one sample per connection made.
Samples setup_times(conn::Listener& listener, int connections) {
    const pid_t server = fork_child([&] {
        for (int i = 0; i < connections; ++i) (void)listener.accept();
    });
    Samples samples = sample(connections, [&] { conn::Client(listener.address(), {.authkey = authkey}).close(); });
    join_child(server);
    return samples;
}

// Round trips of a `size`-byte message through a child that echoes until the connection ends.
Samples round_trip_times(conn::Listener& listener, std::size_t size, int round_trips) {
    const pid_t echo = fork_child([&] {
        auto connection = conn::Client(listener.address(), {.authkey = authkey});
        try {
            for (;;) connection.send_bytes(connection.recv_bytes());
        } catch (const mproc::EOFError&) {
        }
    });
    auto connection = listener.accept();
    const std::vector<std::byte> message(size, std::byte{7});
    Samples samples = sample(round_trips, [&] {
        connection.send_bytes(message);
        if (connection.recv_bytes().size() != size) std::abort();
    });
    connection.close();
    join_child(echo);
    return samples;
}

// A connected pair of plain stream sockets: a socketpair, or two ends of a loopback TCP
// connection with Nagle's delay off (as Connections over TCP have it).
std::pair<int, int> plain_socket_pair(bool tcp) {
    int ends[2];
    if (!tcp) {
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) std::abort();
        return {ends[0], ends[1]};
    }
    const int listening = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (listening < 0 || ::bind(listening, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listening, 1) != 0 || ::getsockname(listening, reinterpret_cast<sockaddr*>(&address), &length) != 0)
        std::abort();
    ends[0] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (ends[0] < 0 || ::connect(ends[0], reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) std::abort();
    ends[1] = ::accept4(listening, nullptr, nullptr, SOCK_CLOEXEC);
    if (ends[1] < 0) std::abort();
    ::close(listening);
    const int on = 1;
    for (const int end : ends)
        if (::setsockopt(end, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) std::abort();
    return {ends[0], ends[1]};
}

// The kernel's part of a round trip (see "floor" above): one send() and polled recv() calls of a
// frame (a 4-byte length, then `size` bytes) each way.
Samples floor_round_trip_times(bool tcp, std::size_t size, int round_trips) {
    const std::size_t frame = 4 + size;
    const auto receive_frame = [frame](int socket, char* bytes) {
        for (std::size_t got = 0; got < frame;) {
            const ssize_t n = ::recv(socket, bytes + got, frame - got, MSG_DONTWAIT);
            if (n > 0)
                got += static_cast<std::size_t>(n);
            else if (n == 0 || (errno != EAGAIN && errno != EINTR))
                return false;
        }
        return true;
    };
    const auto send_frame = [frame](int socket, const char* bytes) {
        if (::send(socket, bytes, frame, MSG_NOSIGNAL) != static_cast<ssize_t>(frame)) std::abort();
    };
    const auto ends = plain_socket_pair(tcp);
    const int here = ends.first, there = ends.second;
    std::vector<char> bytes(frame);
    const pid_t echo = fork_child([&] {
        ::close(here);
        while (receive_frame(there, bytes.data())) send_frame(there, bytes.data());
    });
    ::close(there);
    const auto length = htonl(static_cast<std::uint32_t>(size));
    std::memcpy(bytes.data(), &length, 4);
    Samples samples = sample(round_trips, [&] {
        send_frame(here, bytes.data());
        if (!receive_frame(here, bytes.data())) std::abort();
    });
    ::close(here);
    join_child(echo);
    return samples;
}

struct WaitTimes {
    Samples one_ready;
    Samples round;
};

// wait() over the receiving ends of 100 Pipe()s: alone when one is ready, and in rounds in which
// each gets a message in turn.
WaitTimes wait_times(int calls, int rounds) {
    constexpr std::size_t pipe_count = 100;
    std::vector<std::pair<conn::Connection, conn::Connection>> pipes;
    std::vector<conn::Waitable> readers;
    for (std::size_t i = 0; i < pipe_count; ++i) pipes.push_back(conn::Pipe());
    for (const auto& pipe : pipes) readers.emplace_back(&pipe.first);

    // Sends to pipe k, waits, checks that wait() returned pipe k alone, reads the message.
    const auto signal_and_wait = [&](std::size_t k, Samples* wait_samples) {
        pipes[k].second.send_bytes("x");
        std::vector<conn::Waitable> ready;
        const double seconds = mproc::bench::seconds_of([&] { ready = conn::wait(readers); });
        if (wait_samples) wait_samples->seconds.push_back(seconds);
        if (ready.size() != 1 || ready[0] != readers[k]) std::abort();
        (void)pipes[k].first.recv_bytes();
    };
    WaitTimes times;
    for (int i = 0; i < calls; ++i) signal_and_wait(static_cast<std::size_t>(i) * 37 % pipe_count, &times.one_ready);
    times.round = sample(rounds, [&] {
        for (std::size_t k = 0; k < pipe_count; ++k) signal_and_wait(k, nullptr);
    });
    return times;
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    const auto options = mproc::bench::parse_options(argc, argv, MPROC_BENCH_DIR "/connection_bench.py");
    if (!options) return 2;
    const int scale = options->quick ? 1 : 5;
    const int connections = 200 * scale;
    const int small_round_trips = 2000 * scale;
    const int large_round_trips = 400 * scale;

    auto python = mproc::bench::run_python_peer(*options, "Python's multiprocessing.connection");
    std::printf("running mproc ...\n");
    std::fflush(stdout);

    std::vector<mproc::bench::Row> rows;
    // A Python number, 0 (not measured) when the peer did not report it.
    const auto python_value = [&](const std::string& key) { return python.count(key) ? python.at(key) : 0.0; };
    // Two rows for `samples`: the median, and the first sample.
    const auto add_rows = [&](const std::string& name, const std::string& key, const Samples& samples,
                              const char* target = "") {
        rows.push_back({name, "us", samples.median_us(), python_value(key + "_us"), true, target});
        rows.push_back({"  first", "us", samples.first_us(), python_value(key + "_first_us"), true, ""});
    };
    // The floor under the round trip just added, against Python's same round trip.
    const auto add_floor_row = [&](bool tcp, std::size_t size, int round_trips) {
        if (mproc::cpu_count() < 2) return;
        rows.push_back({"  floor: plain socket, no library", "us",
                        floor_round_trip_times(tcp, size, round_trips).median_us(),
                        python_value("round_trip_" + std::to_string(size) + (tcp ? "_tcp" : "_unix") + "_us"), true, ""});
    };
    for (const bool tcp : {false, true}) {
        const std::string transport = tcp ? "tcp" : "unix";
        const std::string described = tcp ? "TCP loopback" : "Unix socket";
        conn::Listener listener = tcp ? conn::Listener(conn::Address("127.0.0.1", 0), {.authkey = authkey})
                                      : conn::Listener({.authkey = authkey});
        add_rows("Client() + authkey handshake, " + described, "setup_" + transport,
                 setup_times(listener, connections));
        add_rows("8 B send_bytes/recv_bytes round trip, " + described, "round_trip_8_" + transport,
                 round_trip_times(listener, 8, small_round_trips), ">= 10x");
        add_floor_row(tcp, 8, small_round_trips);
        add_rows("64 KiB send_bytes/recv_bytes round trip, " + described, "round_trip_65536_" + transport,
                 round_trip_times(listener, 65536, large_round_trips), ">= 10x");
        add_floor_row(tcp, 65536, large_round_trips);
    }
    const WaitTimes waits = wait_times(1000 * scale, 20 * scale);
    add_rows("wait() on 100 Pipes, one ready", "wait_one_ready", waits.one_ready);
    add_rows("round: each of 100 Pipes ready in turn", "wait_round", waits.round);

    std::printf("\nmachine: %u hardware threads\n", std::thread::hardware_concurrency());
    mproc::bench::print_table(rows);
    return 0;
}
