// Must not compile: a raw pointer is an address in one process's memory.
#include <mproc/serialize.hpp>

int main() {
    int value = 42;
    int* pointer = &value;
    auto bytes = mproc::serialize(pointer);
    return static_cast<int>(bytes.size());
}
