// SharedMemory: named segments created and attached by name, Python's naming rules and errors,
// how a segment travels, and the resource tracker that removes what a program left behind.
#include <mproc/shared_memory.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/process.hpp>

#include "resource_tracker.hpp"
#include "support/children.hpp"
#include "support/descriptor.hpp"
#include "support/fd_passing.hpp"
#include "support/leak_check.hpp"
#include "support/reexec.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using mproc::test::require;

bool exists_in_dev_shm(const std::string& name) { return std::filesystem::exists("/dev/shm/" + name); }

// The tracker starts with the first tracked segment and holds a descriptor of this process from
// then on: started before any test, it is not taken for a descriptor a test leaked.
class TrackerStartedFirst : public ::testing::Environment {
    void SetUp() override { mproc::detail::ensure_resource_tracker(); }
};
[[maybe_unused]] const auto* const tracker_started_first = ::testing::AddGlobalTestEnvironment(new TrackerStartedFirst);

// ---------------------------------------------------------------------------------------------
// Programs of their own (this binary run again in a role, see support/reexec.hpp), each with its
// own tracker, since this test program's tracker only ends with it.

constexpr const char* segment_variable = "MPROC_TEST_SEGMENT";

struct ProgramRun {
    bool finished = false;  // it and every process holding its stderr ended within the limit
    int exitcode = -1000;   // as Python reports it
    std::string output;     // stdout and stderr, the tracker's warnings included
};

// Runs the role with MPROC_TEST_SEGMENT=segment (and this environment: the start method too),
// and reads its output until every process that holds it is gone: the program, its children,
// and its resource tracker, which exits once it has cleaned up.
ProgramRun run_program(const std::string& role, const std::string& segment, std::chrono::seconds limit = 60s) {
    const std::string role_argument = "--role=" + role;
    const std::string variable = std::string(segment_variable) + "=" + segment;
    std::vector<char*> argv{const_cast<char*>("self"), const_cast<char*>(role_argument.c_str()), nullptr};
    std::vector<char*> envp;
    for (char** entry = environ; *entry; ++entry) envp.push_back(*entry);
    envp.push_back(const_cast<char*>(variable.c_str()));
    envp.push_back(nullptr);
    int output[2];
    if (::pipe2(output, O_CLOEXEC) != 0) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(output[1], STDOUT_FILENO);
        ::dup2(output[1], STDERR_FILENO);
        ::execve("/proc/self/exe", argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(output[1]);
    ProgramRun run;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) break;
        pollfd fd{output[0], POLLIN, 0};
        if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
        char buffer[4096];
        const ssize_t size = ::read(output[0], buffer, sizeof buffer);
        if (size < 0 && errno == EINTR) continue;
        if (size <= 0) {
            run.finished = true;
            break;
        }
        run.output.append(buffer, static_cast<std::size_t>(size));
    }
    ::close(output[0]);
    if (!run.finished) ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    run.exitcode = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return run;
}

