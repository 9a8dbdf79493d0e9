// A program that uses an installed (or embedded) mproc: built by tests/install/run_install_test.sh
// through find_package, pkg-config, add_subdirectory and FetchContent, and against the installed
// libmproc-dev package (run_package_test.sh), with -Wall -Wextra -Wpedantic -Werror: mproc's
// public headers must compile warning-free in a user's program, with g++ and with clang++.
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

namespace {

const std::vector<std::string> expected_words{"hello", "", "from", std::string(1000, 'x'), "mproc"};

void check_words(const std::vector<std::string>& words) {
    if (words != expected_words) throw std::runtime_error("the child received the wrong words");
}

int square(int x) { return x * x; }

void count_and_report(mproc::Value<long> counter, mproc::Queue<std::string> queue, int n) {
    for (int i = 0; i < n; ++i) {
        std::lock_guard guard(counter.get_lock());
        counter.value() += 1;
    }
    queue.put("counted");
}

int fail(const char* what) {
    std::fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

}  // namespace

int main() {
    const std::vector<std::byte> bytes = mproc::serialize(expected_words);
    if (mproc::deserialize<std::vector<std::string>>(bytes) != expected_words)
        return fail("serialize/deserialize did not round-trip a std::vector<std::string>");

    mproc::Process process(check_words, expected_words);
    process.start();
    process.join();
    if (process.exitcode() != 0) return fail("the child process did not exit with code 0");

    mproc::Pool pool(2);
    if (pool.map(square, std::vector{1, 2, 3, 4}) != std::vector{1, 4, 9, 16})
        return fail("Pool::map returned the wrong squares");

    mproc::Value<long> counter(0);
    mproc::Queue<std::string> queue;
    std::vector<mproc::Process> counters;
    for (int i = 0; i < 2; ++i) counters.emplace_back(count_and_report, counter, queue, 1000);
    for (auto& p : counters) p.start();
    for (std::size_t i = 0; i < counters.size(); ++i)
        if (queue.get() != "counted") return fail("a Queue carried the wrong message");
    for (auto& p : counters) p.join();
    if (counter.value() != 2000) return fail("a shared Value lost increments");

    // mproc::connection's handshake links OpenSSL's libcrypto: the consumer must get it too.
    mproc::connection::Listener listener({.authkey = "consumer"});
    std::thread server([&listener] { listener.accept().send_bytes("authenticated"); });
    const auto message = mproc::connection::Client(listener.address(), {.authkey = "consumer"}).recv_bytes();
    server.join();
    if (message.size() != 13) return fail("a Listener and Client did not exchange a message");

    std::puts("consumer: ok");
    return 0;
}
