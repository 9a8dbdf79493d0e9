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

// A process that exits holding a lock is reported (OwnerDied) only if the lock's memory is still
// mapped in it when it dies: the kernel marks the robust mutexes it can reach. A forked child
// keeps its parent's mapping to the end; one that received the lock as an argument unmaps it
// when the argument is destroyed, before it exits.
#define MPROC_TEST_REQUIRES_INHERITED_MAPPING()                                                     \
    do {                                                                                            \
        if (mproc::get_start_method() != mproc::StartMethod::fork)                                  \
            GTEST_SKIP() << "the child unmaps the lock before it exits; only fork keeps it mapped"; \
    } while (false)

// ThreadSanitizer cannot follow a child forked from a process that runs threads once the child
// starts threads of its own: it stops the child ("starting new threads after multi-threaded fork
// is not supported"). Tests that make such a child run under spawn and forkserver there.
#if defined(__SANITIZE_THREAD__)
#define MPROC_TEST_SKIP_THREADED_CHILD_OF_THREADED_FORK_UNDER_TSAN()                                \
    do {                                                                                            \
        if (mproc::get_start_method() == mproc::StartMethod::fork)                                  \
            GTEST_SKIP() << "ThreadSanitizer stops a forked child of a threaded process that "      \
                            "starts threads; covered under spawn and forkserver";                   \
    } while (false)
#else
#define MPROC_TEST_SKIP_THREADED_CHILD_OF_THREADED_FORK_UNDER_TSAN() \
    do {                                                            \
    } while (false)
#endif
