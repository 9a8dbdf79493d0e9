// A program that uses an installed (or embedded) mproc: built by tests/install/run_install_test.sh
// through find_package, pkg-config, add_subdirectory and FetchContent.
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <mproc/mproc.hpp>

namespace {

const std::vector<std::string> expected_words{"hello", "", "from", std::string(1000, 'x'), "mproc"};

void check_words(const std::vector<std::string>& words) {
    if (words != expected_words) throw std::runtime_error("the child received the wrong words");
}

int fail(const char* what) {
    std::fprintf(stderr, "consumer: %s\n", what);
    return 1;
}

}  // namespace

int main() {
    const std::vector<std::byte> bytes = mproc::serialize(expected_words);
    if (mproc::deserialize<std::vector<std::string>>(bytes) != expected_words)
        return fail("serialize/deserialize did not round-trip a std::vector<std::string>");

    mproc::Process process(check_words, expected_words);
    process.start();
    process.join();
    if (process.exitcode() != 0) return fail("the child process did not exit with code 0");

    std::puts("consumer: ok");
    return 0;
}
