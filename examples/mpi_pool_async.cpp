// pool_async.cpp on MPI: the same program, apart from the include and the Pool line.
//
//   mpirun -n 3 ./mpi_pool_async      # 2 worker ranks x 2 local processes
//
// The "Using a pool of workers" example of Python's documentation: apply_async, imap,
// imap_unordered, get with a timeout, and where the work ran.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ranges>
#include <thread>

#include <mproc/mproc.hpp>
#include <mproc/mpi.hpp>

using namespace std::chrono_literals;

int f(int x) { return x * x; }

int main() {
    mproc::mpi::Pool pool({.local_processes = 2});  // 2 worker processes on each worker rank

    // print "[0, 1, 4,..., 81]"
    for (int y : pool.map(f, std::views::iota(0, 10))) std::printf("%d ", y);
    std::printf("\n");

    // print same numbers in arbitrary order
    for (int y : pool.imap_unordered(f, std::views::iota(0, 10))) std::printf("%d ", y);
    std::printf("\n");

    // evaluate "f(20)" asynchronously
    auto res = pool.apply_async(f, 20);  // runs in *only* one process
    std::printf("%d\n", res.get(1s));    // prints "400"

    // evaluate "getpid()" asynchronously
    auto pid = pool.apply_async([] { return static_cast<int>(::getpid()); });
    std::printf("worker pid %d, ours %d\n", pid.get(1s), static_cast<int>(::getpid()));

    // launching multiple evaluations asynchronously *may* use more processes
    std::vector<mproc::AsyncResult<int>> results;
    for (int i = 0; i < 4; ++i) results.push_back(pool.apply_async([] { return static_cast<int>(::getpid()); }));
    for (auto& r : results) std::printf("%d ", r.get(1s));
    std::printf("\n");

    // make a single worker sleep for 10 seconds
    auto sleepy = pool.apply_async([] { std::this_thread::sleep_for(10s); });
    try {
        sleepy.get(1s);
    } catch (const mproc::TimeoutError&) {
        std::printf("We lacked patience and got a mproc::TimeoutError\n");
    }
    std::printf("For the moment, the pool remains available for more work\n");
    // Unlike Python's `with Pool()`, leaving the scope waits for the sleeping task: nothing
    // submitted is silently dropped. terminate() is the way to give up on it.
    pool.terminate();
}
