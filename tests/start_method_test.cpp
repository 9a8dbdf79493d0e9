// Start methods: the same Process, Pool and shared-object programs under fork, spawn and
// forkserver; what each method inherits; the fork warning; and a parent full of busy threads.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/mproc.hpp>

#include "launch.hpp"
#include "os/fd_passing.hpp"
#include "support/leak_check.hpp"
#include "support/reexec.hpp"
#include "support/run_self.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::StartMethod;

// Set by the parent after the fork server has started: a forked child sees it, a spawned one or
// one forked by the server does not.
int marker = 0;

void report_to(mproc::Queue<int> queue, int value) { queue.put(value * 10); }
int read_marker(int) { return marker; }
int square(int x) { return x * x; }
int fail_with_range_error(int x) { throw std::out_of_range("item " + std::to_string(x)); }
void add_under_lock(mproc::Value<long> total, int times) {
    for (int i = 0; i < times; ++i) {
        std::lock_guard guard(total.get_lock());
        total.value() += 1;
    }
}
void throw_in_child() { throw std::runtime_error("child failed"); }
void wait_then_set(mproc::Event go, mproc::Event done) {
    go.wait();
    done.set();
}
void report_identity(mproc::Queue<std::string> out) {
    const auto parent = mproc::parent_process();
    out.put(mproc::current_process().name + "|" + (parent ? std::to_string(parent->pid) : "none"));
}

class StartMethods : public ::testing::TestWithParam<StartMethod> {
protected:
    mproc::Context context() const { return mproc::get_context(GetParam()); }
};

std::string method_name(const ::testing::TestParamInfo<StartMethod>& info) {
    return std::string(mproc::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(, StartMethods,
                         ::testing::Values(StartMethod::fork, StartMethod::spawn, StartMethod::forkserver),
                         method_name);

TEST_P(StartMethods, ProcessRunsItsTargetWithSharedObjectArguments) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    auto queue = ctx.Queue<int>();
    auto process = ctx.Process(report_to, queue, 4);
    process.start();
    EXPECT_EQ(queue.get(10s), 40);
    process.join();
    EXPECT_EQ(process.exitcode(), 0);
}

TEST_P(StartMethods, ProcessExceptionExitsWithOneAndTerminateReportsTheSignal) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    auto failing = ctx.Process(throw_in_child);
    failing.start();
    failing.join();
    EXPECT_EQ(failing.exitcode(), 1);

    auto go = ctx.Event(), done = ctx.Event();
    auto waiting = ctx.Process(wait_then_set, go, done);
    waiting.start();
    EXPECT_TRUE(waiting.is_alive());
    waiting.terminate();
    waiting.join();
    EXPECT_EQ(waiting.exitcode(), -SIGTERM);
    EXPECT_FALSE(done.is_set());
}

TEST_P(StartMethods, ChildKnowsItsNameAndItsParent) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    auto out = ctx.Queue<std::string>();
    auto process = ctx.Process(mproc::ProcessOptions{.name = "reporter"}, report_identity, out);
    process.start();
    EXPECT_EQ(out.get(10s), "reporter|" + std::to_string(::getpid()));
    process.join();
}

TEST_P(StartMethods, LockedCounterSharedByProcessesAndPoolTasksIsExact) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    auto total = ctx.Value<long>(0L);
    std::vector<mproc::Process> processes;
    for (int i = 0; i < 3; ++i) processes.push_back(ctx.Process(add_under_lock, total, 2000));
    for (auto& p : processes) p.start();
    {
        auto pool = ctx.Pool(2);
        pool.starmap(add_under_lock, std::vector{std::tuple{total, 1000}, std::tuple{total, 1000}});
    }
    for (auto& p : processes) p.join();
    EXPECT_EQ(total.value(), 8000);
}

