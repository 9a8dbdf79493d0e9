// SharedMemory: named segments created and attached by name, Python's naming rules and errors,
// and how a segment travels.
#include <mproc/shared_memory.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include <mproc/process.hpp>

#include "support/children.hpp"
#include "support/descriptor.hpp"
#include "support/fd_passing.hpp"
#include "support/leak_check.hpp"

namespace {

using mproc::test::require;

bool exists_in_dev_shm(const std::string& name) { return std::filesystem::exists("/dev/shm/" + name); }

TEST(SharedMemory, CreatedSegmentIsAttachedByNameInAnotherProcess) {
    mproc::test::LeakCheck leaks;
    auto shm = mproc::SharedMemory::create(4096);
    EXPECT_EQ(shm.size(), 4096u);
    EXPECT_TRUE(exists_in_dev_shm(shm.name()));
    std::memcpy(shm.buf().data(), "hello", 5);
    EXPECT_EQ(mproc::test::run_child([](std::string name) {
        mproc::SharedMemory other(name);
        require(other.size() == 4096, "same size");
        require(std::memcmp(other.buf().data(), "hello", 5) == 0, "same bytes");
        std::memcpy(other.buf().data(), "HELLO", 5);
        other.close();
    }, shm.name()), 0);
    EXPECT_EQ(std::memcmp(shm.buf().data(), "HELLO", 5), 0);
    shm.close();
    shm.unlink();
    EXPECT_FALSE(exists_in_dev_shm(shm.name()));
}

TEST(SharedMemory, FreshNamesFollowPythonsScheme) {
    auto shm = mproc::SharedMemory::create(1);
    const std::string name = shm.name();
    EXPECT_EQ(name.size(), 12u) << name;
    EXPECT_EQ(name.rfind("psm_", 0), 0u) << name;
    EXPECT_EQ(name.find_first_not_of("0123456789abcdef", 4), std::string::npos) << name;
    EXPECT_EQ(shm.buf().size(), 1u);
    EXPECT_EQ(shm.buf()[0], std::byte{0});
    shm.unlink();
}

TEST(SharedMemory, CreatingAnExistingNameOrAttachingAMissingOneFailsClearly) {
    mproc::test::LeakCheck leaks;
    const std::string name = "mproc_test_" + std::to_string(::getpid());
    auto shm = mproc::SharedMemory::create(name, 100);
    EXPECT_EQ(shm.name(), name);
    try {
        mproc::SharedMemory::create(name, 100);
        ADD_FAILURE() << "created twice";
    } catch (const mproc::OSError& error) {
        EXPECT_EQ(error.code(), EEXIST);
        EXPECT_NE(std::string(error.what()).find(name), std::string::npos);
    }
    shm.unlink();
    try {
        mproc::SharedMemory attached(name);
        ADD_FAILURE() << "attached to a missing segment";
    } catch (const mproc::OSError& error) {
        EXPECT_EQ(error.code(), ENOENT);
    }
    EXPECT_THROW(shm.unlink(), mproc::OSError);
    // Still mapped here after unlink, as in Python.
    shm.buf()[99] = std::byte{1};
}

TEST(SharedMemory, PythonStyleConstructorAndNames) {
    mproc::test::LeakCheck leaks;
    mproc::SharedMemory created(std::nullopt, true, 64);
    mproc::SharedMemory attached("/" + created.name(), false);  // a leading '/' is accepted
    EXPECT_EQ(attached.name(), created.name());
    EXPECT_EQ(attached.size(), 64u);
    EXPECT_THROW(mproc::SharedMemory::create(0), std::invalid_argument);
    EXPECT_THROW(mproc::SharedMemory::create("a/b", 10), std::invalid_argument);
    EXPECT_THROW(mproc::SharedMemory::create("", 10), std::invalid_argument);
    EXPECT_THROW(mproc::SharedMemory(std::nullopt, false), std::invalid_argument);
    created.unlink();
}

TEST(SharedMemory, CloseReleasesTheMappingOfEveryCopyHere) {
    auto shm = mproc::SharedMemory::create(10);
    auto copy = shm;
    shm.close();
    shm.close();  // idempotent
    EXPECT_TRUE(copy.closed());
    EXPECT_THROW(copy.buf(), mproc::StateError);
    copy.unlink();  // the name can still be removed
}

TEST(SharedMemory, TravelsToAProcessStartedBeforeIt) {
    mproc::test::LeakCheck leaks;
    mproc::test::SocketPair sockets;
    mproc::Process child([](mproc::test::Descriptor socket) {
        auto shm = mproc::test::receive_object<mproc::SharedMemory>(socket);
        shm.buf()[0] = std::byte{42};
    }, mproc::test::Descriptor{sockets.child()});
    child.start();
    auto shm = mproc::SharedMemory::create(10);
    shm.unlink();  // travels as a descriptor: the name is not needed any more
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), shm));
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    EXPECT_EQ(shm.buf()[0], std::byte{42});
}

}  // namespace
