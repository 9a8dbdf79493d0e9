// GoogleTest's main, plus a hook for tests that re-execute the test binary as a worker
// (see tests/support/reexec.hpp).
#include <csignal>

#include <gtest/gtest.h>

#include "support/reexec.hpp"

int main(int argc, char** argv) {
    // A test writing to a child that has already exited must see EPIPE, not die.
    std::signal(SIGPIPE, SIG_IGN);
    if (int code = mproc::test::run_reexec_role(argc, argv); code >= 0) return code;
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