TEST_P(StartMethods, PoolMapsAppliesAndKeepsExceptionTypes) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    auto pool = ctx.Pool(2);
    EXPECT_EQ(pool.map(square, std::vector{1, 2, 3, 4}), (std::vector{1, 4, 9, 16}));
    EXPECT_EQ(pool.apply_async(square, 12).get(10s), 144);
    std::vector<int> squares;
    for (int x : pool.imap(square, std::vector{5, 6})) squares.push_back(x);
    EXPECT_EQ(squares, (std::vector{25, 36}));
    try {
        pool.apply(fail_with_range_error, 7);
        ADD_FAILURE() << "no exception";
    } catch (const std::out_of_range& error) {
        EXPECT_STREQ(error.what(), "item 7");
    }
}

TEST_P(StartMethods, KilledWorkerFailsItsTaskAndIsReplaced) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    auto pool = ctx.Pool(1);
    const int first = pool.worker_pids().at(0);
    auto started = ctx.Event();
    auto result = pool.apply_async([](mproc::Event running, int ms) {
        running.set();
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        return ms;
    }, started, 10'000);
    ASSERT_TRUE(started.wait(10s));  // killed while running its task, not before
    ::kill(first, SIGKILL);
    EXPECT_THROW(result.get(10s), mproc::WorkerCrashed);
    EXPECT_EQ(pool.apply(square, 3), 9);
    EXPECT_NE(pool.worker_pids().at(0), first);
}

TEST_P(StartMethods, InitializerRunsInEveryWorker) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    auto started = ctx.Value<int>(0);
    {
        auto pool = ctx.Pool(mproc::PoolOptions{
            .processes = 2, .initializer = mproc::call(add_under_lock, mproc::Value<long>(0L), 0)});
        EXPECT_EQ(pool.map(square, std::vector{2, 3}), (std::vector{4, 9}));
    }
    auto counted = ctx.Pool(mproc::PoolOptions{
        .processes = 2, .initializer = mproc::call([](mproc::Value<int> count) {
            std::lock_guard guard(count.get_lock());
            ++count.value();
        }, started)});
    counted.close();
    counted.join();
    EXPECT_EQ(started.value(), 2);
}

TEST_P(StartMethods, ChildrenSeeTheStateTheirMethodPromises) {
    // The fork server, if any, is running by now (get_context starts it), with marker == 0.
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    marker = 42;
    auto pool = ctx.Pool(1);
    const int seen = pool.apply(read_marker, 0);
    marker = 0;
    EXPECT_EQ(seen, GetParam() == StartMethod::fork ? 42 : 0);
}

TEST_P(StartMethods, TargetWithBoundValuesRunsUnderEveryMethod) {
    // What a capturing lambda would hold is bound with mproc::partial, which every method can send
    // (a lambda with captures does not compile as a target under any method).
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    std::string bound = "not trivially copyable";
    auto process = ctx.Process(mproc::partial([](const std::string& text) {
        if (text != "not trivially copyable") throw std::runtime_error("got " + text);
    }, bound));
    process.start();
    process.join();
    EXPECT_EQ(process.exitcode(), 0);
}

// Four threads lock a mutex and allocate as fast as they can while pools come and go. A fork
// could copy the mutex or malloc's locks held; spawn and forkserver children never inherit them.
TEST_P(StartMethods, ParentWithBusyThreadsCreatesAndDestroysAHundredPools) {
    if (GetParam() == StartMethod::fork) GTEST_SKIP() << "fork is the method this hazard is about";
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    std::mutex mutex;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            while (!stop.load(std::memory_order_relaxed)) {
                std::lock_guard guard(mutex);
                std::vector<char> block(std::size_t(1) << (10 + t));
                block[0] = 1;
            }
        });
    int total = 0;
    for (int i = 0; i < 100; ++i) {
        auto pool = ctx.Pool(2);
        total += pool.apply(square, i % 10);
    }
    stop = true;
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(total, 10 * (0 + 1 + 4 + 9 + 16 + 25 + 36 + 49 + 64 + 81));
}

void report_descriptor_open(mproc::Queue<int> out, int fd) { out.put(::fcntl(fd, F_GETFD) != -1 ? 1 : 0); }

