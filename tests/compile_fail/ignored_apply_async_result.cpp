// Must not compile under -Werror: the AsyncResult of apply_async is where the task's result and
// its failure show, so dropping it is a mistake the compiler reports ([[nodiscard]]).
// Compile flags: -Werror
// Expected diagnostic: ignoring return value
#include <mproc/pool.hpp>

int square(int x) { return x * x; }

int main() {
    mproc::Pool pool(2);
    pool.apply_async(square, 3);
}
