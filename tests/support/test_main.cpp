// GoogleTest's main, with mproc::init first, plus a hook for tests that re-execute the test binary as a worker
// (see tests/support/reexec.hpp).
#include <csignal>

#include <gtest/gtest.h>

#include <mproc/init.hpp>

#include "support/reexec.hpp"

int main(int argc, char** argv) {
    // Children started by the spawn start method turn into workers here. Under
    // MPROC_START_METHOD=forkserver this also starts the fork server, before any test runs.
    mproc::init(argc, argv);
    // A test writing to a child that has already exited must see EPIPE, not die.
    std::signal(SIGPIPE, SIG_IGN);
    if (int code = mproc::test::run_reexec_role(argc, argv); code >= 0) return code;
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
