// Must not compile: imap refuses a lambda with captures like every other task, with the same fix.
// Expected diagnostic: Bind the values with mproc::partial(f, args...)
#include <mproc/pool.hpp>

#include <vector>

int main() {
    const double scale = 0.5;
    mproc::Pool pool(2);
    double sum = 0;
    for (double x : pool.imap([scale](int x) { return x * scale; }, std::vector{1, 2, 3})) sum += x;
    return static_cast<int>(sum);
}
