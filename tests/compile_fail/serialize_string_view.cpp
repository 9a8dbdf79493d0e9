// Must not compile: a std::string_view points into memory it does not own.
#include <mproc/serialize.hpp>

#include <string_view>

int main() {
    std::string_view text = "hello";
    auto bytes = mproc::serialize(text);
    return static_cast<int>(bytes.size());
}
