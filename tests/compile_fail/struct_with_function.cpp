// Must not compile: a struct holding a std::function refers to code and state of one process.
#include <mproc/serialize.hpp>

#include <functional>

struct Job {
    int id = 0;
    std::function<void()> callback;
};

int main() {
    mproc::Writer out;
    mproc::encode(out, Job{});
}
