// Why processes: a task that crashes takes down its worker, not the program. The failed item
// is reported with mproc::WorkerCrashed, the worker is replaced, every other item completes.
// A task that runs too long is killed at its deadline.
#include <csignal>
#include <cstdio>
#include <thread>
#include <vector>

#include <mproc/mproc.hpp>

using namespace std::chrono_literals;

// Stands in for a legacy library that crashes on some inputs.
int fragile(int x) {
    if (x == 13) std::raise(SIGSEGV);
    return x * 2;
}

int main() {
    mproc::Pool pool(2);
    int failed = 0, done = 0;
    for (int i = 0; i < 20; ++i) {
        try {
            pool.apply(fragile, i);
            ++done;
        } catch (const mproc::WorkerCrashed& e) {
            ++failed;
            std::printf("item %d: %s\n", i, e.what());
        }
    }
    std::printf("%d items done, %d crashed, pool still has %zu workers\n", done, failed, pool.worker_pids().size());

    try {
        pool.apply(mproc::TaskOptions{.timeout = 200ms}, [] { std::this_thread::sleep_for(1h); });
    } catch (const mproc::TimeoutError& e) {
        std::printf("%s\n", e.what());
    }
    return done == 19 && failed == 1 ? 0 : 1;
}