// A child gets what its method promises and no descriptor of ours besides: under spawn and
// forkserver an open, inheritable descriptor of the parent is not open in the child.
TEST_P(StartMethods, ChildInheritsDescriptorsOnlyUnderFork) {
    auto ctx = context();
    mproc::test::LeakCheck leaks;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);  // not close-on-exec
    auto out = ctx.Queue<int>();
    auto process = ctx.Process(report_descriptor_open, out, fds[1]);
    process.start();
    EXPECT_EQ(out.get(10s), GetParam() == StartMethod::fork ? 1 : 0);
    process.join();
    ::close(fds[0]);
    ::close(fds[1]);
}

void report_marker(mproc::Queue<int> out) { out.put(marker); }

void sleep_forever_in_child() {
    for (;;) ::pause();
}
void exit_quietly() {}

// Killing the fork server kills its children (they die with their parent); the parent sees them
// die, SIGKILLed, instead of failing, and the next start gets a new server, started afresh.
TEST(StartMethodForkServer, KilledServerIsReplacedAndItsChildrenReportedKilled) {
    auto ctx = mproc::get_context(StartMethod::forkserver);
    auto running = ctx.Process(sleep_forever_in_child);
    running.start();
    const int server = mproc::test::parent_of(*running.pid());
    ASSERT_GT(server, 1);
    ASSERT_NE(server, ::getpid());
    ASSERT_EQ(::kill(server, SIGKILL), 0);
    ASSERT_TRUE(running.join(10s));
    EXPECT_EQ(running.exitcode(), -SIGKILL);
    // The replacement is this program run again, not a copy of this process as it is now.
    marker = 42;
    auto out = ctx.Queue<int>();
    auto next = ctx.Process(report_marker, out);
    next.start();
    const int seen = out.get(30s);
    marker = 0;
    next.join();
    EXPECT_EQ(next.exitcode(), 0);
    EXPECT_EQ(seen, 0) << "the replacement server was forked from the parent";
    EXPECT_NE(mproc::test::parent_of(*next.pid()), server);
}

// Signals handled while a start waits for its child are not mistaken for the child's death.
TEST(StartMethodSettings, SignalsDuringAStartDoNotFailIt) {
    struct sigaction action {};
    action.sa_handler = [](int) {};
    action.sa_flags = SA_RESTART;
    struct sigaction previous {};
    ASSERT_EQ(::sigaction(SIGALRM, &action, &previous), 0);
    itimerval every_ms{{0, 1000}, {0, 1000}};
    ::setitimer(ITIMER_REAL, &every_ms, nullptr);
    int started = 0;
    for (auto method : {StartMethod::spawn, StartMethod::forkserver})
        for (int i = 0; i < 5; ++i) {
            auto process = mproc::get_context(method).Process(exit_quietly);
            EXPECT_NO_THROW(process.start());
            process.join();
            started += process.exitcode() == 0;
        }
    itimerval off{};
    ::setitimer(ITIMER_REAL, &off, nullptr);
    ::sigaction(SIGALRM, &previous, nullptr);
    EXPECT_EQ(started, 10);
}

TEST(StartMethodSettings, NamesRoundTripAndUnknownNamesAreRejected) {
    for (auto method : mproc::get_all_start_methods())
        EXPECT_EQ(mproc::parse_start_method(mproc::to_string(method)), method);
    EXPECT_EQ(mproc::get_all_start_methods().front(), mproc::get_start_method());
    EXPECT_EQ(mproc::get_all_start_methods().size(), 3u);
    EXPECT_THROW(mproc::parse_start_method("vfork"), std::invalid_argument);
    EXPECT_THROW(mproc::get_context("threads"), std::invalid_argument);
}

// A role of a re-executed test binary, so that set_start_method's once-only rule starts fresh.
const mproc::test::RegisterRole set_twice_role("set-start-method-twice", [] {
    mproc::set_start_method("spawn");
    std::printf("method %s\n", std::string(mproc::to_string(mproc::get_start_method())).c_str());
    try {
        mproc::set_start_method("fork");
        std::printf("second set accepted\n");
    } catch (const mproc::StateError&) {
        std::printf("second set refused\n");
    }
    mproc::set_start_method("forkserver", true);
    std::printf("forced %s\n", std::string(mproc::to_string(mproc::get_start_method())).c_str());
    return 0;
});

