// Start methods: the same Process, Pool and shared-object programs under fork, spawn and
// forkserver; what each method inherits; the fork warning; and a parent full of busy threads.
#include <fcntl.h>
#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/mproc.hpp>

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

void sleep_forever_in_child() {
    for (;;) ::pause();
}
void exit_quietly() {}

// Killing the fork server kills its children (they die with their parent); the parent sees them
// die, SIGKILLed, instead of failing, and the next start gets a new server.
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
    auto next = ctx.Process(exit_quietly);
    next.start();
    next.join();
    EXPECT_EQ(next.exitcode(), 0);
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
