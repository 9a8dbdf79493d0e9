// Must not compile: a capture by value cannot be told from a capture by reference, so every lambda
// with captures is refused; the error shows the fix: mproc::partial.
// Expected diagnostic: Bind the values with mproc::partial(f, args...)
#include <mproc/pool.hpp>

#include <vector>

int main() {
    const int offset = 10;
    mproc::Pool pool(2);
    const auto shifted = pool.map([offset](int x) { return x + offset; }, std::vector{1, 2, 3});
    return shifted[0];
}
