// Must not compile: a Process target with captures is refused under every start method (it would
// compile under fork and fail under spawn otherwise); the error shows the fix: mproc::partial.
// Expected diagnostic: Bind the values with mproc::partial(f, args...)
#include <mproc/process.hpp>

#include <cstdio>
#include <string>

int main() {
    std::string name = "bob";
    mproc::Process p([name] { std::puts(name.c_str()); });
    p.start();
    p.join();
}
