// A program that uses the spawn start method but whose main() does not call mproc::init. Its
// workers run this main() again; mproc must stop them there and report a StartError here,
// instead of hanging or starting processes without end.
#include <cstdio>

#include <mproc/pool.hpp>

int twice(int x) { return 2 * x; }

int main() {
    try {
        mproc::Pool pool(mproc::PoolOptions{.processes = 2, .start_method = mproc::StartMethod::spawn});
        std::printf("no error: %d\n", pool.apply(twice, 21));
    } catch (const mproc::StartError& error) {
        std::printf("StartError: %s\n", error.what());
    }
    return 0;
}
