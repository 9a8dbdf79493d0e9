// Must not compile: a std::string owns memory in one process; a SharedDict key must be inline.
// Expected diagnostic: use mproc::FixedString<N> for strings
#include <mproc/shared_dict.hpp>

#include <string>

int main() {
    mproc::SharedDict<std::string, int> counts(10);
    return static_cast<int>(counts.size());
}
