// Must not compile: a pointer argument cannot reach a child started by spawn or forkserver, so it
// is refused under every start method, fork included, at compile time.
#include <mproc/process.hpp>

void show(const int*) {}

int main() {
    int value = 42;
    mproc::Process p(show, &value);
    p.start();
    p.join();
}
