// How an mproc::mpi program ends, one MPI job per mode (see CMakeLists.txt):
//   normal          pools used and finished, one still alive (static) when main returns
//   without_init    no mproc::init: worker ranks divert in the Pool constructor
//   exit_call       rank 0 calls exit(3) while a pool is alive
//   throw           rank 0 dies of an uncaught exception
//   rank_dies       a task kills the worker rank running it
//   without_mpirun  run directly: mproc::mpi::Pool is a local pool
//   two_hosts       under two_hosts.sh: tasks run on both "hosts" (network namespaces)
// Prints "<mode>: ok" when rank 0 got the expected results; exits non-zero otherwise.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>
#include <mproc/mpi.hpp>

namespace {

int square(int x) { return x * x; }

bool squares_ok(mproc::Pool& pool) {
    const auto squares = pool.map(square, std::views::iota(0, 100));
    for (int i = 0; i < 100; ++i)
        if (squares[static_cast<std::size_t>(i)] != i * i) return false;
    return pool.apply(square, 9) == 81;
}

// Which network namespace (in two_hosts.sh: which host) the task ran in.
std::string network_namespace(int) {
    char link[128] = {};
    if (::readlink("/proc/self/ns/net", link, sizeof link - 1) < 0) return "unknown";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // spread the tasks over both ranks
    return link;
}

int fail(const std::string& why) {
    std::fprintf(stderr, "mpi_exit_test: %s\n", why.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode != "without_init") mproc::init(argc, argv);

    if (mode == "normal") {
        {
            mproc::mpi::Pool pool;
            if (pool.ranks() != 2 || !squares_ok(pool)) return fail("wrong results");
        }
        // Still alive when main returns: finished by its destructor, before MPI is finalized.
        static mproc::mpi::Pool left_alive;
        if (!squares_ok(left_alive)) return fail("wrong results from the second pool");
    } else if (mode == "without_init") {
        // Runs on every rank: the worker ranks have not diverted yet.
        if (!mproc::mpi::launched()) return fail("not launched by mpirun");
        mproc::mpi::Pool pool;  // worker ranks serve here and never return
        if (mproc::mpi::rank() != 0) return fail("a worker rank returned from the Pool constructor");
        if (pool.ranks() != 2 || !squares_ok(pool)) return fail("wrong results");
    } else if (mode == "exit_call") {
        mproc::mpi::Pool pool;
        if (!squares_ok(pool)) return fail("wrong results");
        auto pending = pool.apply_async(square, 3);
        std::printf("%s: ok\n", mode.c_str());
        std::fflush(stdout);
        std::exit(3);  // no destructors: the pool is finished at exit
    } else if (mode == "throw") {
        mproc::mpi::Pool pool;
        if (!squares_ok(pool)) return fail("wrong results");
        throw std::logic_error("rank 0 gives up");
    } else if (mode == "rank_dies") {
        mproc::mpi::Pool pool;
        if (!squares_ok(pool)) return fail("wrong results");
        pool.apply([] { std::raise(SIGKILL); });
        return fail("the job went on after a rank died");
    } else if (mode == "without_mpirun") {
        if (mproc::mpi::launched()) return fail("run this mode without mpirun");
        mproc::mpi::Pool pool({.local_processes = 2});
        if (pool.ranks() != 0 || pool.processes() != 2) return fail("not the local fallback");
        const int worker = pool.apply([] { return static_cast<int>(::getpid()); });
        if (worker == static_cast<int>(::getpid())) return fail("the task ran in the main process");
        if (!squares_ok(pool)) return fail("wrong results");
    } else if (mode == "two_hosts") {
        mproc::mpi::Pool pool;
        if (pool.ranks() != 2 || !squares_ok(pool)) return fail("wrong results");
        const auto where = pool.map(network_namespace, std::views::iota(0, 40), {.chunksize = 1});
        const std::set<std::string> hosts(where.begin(), where.end());
        if (hosts.size() != 2) return fail("the tasks ran on " + std::to_string(hosts.size()) + " host(s), not 2");
        if (!hosts.contains(network_namespace(0))) return fail("no task ran on rank 0's host");
    } else {
        return fail("unknown mode '" + mode + "'");
    }
    std::printf("%s: ok\n", mode.c_str());
    return 0;
}
