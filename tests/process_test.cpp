// mproc::Process: lifecycle, exit codes as Python reports them, misuse, and what a child may
// never do (outlive its parent, leak, stay a zombie).
#include <mproc/process.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "support/descriptor.hpp"
#include "support/leak_check.hpp"
#include "support/reexec.hpp"
#include "support/run_self.hpp"

namespace {

using namespace std::chrono_literals;

// A pipe that the parent reads what a child wrote into.
struct Channel {
    int read_end = -1, write_end = -1;
    Channel() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Channel() {
        ::close(read_end);
        if (write_end >= 0) ::close(write_end);
    }
    void close_write_end() {
        ::close(write_end);
        write_end = -1;
    }
    // Everything written until every writer closed its end.
    std::string read_all() {
        close_write_end();
        std::string text;
        char buffer[256];
        for (ssize_t n; (n = ::read(read_end, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
        return text;
    }
};

void write_text(int fd, const std::string& text) { (void)!::write(fd, text.data(), text.size()); }

bool process_gone(int pid) {
    // Dead means gone, or a zombie waiting for a reaper that is not us.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close = line.rfind(')');
    return close != std::string::npos && line[close + 2] == 'Z';
}

bool wait_until_gone(int pid, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!process_gone(pid)) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

void sleep_forever() {
    for (;;) ::pause();
}

TEST(Process, RunsTargetWithItsArgumentsInAnotherProcess) {
    mproc::test::LeakCheck leaks;
    Channel channel;
    mproc::Process p(
        [](mproc::test::Descriptor fd, std::string name, int parent) {
            write_text(fd, name + (::getpid() != parent ? " elsewhere" : " here"));
        },
        mproc::test::Descriptor{channel.write_end}, std::string("bob"), static_cast<int>(::getpid()));
    p.start();
    p.join();
    EXPECT_EQ(channel.read_all(), "bob elsewhere");
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(Process, ExitcodeIsEmptyBeforeStartAndWhileRunning) {
    mproc::test::LeakCheck leaks;
    mproc::Process p(sleep_forever);
    EXPECT_EQ(p.exitcode(), std::nullopt);
    EXPECT_EQ(p.pid(), std::nullopt);
    EXPECT_FALSE(p.is_alive());
    p.start();
    EXPECT_TRUE(p.is_alive());
    EXPECT_EQ(p.exitcode(), std::nullopt);
    EXPECT_GT(p.pid().value(), 0);
    p.kill();
    p.join();
    EXPECT_FALSE(p.is_alive());
}

// A real invalid access, not just the signal. UBSan would report it before it happens.
__attribute__((no_sanitize("undefined"))) void write_through_null() {
    volatile int* null = nullptr;
    *null = 1;
}

int exitcode_of(void (*target)()) {
    mproc::Process p(target);
    p.start();
    p.join();
    return p.exitcode().value();
}

TEST(Process, ExitcodesMatchPython) {
    mproc::test::LeakCheck leaks;
    EXPECT_EQ(exitcode_of([] {}), 0);
    EXPECT_EQ(exitcode_of([] { std::exit(3); }), 3);
    EXPECT_EQ(exitcode_of([] { ::_exit(7); }), 7);
    EXPECT_EQ(exitcode_of([] { std::abort(); }), -SIGABRT);
    EXPECT_EQ(exitcode_of([] { ::raise(SIGKILL); }), -SIGKILL);
    EXPECT_EQ(exitcode_of([] { ::raise(SIGSEGV); }), -SIGSEGV);
    EXPECT_EQ(exitcode_of(&write_through_null), -SIGSEGV);
}

TEST(Process, TerminateAndKillReportTheirSignals) {
    mproc::test::LeakCheck leaks;
    mproc::Process terminated(sleep_forever), killed(sleep_forever);
    terminated.start();
    killed.start();
    terminated.terminate();
    killed.kill();
    terminated.join();
    killed.join();
    EXPECT_EQ(terminated.exitcode(), -SIGTERM);
    EXPECT_EQ(killed.exitcode(), -SIGKILL);
}

TEST(Process, ExceptionEscapingTargetIsPrintedAndExitsWithOne) {
    mproc::test::LeakCheck leaks;
    Channel err;
    mproc::Process p(mproc::ProcessOptions{.name = "worker"}, [](mproc::test::Descriptor fd) {
        ::dup2(fd, STDERR_FILENO);
        throw std::invalid_argument("bad input");
    }, mproc::test::Descriptor{err.write_end});
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 1);
    EXPECT_EQ(err.read_all(), "Process worker: std::invalid_argument: bad input\n");
}

TEST(Process, JoinWithTimeoutReturnsWhetherTheChildExited) {
    mproc::test::LeakCheck leaks;
    mproc::Process p([] { std::this_thread::sleep_for(200ms); });
    p.start();
    const auto before = std::chrono::steady_clock::now();
    EXPECT_FALSE(p.join(20ms));
    EXPECT_GE(std::chrono::steady_clock::now() - before, 20ms);
    EXPECT_TRUE(p.join(10s));
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(Process, MisuseIsAStateError) {
    mproc::test::LeakCheck leaks;
    mproc::Process p([] {});
    EXPECT_THROW(p.join(), mproc::StateError);
    EXPECT_THROW(p.terminate(), mproc::StateError);
    p.start();
    EXPECT_THROW(p.start(), mproc::StateError);
    EXPECT_THROW(p.set_daemon(true), mproc::StateError);
    p.join();
    p.close();
    EXPECT_THROW(p.start(), mproc::StateError);
    EXPECT_THROW(p.join(), mproc::StateError);
    EXPECT_THROW(p.is_alive(), mproc::StateError);
}

TEST(Process, CloseWhileRunningIsRefused) {
    mproc::test::LeakCheck leaks;
    mproc::Process p(sleep_forever);
    p.start();
    EXPECT_THROW(p.close(), mproc::StateError);
    p.kill();
    p.join();
    EXPECT_NO_THROW(p.close());
}

TEST(Process, NamesFollowPythonsScheme) {
    mproc::test::LeakCheck leaks;
    EXPECT_EQ(mproc::current_process().name, "MainProcess");
    EXPECT_EQ(mproc::parent_process(), std::nullopt);
    mproc::Process first([] {});
    mproc::Process second([] {});
    const std::string prefix = "Process-";
    ASSERT_EQ(first.name().rfind(prefix, 0), 0u);
    EXPECT_EQ(std::stoi(second.name().substr(prefix.size())), std::stoi(first.name().substr(prefix.size())) + 1);
    mproc::Process named(mproc::ProcessOptions{.name = "fetcher"}, [] {});
    EXPECT_EQ(named.name(), "fetcher");
    named.set_name("renamed");
    EXPECT_EQ(named.name(), "renamed");
}

TEST(Process, ChildKnowsItselfAndItsParent) {
    mproc::test::LeakCheck leaks;
    Channel channel;
    mproc::Process p([](mproc::test::Descriptor fd) {
        const auto self = mproc::current_process();
        const auto parent = mproc::parent_process();
        // A grandchild is named after its parent's identity: Process-N:1.
        mproc::Process grandchild([] {});
        write_text(fd, self.name + "|" + std::to_string(self.pid == ::getpid()) + "|" +
                           (parent ? parent->name + "|" + std::to_string(parent->pid) : "none") + "|" +
                           grandchild.name());
    }, mproc::test::Descriptor{channel.write_end});
    p.start();
    p.join();
    EXPECT_EQ(channel.read_all(), p.name() + "|1|MainProcess|" + std::to_string(::getpid()) + "|" + p.name() + ":1");
}

TEST(Process, DaemonFlagIsInheritedAndSettableBeforeStart) {
    mproc::test::LeakCheck leaks;
    mproc::Process p([] {});
    EXPECT_FALSE(p.daemon());
    p.set_daemon(true);
    EXPECT_TRUE(p.daemon());
    mproc::Process q(mproc::ProcessOptions{.daemon = true}, [] {});
    EXPECT_TRUE(q.daemon());
}

TEST(Process, ActiveChildrenListsRunningChildrenOnly) {
    mproc::test::LeakCheck leaks;
    mproc::Process running(sleep_forever), finished([] {});
    running.start();
    finished.start();
    finished.join();
    const auto children = mproc::active_children();
    ASSERT_EQ(children.size(), 1u);
    EXPECT_EQ(children[0].pid, running.pid());
    EXPECT_EQ(children[0].name, running.name());
    running.kill();
    running.join();
    EXPECT_TRUE(mproc::active_children().empty());
}

TEST(Process, ChildOutlivingItsProcessObjectIsReapedLater) {
    mproc::test::LeakCheck leaks;
    int pid = 0;
    {
        mproc::Process p([] { std::this_thread::sleep_for(50ms); });
        p.start();
        pid = *p.pid();
    }
    EXPECT_EQ(mproc::active_children().size(), 1u);
    EXPECT_TRUE(wait_until_gone(pid, 5s));
    EXPECT_TRUE(mproc::active_children().empty());
}

TEST(Process, ChildStartedFromShortLivedThreadSurvivesThatThread) {
    // PR_SET_PDEATHSIG is tied to the forking thread; the child must not die with it.
    mproc::test::LeakCheck leaks;
    Channel channel;
    std::optional<mproc::Process> p;
    std::thread([&] {
        p.emplace([](mproc::test::Descriptor fd) {
            std::this_thread::sleep_for(100ms);
            write_text(fd, "still alive");
        }, mproc::test::Descriptor{channel.write_end});
        p->start();
    }).join();
    p->join();
    EXPECT_EQ(p->exitcode(), 0);
    EXPECT_EQ(channel.read_all(), "still alive");
}

// Starts a process running `parent`, which starts a child and writes its pid to the descriptor it
// is given; kills that process and expects the child to die with it.
void expect_child_to_die_with_its_killed_parent(void (*parent_body)(mproc::test::Descriptor)) {
    mproc::test::LeakCheck leaks;
    Channel channel;
    mproc::Process parent(parent_body, mproc::test::Descriptor{channel.write_end});
    parent.start();
    char buffer[32] = {};
    ASSERT_GT(::read(channel.read_end, buffer, sizeof buffer - 1), 0);
    const int grandchild = std::atoi(buffer);
    ASSERT_GT(grandchild, 0);
    EXPECT_FALSE(process_gone(grandchild));
    parent.kill();
    parent.join();
    EXPECT_TRUE(wait_until_gone(grandchild, 5s));
}

TEST(Process, ChildrenDieWhenTheirParentIsKilled) {
    expect_child_to_die_with_its_killed_parent([](mproc::test::Descriptor fd) {
        mproc::Process child(sleep_forever);
        child.start();
        write_text(fd, std::to_string(*child.pid()) + "\n");
        sleep_forever();
    });
}

TEST(Process, SpawnedChildrenDieWhenTheirParentIsKilled) {
    // A spawned child is not forked from its parent's code: it asks for its parent-death signal
    // itself, first thing in mproc::init.
    expect_child_to_die_with_its_killed_parent([](mproc::test::Descriptor fd) {
        mproc::Process child(mproc::ProcessOptions{.start_method = mproc::StartMethod::spawn}, sleep_forever);
        child.start();
        write_text(fd, std::to_string(*child.pid()) + "\n");
        sleep_forever();
    });
}

// The role of a re-executed test binary: a main() that starts children and returns.
const mproc::test::RegisterRole exit_policy_role("exit-policy", [] {
    mproc::Process daemon(mproc::ProcessOptions{.daemon = true}, sleep_forever);
    mproc::Process worker([] {
        std::this_thread::sleep_for(100ms);
        std::printf("worker done\n");
    });
    daemon.start();
    worker.start();
    std::printf("daemon %d\n", *daemon.pid());
    return 0;  // at exit: the daemon is terminated, the worker waited for
});

TEST(Process, AtExitDaemonsAreTerminatedAndOthersJoined) {
    mproc::test::LeakCheck leaks;
    const auto result = mproc::test::run_self("exit-policy");
    EXPECT_EQ(result.exitcode, 0) << result.err;
    int daemon_pid = 0;
    const auto at = result.out.find("daemon ");
    ASSERT_NE(at, std::string::npos) << result.out;
    ASSERT_EQ(std::sscanf(result.out.c_str() + at, "daemon %d", &daemon_pid), 1) << result.out;
    EXPECT_NE(result.out.find("worker done"), std::string::npos) << result.out;
    EXPECT_TRUE(wait_until_gone(daemon_pid, 5s));
}

// Buffered output written before start() must be printed once, not once per process.
const mproc::test::RegisterRole buffered_output_role("buffered-output", [] {
    std::printf("before|");
    mproc::Process p([] { std::printf("child|"); });
    p.start();
    p.join();
    std::printf("after\n");
    return 0;
});

TEST(Process, BufferedOutputIsNotDuplicated) {
    const auto result = mproc::test::run_self("buffered-output");
    EXPECT_EQ(result.exitcode, 0);
    EXPECT_EQ(result.out, "before|child|after\n");
}

TEST(Process, ChildWaitsForItsOwnNonDaemonicChildrenBeforeExiting) {
    mproc::test::LeakCheck leaks;
    Channel channel;
    mproc::Process child([](mproc::test::Descriptor fd) {
        mproc::Process grandchild([](mproc::test::Descriptor out) {
            std::this_thread::sleep_for(100ms);
            write_text(out, "grandchild done");
        }, fd);
        grandchild.start();
    }, mproc::test::Descriptor{channel.write_end});
    child.start();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    // Nobody else holds the write end by now: the grandchild has finished writing.
    EXPECT_EQ(channel.read_all(), "grandchild done");
}

// exit() in a child must not run the handlers the parent registered before forking.
const mproc::test::RegisterRole exit_in_child_role("exit-in-child", [] {
    std::atexit([] { std::printf("parent atexit\n"); });
    mproc::Process p([] { std::exit(4); });
    p.start();
    p.join();
    std::printf("child exit code %d\n", p.exitcode().value_or(-1));
    return 0;
});

TEST(Process, ExitInChildDoesNotRunTheParentsAtexitHandlers) {
    const auto result = mproc::test::run_self("exit-in-child");
    EXPECT_EQ(result.exitcode, 0) << result.err;
    EXPECT_EQ(result.out, "child exit code 4\nparent atexit\n");
}

TEST(Process, DescriptorsMprocCreatesAreCloseOnExec) {
    const auto before = mproc::test::open_fds();
    mproc::Process p(sleep_forever);
    p.start();
    for (const auto& fd : mproc::test::open_fds()) {
        if (before.count(fd)) continue;
        const int flags = ::fcntl(std::stoi(fd), F_GETFD);
        EXPECT_TRUE(flags & FD_CLOEXEC) << "fd " << fd << " is inherited across exec";
    }
    p.kill();
    p.join();
}

TEST(Process, MovedProcessKeepsTheChild) {
    mproc::test::LeakCheck leaks;
    mproc::Process p([] { std::exit(5); });
    p.start();
    mproc::Process q = std::move(p);
    q.join();
    EXPECT_EQ(q.exitcode(), 5);
}

TEST(Process, CpuCountIsWithinTheAffinityMask) {
    const int count = mproc::cpu_count();
    EXPECT_GE(count, 1);
    EXPECT_LE(count, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace
