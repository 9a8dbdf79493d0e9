// Must not compile: mproc::partial checks the values it binds like any argument; a string_view
// refers to this process's memory.
#include <mproc/partial.hpp>

#include <string_view>

int length(std::string_view text, int extra) { return static_cast<int>(text.size()) + extra; }

int main() {
    std::string_view text = "hello";
    auto bound = mproc::partial(length, text);
    return bound(1);
}
