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
//   wait        wait() on the receiving ends of 100 Pipe()s when one of them has a message, and a
//               round in which each of the 100 in turn gets a message, is returned by wait() and
//               is read
// Each is reported as the median of its samples and as the first (cold) sample; "ratio" is how
// many times faster mproc is (target: 10x).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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
    const auto add_rows = [&](const std::string& name, const std::string& key, const Samples& samples) {
        rows.push_back({name, "us", samples.median_us(), python_value(key + "_us"), true, ">= 10x"});
        rows.push_back({"  first", "us", samples.first_us(), python_value(key + "_first_us"), true, ""});
    };
    for (const bool tcp : {false, true}) {
        const std::string transport = tcp ? "tcp" : "unix";
        const std::string described = tcp ? "TCP loopback" : "Unix socket";
        conn::Listener listener = tcp ? conn::Listener(conn::Address("127.0.0.1", 0), {.authkey = authkey})
                                      : conn::Listener({.authkey = authkey});
        add_rows("Client() + authkey handshake, " + described, "setup_" + transport,
                 setup_times(listener, connections));
        add_rows("8 B send_bytes/recv_bytes round trip, " + described, "round_trip_8_" + transport,
                 round_trip_times(listener, 8, small_round_trips));
        add_rows("64 KiB send_bytes/recv_bytes round trip, " + described, "round_trip_65536_" + transport,
                 round_trip_times(listener, 65536, large_round_trips));
    }
    const WaitTimes waits = wait_times(1000 * scale, 20 * scale);
    add_rows("wait() on 100 Pipes, one ready", "wait_one_ready", waits.one_ready);
    add_rows("round: each of 100 Pipes ready in turn", "wait_round", waits.round);

    std::printf("\nmachine: %u hardware threads\n", std::thread::hardware_concurrency());
    mproc::bench::print_table(rows);
    return 0;
}
