// Must not compile: a lambda capturing by reference would send the address of `data`, which means
// nothing (or something stale) in the worker. The error shows the fix: mproc::partial.
// Expected diagnostic: Bind the values with mproc::partial(f, args...)
#include <mproc/pool.hpp>

#include <vector>

int main() {
    std::vector<int> data{1, 2, 3};
    mproc::Pool pool(2);
    return static_cast<int>(pool.apply([&data] { return data.size(); }));
}