bool gone_within(const std::string& name, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (exists_in_dev_shm(name)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

std::string unique_name(const char* what) {
    return std::string("mproc_test_") + what + "_" + std::to_string(::getpid());
}

// The inode of this process's channel to its resource tracker: equal in two processes when they
// share one tracker.
unsigned long tracker_identity() {
    struct stat status {};
    const int channel = mproc::detail::resource_tracker_channel();
    return channel >= 0 && ::fstat(channel, &status) == 0 ? status.st_ino : 0;
}

// Creates the segment and dies. Exits with 5 instead when `expected_tracker` is given and the
// segment went to another tracker.
void create_and_die(std::string name, bool track, unsigned long expected_tracker) {
    auto segment = mproc::SharedMemory::create(name, 4096, {.track = track});
    segment.buf()[0] = std::byte{1};
    if (expected_tracker != 0 && tracker_identity() != expected_tracker) ::_exit(5);
    ::raise(SIGKILL);
}

// A child of the program creates the segment and is killed, then the program kills itself. With
// `tracker_first`, the program started its tracker before the child, which must use it: the
// segment then outlives the child, since the rest of the program could still use it.
int killed_creator(bool tracker_first, bool track) {
    const std::string name = std::getenv(segment_variable);
    if (tracker_first) mproc::detail::ensure_resource_tracker();
    mproc::Process creator(create_and_die, name, track, tracker_first ? tracker_identity() : 0ul);
    creator.start();
    creator.join();
    if (creator.exitcode() != -SIGKILL) {
        std::fprintf(stderr, "the creator exited with %d\n", creator.exitcode().value_or(-1000));
        return 2;
    }
    if (tracker_first) {
        std::this_thread::sleep_for(200ms);  // a tracker of the child's own would unlink it now
        if (!exists_in_dev_shm(name)) return 3;
    }
    ::raise(SIGKILL);
    return 4;
}

const mproc::test::RegisterRole killed_child_role("shm-killed-creator", [] { return killed_creator(false, true); });
const mproc::test::RegisterRole killed_child_of_tracking_program_role("shm-killed-creator-tracker-first",
                                                                      [] { return killed_creator(true, true); });
const mproc::test::RegisterRole killed_untracked_creator_role("shm-killed-untracked-creator",
                                                              [] { return killed_creator(true, false); });

// Creates two segments, unlinks one, and exits normally. Threads busy allocating and printing
// meanwhile: the tracker starts from a program running threads, whose malloc and stdio locks may
// be held when it forks.
const mproc::test::RegisterRole exits_with_one_left_role("shm-exits-with-one-left", [] {
    const std::string name = std::getenv(segment_variable);
    std::atomic<bool> stop{false};
    std::vector<std::thread> busy;
    for (int i = 0; i < 3; ++i)
        busy.emplace_back([&] {
            while (!stop.load()) {
                std::vector<std::string> garbage(64, std::string(100, 'x'));
                std::snprintf(garbage[0].data(), garbage[0].size(), "%zu", garbage.size());
            }
        });
    auto kept = mproc::SharedMemory::create(name, 100);
    auto removed = mproc::SharedMemory::create(name + "_unlinked", 100);
    removed.unlink();
    stop.store(true);
    for (auto& thread : busy) thread.join();
    return 0;
});

// Attaches to a segment it did not create, in a child, and is killed.
const mproc::test::RegisterRole killed_attacher_role("shm-killed-attacher", [] {
    mproc::Process attacher([](std::string name) {
        mproc::SharedMemory segment(name);
        segment.buf()[1] = std::byte{2};
        ::raise(SIGKILL);
    }, std::string(std::getenv(segment_variable)));
    attacher.start();
    attacher.join();
    ::raise(SIGKILL);
    return 4;
});

bool warned_of_leaks(const std::string& output) {
    return output.find("leaked shared_memory objects") != std::string::npos;
}

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

// ---------------------------------------------------------------------------------------------
// The resource tracker

// Python's resource tracker: a segment whose creator was killed is unlinked once the program is
// gone, with a warning.
TEST(SharedMemory, SegmentOfAKilledCreatorIsUnlinkedWhenTheProgramIsGone) {
    mproc::test::LeakCheck leaks;
    const std::string name = unique_name("killed_creator");
    const auto run = run_program("shm-killed-creator", name);
    ASSERT_TRUE(run.finished) << run.output;
    EXPECT_EQ(run.exitcode, -SIGKILL) << run.output;
    EXPECT_TRUE(gone_within(name, 20s));
    EXPECT_TRUE(warned_of_leaks(run.output)) << run.output;
    EXPECT_NE(run.output.find(name), std::string::npos) << run.output;
    if (exists_in_dev_shm(name)) mproc::SharedMemory(name).unlink();
}

// One tracker for the whole program: a child's segment stays while the program could still use
// it (the child shares its parent's tracker under every start method), and goes with the program.
TEST(SharedMemory, SegmentOfAKilledChildLivesAsLongAsTheProgram) {
    mproc::test::LeakCheck leaks;
    const std::string name = unique_name("killed_child");
    const auto run = run_program("shm-killed-creator-tracker-first", name);
    ASSERT_TRUE(run.finished) << run.output;
    EXPECT_EQ(run.exitcode, -SIGKILL) << "(3: unlinked while the program ran)\n" << run.output;
    EXPECT_TRUE(gone_within(name, 20s));
    EXPECT_TRUE(warned_of_leaks(run.output)) << run.output;
    if (exists_in_dev_shm(name)) mproc::SharedMemory(name).unlink();
}

// Python 3.13's track=False: the segment is the program's to unlink, and outlives it.
TEST(SharedMemory, UntrackedSegmentOutlivesTheProgram) {
    mproc::test::LeakCheck leaks;
    const std::string name = unique_name("untracked");
    const auto run = run_program("shm-killed-untracked-creator", name);
    ASSERT_TRUE(run.finished) << run.output;  // its tracker included: nothing more will happen
    EXPECT_EQ(run.exitcode, -SIGKILL) << run.output;
    EXPECT_TRUE(exists_in_dev_shm(name));
    EXPECT_FALSE(warned_of_leaks(run.output)) << run.output;
    mproc::SharedMemory(name).unlink();
}

// unlink() unregisters: only what is left is cleaned up, at a normal exit as after a kill.
TEST(SharedMemory, TrackerUnlinksOnlyWhatWasNotUnlinked) {
    mproc::test::LeakCheck leaks;
    const std::string name = unique_name("left");
    const auto run = run_program("shm-exits-with-one-left", name);
    ASSERT_TRUE(run.finished) << run.output;
    EXPECT_EQ(run.exitcode, 0) << run.output;
    EXPECT_TRUE(gone_within(name, 20s));
    EXPECT_NE(run.output.find("There appear to be 1 leaked shared_memory objects"), std::string::npos) << run.output;
    EXPECT_EQ(run.output.find(name + "_unlinked"), std::string::npos) << run.output;
    if (exists_in_dev_shm(name)) mproc::SharedMemory(name).unlink();
}

// Only the creator registers: a program that attached by name leaves the segment to its owner.
TEST(SharedMemory, AttachingByNameDoesNotTrack) {
    mproc::test::LeakCheck leaks;
    const std::string name = unique_name("attached");
    auto segment = mproc::SharedMemory::create(name, 100, {.track = false});
    const auto run = run_program("shm-killed-attacher", name);
    ASSERT_TRUE(run.finished) << run.output;
    EXPECT_EQ(run.exitcode, -SIGKILL) << run.output;
    EXPECT_TRUE(exists_in_dev_shm(name));
    EXPECT_EQ(segment.buf()[1], std::byte{2});  // the attacher did attach
    EXPECT_FALSE(warned_of_leaks(run.output)) << run.output;
    segment.unlink();
}

// The tracker is started through a process that exits at once: it is not this program's child,
// which the program would have to reap, and which leak checks would count.
TEST(SharedMemory, TrackerIsNoChildOfTheProgram) {
    mproc::detail::ensure_resource_tracker();
    ASSERT_GE(mproc::detail::resource_tracker_channel(), 0);
    EXPECT_NE(::fcntl(mproc::detail::resource_tracker_channel(), F_GETFD) & FD_CLOEXEC, 0);
    for (const auto& child : mproc::test::children()) {
        std::ifstream comm("/proc/" + std::to_string(child.pid) + "/comm");
        std::string name;
        std::getline(comm, name);
        EXPECT_NE(name, "mproc-tracker") << "pid " << child.pid;
    }
}

}  // namespace
