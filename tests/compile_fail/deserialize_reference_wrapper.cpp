// Must not compile: decoding a std::reference_wrapper would make a reference into another
// process's memory.
#include <mproc/serialize.hpp>

#include <functional>
#include <vector>

int main() {
    std::vector<std::byte> bytes(8);
    auto value = mproc::deserialize<std::reference_wrapper<int>>(bytes);
    return value.get();
}