TEST(StartMethodSettings, SetStartMethodWorksOnceUnlessForced) {
    const auto run = mproc::test::run_self("set-start-method-twice");
    EXPECT_EQ(run.out, "method spawn\nsecond set refused\nforced forkserver\n");
    EXPECT_EQ(run.exitcode, 0);
}

int fork_twice_beside_a_thread() {
    std::atomic<bool> stop{false};
    std::thread busy([&] {
        while (!stop) std::this_thread::sleep_for(1ms);
    });
    for (int i = 0; i < 2; ++i) {
        mproc::Process p(mproc::ProcessOptions{.start_method = StartMethod::fork}, [] {});
        p.start();
        p.join();
    }
    stop = true;
    busy.join();
    return 0;
}
const mproc::test::RegisterRole threaded_fork_role("threaded-fork", fork_twice_beside_a_thread);
const mproc::test::RegisterRole silenced_fork_role("threaded-fork-silenced", [] {
    mproc::set_fork_warning(false);
    return fork_twice_beside_a_thread();
});

TEST(StartMethodSettings, ForkingAThreadedParentWarnsOnceUnlessSilenced) {
    auto run = mproc::test::run_self("threaded-fork");
    EXPECT_EQ(run.exitcode, 0);
    const auto first = run.err.find("mproc: warning: forking a process that runs 2 threads");
    EXPECT_NE(first, std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("mproc: warning", first + 1), std::string::npos) << "warned more than once";
    EXPECT_NE(run.err.find("forkserver"), std::string::npos) << "the warning names the alternatives";

    run = mproc::test::run_self("threaded-fork-silenced");
    EXPECT_EQ(run.exitcode, 0);
    EXPECT_EQ(run.err.find("mproc: warning"), std::string::npos) << run.err;
}

}  // namespace

// --- A child keeps the start method it was started with ------------------------------------------

// Set by a child before it starts a grandchild: a forked grandchild sees it, others do not.
int set_before_grandchild = 0;

void report_parent_and_flag(mproc::Queue<int> out) {
    out.put(static_cast<int>(::getppid()));
    out.put(set_before_grandchild);
}

// Runs in a child: its default start method, then how a grandchild started with that default was
// really started, as the grandchild's parent and memory tell (not as the grandchild says).
void report_methods(mproc::Queue<std::string> out) {
    const std::string own(mproc::to_string(mproc::get_start_method()));
    set_before_grandchild = 1;
    auto facts = mproc::Queue<int>();
    mproc::Process grandchild(report_parent_and_flag, facts);
    grandchild.start();
    const int parent = facts.get(30s);
    const int flag = facts.get(30s);
    grandchild.join();
    const char* how = parent != ::getpid() ? "forkserver" : flag ? "fork" : "spawn";
    out.put(own + " " + how);
}

std::string default_method_name(int) { return std::string(mproc::to_string(mproc::get_start_method())); }

// Under each default method (set at run time, as a program does), a child started by each method,
// by the default one, and a pool worker of each method: every child reports the method it was
// started with as its own default, and starts its own children with it.
const mproc::test::RegisterRole methods_passed_on_role("start-methods-passed-on", [] {
    const StartMethod methods[] = {StartMethod::fork, StartMethod::spawn, StartMethod::forkserver};
    for (auto set : methods) {
        mproc::set_start_method(set, true);
        const std::string default_name(mproc::to_string(set));
        auto out = mproc::Queue<std::string>();
        for (std::optional<StartMethod> chosen : {std::optional<StartMethod>{}, std::optional(methods[0]),
                                                  std::optional(methods[1]), std::optional(methods[2])}) {
            mproc::Process child(mproc::ProcessOptions{.start_method = chosen}, report_methods, out);
            child.start();
            std::string reported = "(nothing)";
            try {
                reported = out.get(60s);
            } catch (const mproc::Error&) {
            }
            child.join();
            std::printf("default %s, process started by %s: %s\n", default_name.c_str(),
                        chosen ? std::string(mproc::to_string(*chosen)).c_str() : default_name.c_str(), reported.c_str());
        }
        for (auto method : methods) {
            auto pool = mproc::get_context(method).Pool(1);
            std::printf("default %s, pool worker started by %s: %s\n", default_name.c_str(),
                        std::string(mproc::to_string(method)).c_str(), pool.apply(default_method_name, 0).c_str());
        }
    }
    return 0;
});

