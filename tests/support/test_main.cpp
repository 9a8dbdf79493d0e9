// GoogleTest's main, plus a hook for tests that re-execute the test binary as a worker
// (see tests/support/reexec.hpp).
#include <gtest/gtest.h>

#include "support/reexec.hpp"

int main(int argc, char** argv) {
    if (int code = mproc::test::run_reexec_role(argc, argv); code >= 0) return code;
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
