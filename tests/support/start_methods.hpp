// The test binaries run once per start method (MPROC_START_METHOD, see tests/CMakeLists.txt).
// Tests that hand a child raw descriptor numbers or rely on memory it inherits test what fork
// gives; under spawn and forkserver they are skipped with this reason, and start_method_test.cpp
// covers the same behaviour with shared objects, which every method can send.
#pragma once

#include <gtest/gtest.h>

#include <mproc/start_method.hpp>

#define MPROC_TEST_REQUIRES_FORK()                                                                  \
    do {                                                                                            \
        if (mproc::get_start_method() != mproc::StartMethod::fork)                                  \
            GTEST_SKIP() << "relies on what a forked child inherits (raw descriptors, memory)";    \
    } while (false)