TEST(StartMethodInheritance, ChildKeepsTheMethodItWasStartedWithAndPassesItOn) {
    const auto run = mproc::test::run_self("start-methods-passed-on");
    EXPECT_EQ(run.exitcode, 0) << run.err;
    std::istringstream lines(run.out);
    std::string line;
    int checked = 0;
    while (std::getline(lines, line)) {
        // "default D, process started by M: <child's default> <how its child was started>"
        const auto by = line.find(" by ") + 4, colon = line.find(':');
        const std::string method = line.substr(by, colon - by);
        const bool process = line.find("process started") != std::string::npos;
        EXPECT_EQ(line.substr(colon + 2), process ? method + " " + method : method) << line;
        ++checked;
    }
    EXPECT_EQ(checked, 3 * (4 + 3)) << run.out << run.err;
}

// --- The fork server is this program run afresh ----------------------------------------------------

// Locked by a thread of the parent while the fork server starts, and never unlocked before the
// child has run: a server forked from the parent would hand its children a locked copy.
std::mutex held_while_the_server_starts;

void lock_then_report(mproc::Queue<int> out) {
    std::lock_guard lock(held_while_the_server_starts);
    out.put(marker);
}

// Prints what a forkserver child saw of `marker`, or that it hung.
void print_what_a_forkserver_child_sees() {
    auto ctx = mproc::get_context(StartMethod::forkserver);
    auto out = ctx.Queue<int>();
    auto child = ctx.Process(lock_then_report, out);
    child.start();
    if (!child.join(30s)) {
        child.kill();
        child.join();
        std::printf("child deadlocked\n");
        return;
    }
    std::printf("child saw marker %d, exit code %d\n", out.get(10s), child.exitcode().value_or(-1000));
}

// A global the parent changes after mproc::init, before its first forkserver start.
const mproc::test::RegisterRole changed_after_init_role("forkserver-after-init", [] {
    marker = 42;
    print_what_a_forkserver_child_sees();
    return 0;
});

// The same, with the server started while another thread holds a lock.
const mproc::test::RegisterRole started_beside_threads_role("forkserver-beside-threads", [] {
    marker = 42;
    std::atomic<bool> locked{false}, release{false};
    std::thread holder([&] {
        std::lock_guard lock(held_while_the_server_starts);
        locked = true;
        while (!release) std::this_thread::sleep_for(1ms);
    });
    while (!locked) std::this_thread::sleep_for(1ms);
    mproc::get_context(StartMethod::forkserver);  // starts the server now
    release = true;
    holder.join();
    print_what_a_forkserver_child_sees();
    return 0;
});

TEST(StartMethodForkServer, ChildrenStartFromTheProgramAsInitLeftItNotFromTheParentNow) {
    const auto run = mproc::test::run_self("forkserver-after-init");
    EXPECT_EQ(run.exitcode, 0) << run.err;
    EXPECT_EQ(run.out, "child saw marker 0, exit code 0\n") << run.err;
}

TEST(StartMethodForkServer, ServerStartedBesideALockHoldingThreadHandsNoHeldLockToChildren) {
    const auto run = mproc::test::run_self("forkserver-beside-threads");
    EXPECT_EQ(run.exitcode, 0) << run.err;
    EXPECT_EQ(run.out, "child saw marker 0, exit code 0\n") << run.err;
    EXPECT_EQ(run.err.find("mproc: warning"), std::string::npos) << "the server is not a fork of a threaded parent";
}

// What a spawned child has as stdout: 1 for /dev/null, 0 for nothing, 2 for anything else.
void report_stdout(mproc::Queue<int> out) {
    char target[64] = {};
    const ssize_t n = ::readlink("/proc/self/fd/1", target, sizeof target - 1);
    out.put(n < 0 ? 0 : std::string(target) == "/dev/null" ? 1 : 2);
}

