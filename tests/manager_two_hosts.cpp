// A remote manager used from another host: CPython's _TestRemoteManager, across two network
// namespaces joined by a virtual link (manager_two_hosts.sh sets them up), so that the server and
// its clients share no loopback, no file system names and no abstract sockets, only TCP.
//
//   manager_two_hosts serve PORT KEY               on host A: serves on 0.0.0.0:PORT until killed,
//                                                   with 10 items in the queue named "results"
//   manager_two_hosts use HOST PORT KEY SERVER_PID  on host B: the checks below, then kills the
//                                                   server and checks that a proxy call fails
// Exits 0 when every check held; prints what failed otherwise.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <mproc/manager.hpp>
#include <mproc/mproc.hpp>

#include "support/children.hpp"

namespace {

using namespace std::chrono_literals;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "manager_two_hosts: %s\n", what.c_str());
    std::exit(1);
}

void check(bool holds, const std::string& what) {
    if (!holds) fail(what);
}

int serve(int port, const std::string& key) {
    mproc::ManagerOptions options;
    options.address = mproc::connection::Address("0.0.0.0", static_cast<std::uint16_t>(port));
    options.authkey = key;
    mproc::Manager manager(options);
    // What the other host takes: Python's test registers get_queue for this.
    auto results = manager.named("results").Queue<int>();
    for (int i = 0; i < 10; ++i) results.put(i * i);
    std::printf("serving\n");
    std::fflush(stdout);
    for (;;) std::this_thread::sleep_for(1h);
}

// Runs in a process of its own on host B, given the proxies.
void produce(mproc::QueueProxy<int> queue, mproc::DictProxy<std::string, int> counts) {
    for (int i = 0; i < 100; ++i) queue.put(i);
    counts.set("child", 1);
}

void die_holding(mproc::LockProxy lock) {
    if (lock.acquire()) std::_Exit(0);  // the manager releases it once this connection drops
    std::_Exit(2);
}

int use(const std::string& host, int port, const std::string& key, int server_pid) {
    const mproc::connection::Address address(host, static_cast<std::uint16_t>(port));
    // The server may still be starting on the other host.
    std::optional<mproc::Manager> remote;
    for (int attempt = 0; !remote; ++attempt) {
        try {
            remote.emplace(mproc::Manager::connect(address, key));
        } catch (const mproc::EOFError&) {
            if (attempt == 600) fail("the manager on the other host cannot be reached");
            std::this_thread::sleep_for(50ms);
        }
    }
    try {
        (void)mproc::Manager::connect(address, key + " but wrong");
        fail("a wrong authkey was accepted");
    } catch (const mproc::AuthenticationError&) {
    }

    auto results = remote->named("results").Queue<int>();
    for (int i = 0; i < 10; ++i) check(results.get(true, 60s) == i * i, "the other host's items, in order");

    auto counts = remote->dict<std::string, int>();
    counts.set("here", 1);
    check(counts.at("here") == 1, "a dict round trip");
    // Proxies passed to a process of this host reach the manager on the other one.
    auto queue = remote->Queue<int>();
    check(mproc::test::run_child(produce, queue, counts) == 0, "the producer process failed");
    for (int i = 0; i < 100; ++i) check(queue.get(true, 60s) == i, "items arrive in order");
    check(counts.size() == 2 && counts.at("child") == 1, "the child's dict update");
    // A client that dies holding a manager Lock leaves it released.
    auto lock = remote->Lock();
    check(mproc::test::run_child(die_holding, lock) == 0, "the lock holder could not take the lock");
    check(lock.acquire(true, 60s), "a lock whose holder died stays taken");
    lock.release();

    // The manager's owner is killed on its host; the server process follows it. Proxy calls
    // then fail, they do not hang.
    check(::kill(server_pid, SIGKILL) == 0, "cannot kill the server");
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
        try {
            (void)counts.at("here");
        } catch (const mproc::EOFError&) {
            return 0;
        }
        check(std::chrono::steady_clock::now() < deadline, "the manager outlived its killed owner");
        std::this_thread::sleep_for(10ms);
    }
}

}  // namespace

int main(int argc, char** argv) {
    mproc::init(argc, argv);
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "serve" && argc == 4) return serve(std::atoi(argv[2]), argv[3]);
    if (mode == "use" && argc == 6) return use(argv[2], std::atoi(argv[3]), argv[4], std::atoi(argv[5]));
    std::fprintf(stderr, "usage: manager_two_hosts serve PORT KEY | use HOST PORT KEY SERVER_PID\n");
    return 2;
}