// A program without stdout starts a child by spawn, which reports what its stdout is.
const mproc::test::RegisterRole spawn_without_stdout_role("spawn-without-stdout", [] {
    const int report = ::dup(1);
    ::close(1);
    auto ctx = mproc::get_context(StartMethod::spawn);
    auto out = ctx.Queue<int>();
    auto child = ctx.Process(report_stdout, out);
    child.start();
    const int stdout_kind = out.get(30s);
    child.join();
    ::dprintf(report, "child's stdout %d, exit code %d\n", stdout_kind, child.exitcode().value_or(-1000));
    return 0;
});

TEST(StartMethodSpawn, ChildOfAProgramWithoutStdoutGetsDevNullThere) {
    // Otherwise the first descriptor the child opens takes number 1, and what it prints goes there.
    const auto run = mproc::test::run_self("spawn-without-stdout");
    EXPECT_EQ(run.exitcode, 0) << run.err;
    EXPECT_EQ(run.out, "child's stdout 1, exit code 0\n") << run.err;
}

// --- MPROC_BOOTSTRAP_FD that mproc did not set -------------------------------------------------------

// Run with a stray MPROC_BOOTSTRAP_FD: mproc::init has ignored it, and the program runs normally.
const mproc::test::RegisterRole normal_run_role("normal-run", [] {
    std::printf("variable %s\n", std::getenv("MPROC_BOOTSTRAP_FD") ? "still set" : "gone");
    for (auto method : {StartMethod::fork, StartMethod::spawn, StartMethod::forkserver}) {
        auto ctx = mproc::get_context(method);
        auto out = ctx.Queue<int>();
        auto child = ctx.Process(report_marker, out);
        child.start();
        const int seen = out.get(30s);
        child.join();
        std::printf("%s child: %d %d\n", std::string(mproc::to_string(method)).c_str(), seen,
                    child.exitcode().value_or(-1000));
    }
    return 0;
});

constexpr const char* some_cookie = "0123456789abcdef0123456789abcdef";

// --- Bootstrap entries ---------------------------------------------------------------------------

// An entry this program registers for itself, as the library registers its own beside the code
// they run: it exits with the code its payload carries plus the number of descriptors it got.
// The number after it is registered by no one.
constexpr mproc::launch::Entry registered_test_entry{0x7e57};
constexpr mproc::launch::Entry unregistered_entry{0x7e58};

int exit_with_the_code_sent(mproc::Reader& payload, std::vector<mproc::os::UniqueFd>& fds) {
    return payload.read_value<int>() + static_cast<int>(fds.size());
}
const mproc::launch::EntryRegistration test_entry_registration(registered_test_entry, "test entry",
                                                               &exit_with_the_code_sent);

mproc::launch::Bootstrap bootstrap_of(mproc::launch::Entry entry, int code) {
    mproc::launch::Bootstrap made{entry, {}, {}, {}};
    mproc::Writer out(made.payload);
    out.write_value(code);
    return made;
}

TEST(StartMethodSettings, BootstrapsRunRegisteredEntriesAndNameNoOther) {
    using mproc::launch::find_entry;
    ASSERT_NE(find_entry(registered_test_entry), nullptr);
    EXPECT_STREQ(find_entry(registered_test_entry)->name, "test entry");
    EXPECT_EQ(find_entry(unregistered_entry), nullptr);
    EXPECT_EQ(find_entry(mproc::launch::Entry{}), nullptr);

    // The fork server is not this test's to leave behind.
    mproc::launch::prepare(StartMethod::forkserver);
    mproc::test::LeakCheck leaks;
    const auto never_forked = [] { return 100; };
    for (const auto method : {StartMethod::spawn, StartMethod::forkserver}) {
        SCOPED_TRACE(std::string(mproc::to_string(method)));
        // A registered entry runs in the child, with its payload and descriptors.
        const int fds[] = {0, 1};
        auto child = mproc::launch::start_child(method, never_forked, [&] {
            auto work = bootstrap_of(registered_test_entry, 40);
            work.fds.assign(std::begin(fds), std::end(fds));
            return work;
        });
        EXPECT_EQ(child.wait().value(), 42);
        // An entry that no one registered is not run: the child refuses it before confirming its
        // start, and the start fails.
        EXPECT_THROW(mproc::launch::start_child(method, never_forked,
                                                [] { return bootstrap_of(unregistered_entry, 7); }),
                     mproc::StartError);
    }
}

// Runs the normal-run role with MPROC_BOOTSTRAP_FD set to `value`.
mproc::test::RunResult run_with_bootstrap_variable(const std::string& value) {
    ::setenv("MPROC_BOOTSTRAP_FD", value.c_str(), 1);
    auto run = mproc::test::run_self("normal-run");
    ::unsetenv("MPROC_BOOTSTRAP_FD");
    return run;
}

TEST(StartMethodSettings, StrayBootstrapVariableIsIgnoredAndTheProgramRunsNormally) {
    // Descriptors the re-executed program inherits (not close-on-exec), each with something in it
    // that is not a bootstrap.
    int pipe_fds[2], seqpacket[2], stream[2], forged[2], closed_peer[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, seqpacket), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, stream), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, forged), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, closed_peer), 0);
    const char junk[] = "junk that is no bootstrap";
    ASSERT_GT(::write(pipe_fds[1], junk, sizeof junk), 0);
    ASSERT_GT(::send(seqpacket[1], junk, sizeof junk, 0), 0);
    ASSERT_GT(::send(stream[1], junk, sizeof junk, 0), 0);
    // A well-formed header, but with another cookie than the variable's.
    mproc::launch::Cookie other{};
    other.fill(std::byte{0x5a});
    const auto header = mproc::launch::make_bootstrap_header(registered_test_entry, 0, 0, other);
    ASSERT_EQ(::send(forged[1], &header, sizeof header, 0), static_cast<ssize_t>(sizeof header));
    ::close(closed_peer[1]);
    // A pair made by another process, alive, that is not the program's parent: one end is sent
    // here, the maker waits until this test is done.
    int channel[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel), 0);
    const pid_t maker = ::fork();
    if (maker == 0) {
        ::close(channel[0]);  // so that the test's closing it ends the read below
        int made[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, made) != 0) ::_exit(2);
        const std::byte byte{};
        if (!mproc::os::send_message(channel[1], {&byte, 1}, {&made[0], 1})) ::_exit(3);
        char until_closed;
        (void)!::read(channel[1], &until_closed, 1);  // until the test closes its end
        ::_exit(0);
    }
    ::close(channel[1]);
    ASSERT_GT(maker, 0);
    std::byte byte{};
    auto received = mproc::os::receive_message(channel[0], {&byte, 1});
    ASSERT_TRUE(received && received.value().fds.size() == 1);
    const int living_makers = received.value().fds[0].release();
    ASSERT_EQ(::fcntl(living_makers, F_SETFD, 0), 0);  // the program run below inherits it
    const int unused_fd = 1000;
    ASSERT_EQ(::fcntl(unused_fd, F_GETFD), -1);

    const std::string cookie = std::string(":") + some_cookie;
    const std::vector<std::string> values = {
        "garbage", "-1", "", "99999999999999999999", "3:", ":" + std::string(some_cookie),
        std::to_string(unused_fd), std::to_string(unused_fd) + cookie,
        std::to_string(pipe_fds[0]), std::to_string(pipe_fds[0]) + cookie,
        std::to_string(seqpacket[0]), std::to_string(seqpacket[0]) + cookie,
        std::to_string(stream[0]) + cookie, std::to_string(forged[0]) + cookie,
        std::to_string(closed_peer[0]) + cookie, std::to_string(living_makers) + cookie, "0" + cookie, "2" + cookie,
    };
    for (const auto& value : values) {
        const auto run = run_with_bootstrap_variable(value);
        EXPECT_EQ(run.exitcode, 0) << "MPROC_BOOTSTRAP_FD=" << value << ": " << run.err;
        EXPECT_EQ(run.out, "variable gone\nfork child: 0 0\nspawn child: 0 0\nforkserver child: 0 0\n")
            << "MPROC_BOOTSTRAP_FD=" << value << ": " << run.err;
        EXPECT_NE(run.err.find("mproc: ignoring the environment variable MPROC_BOOTSTRAP_FD"), std::string::npos)
            << "MPROC_BOOTSTRAP_FD=" << value << ": " << run.err;
    }
    for (int fd : {pipe_fds[0], pipe_fds[1], seqpacket[0], seqpacket[1], stream[0], stream[1], forged[0], forged[1],
                   closed_peer[0], living_makers, channel[0]})
        ::close(fd);
    int status = 0;
    EXPECT_EQ(::waitpid(maker, &status, 0), maker);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(StartMethodSettings, SpawnedChildWhoseParentDiedBeforeInitExitsInsteadOfRunningMain) {
    // A spawned child's parent-death signal is set in mproc::init: if the parent is gone by then,
    // the child must not go on as a program of its own. Here the parent ("maker") makes the
    // bootstrap socket and dies; its child then runs the program with the variable naming it.
    // This process adopts the orphan, as init would, so that it can wait for it.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    struct NoLongerSubreaper {
        ~NoLongerSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
    } no_longer_subreaper;
    int report[2], output[2];
    ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(output, O_CLOEXEC), 0);
    const std::string role = "--role=normal-run";
    const pid_t maker = ::fork();
    if (maker == 0) {
        int pair[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) != 0) ::_exit(2);  // inherited: not close-on-exec
        const std::string variable = std::to_string(pair[0]) + ":" + some_cookie;
        const pid_t self = ::getpid();
        const pid_t orphan = ::fork();
        if (orphan == 0) {
            while (::getppid() == self) ::usleep(1000);  // until the maker is gone
            ::close(pair[1]);  // nobody is left to send a bootstrap: a wait for one ends at once
            ::dup2(output[1], 1);
            ::dup2(output[1], 2);
            ::setenv("MPROC_BOOTSTRAP_FD", variable.c_str(), 1);
            char* argv[] = {const_cast<char*>("self"), const_cast<char*>(role.c_str()), nullptr};
            ::execv("/proc/self/exe", argv);
            ::_exit(127);
        }
        (void)!::write(report[1], &orphan, sizeof orphan);
        ::_exit(0);
    }
    ::close(report[1]);
    ::close(output[1]);
    ASSERT_GT(maker, 0);
    int status = 0;
    ASSERT_EQ(::waitpid(maker, &status, 0), maker);
    pid_t orphan = -1;
    ASSERT_EQ(::read(report[0], &orphan, sizeof orphan), static_cast<ssize_t>(sizeof orphan));
    std::string out;
    char buffer[4096];
    for (ssize_t n; (n = ::read(output[0], buffer, sizeof buffer)) > 0;)
        out.append(buffer, static_cast<std::size_t>(n));
    ASSERT_EQ(::waitpid(orphan, &status, 0), orphan);
    ::close(report[0]);
    ::close(output[0]);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "status " << status << ": " << out;
    EXPECT_NE(out.find("mproc: the process that started this one is gone"), std::string::npos) << out;
    EXPECT_EQ(out.find("variable gone"), std::string::npos) << "the orphan ran main: " << out;
}

// A program may set the variable itself after mproc::init (or never call init, using fork only):
// starting a process is not refused as if it were a spawned child whose main() skipped init.
const mproc::test::RegisterRole variable_set_after_init_role("variable-set-after-init", [] {
    ::setenv("MPROC_BOOTSTRAP_FD", "5", 1);
    mproc::Process child(mproc::ProcessOptions{.start_method = StartMethod::fork}, exit_quietly);
    child.start();
    child.join();
    std::printf("exit code %d\n", child.exitcode().value_or(-1000));
    return 0;
});

TEST(StartMethodSettings, StrayBootstrapVariableDoesNotStopAProgramThatSkippedInit) {
    const auto run = mproc::test::run_self("variable-set-after-init");
    EXPECT_EQ(run.exitcode, 0) << run.err;
    EXPECT_EQ(run.out, "exit code 0\n") << run.err;
}
