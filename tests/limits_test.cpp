// Resource limits: a process that runs into one gets an mproc::OSError that says so, under every
// start method; never a signal that kills it, nor an exception of another type.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>

#include <condition_variable>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/mproc.hpp>

namespace {

using namespace std::chrono_literals;
using mproc::StartMethod;

// What an attempt threw, as "OSError: <what>", "<type>: <what>", or "nothing".
template <class F>
std::string outcome_of(F&& attempt) {
    try {
        attempt();
        return "nothing";
    } catch (const mproc::OSError& error) {
        return std::string("OSError: ") + error.what();
    } catch (const std::system_error& error) {
        return std::string("std::system_error: ") + error.what();
    } catch (const std::exception& error) {
        return std::string(typeid(error).name()) + ": " + error.what();
    }
}

// The child's reports, in order; "(none)" for one it never made.
std::vector<std::string> reports(mproc::Queue<std::string>& out, std::size_t count) {
    std::vector<std::string> got;
    for (std::size_t i = 0; i < count; ++i) {
        try {
            got.push_back(out.get_nowait());
        } catch (const mproc::Empty&) {
            got.push_back("(none)");
        }
    }
    return got;
}

class Limits : public ::testing::TestWithParam<StartMethod> {
protected:
    mproc::Context context() const { return mproc::get_context(GetParam()); }

    // Runs target(out) in a child started by the method under test; returns its exit code.
    template <class F>
    int run_child(F target, mproc::Queue<std::string> out) const {
        auto child = context().Process(target, out);
        child.start();
        if (!child.join(60s)) {
            child.kill();
            child.join();
        }
        return child.exitcode().value_or(-1000);
    }
};

std::string method_name(const ::testing::TestParamInfo<StartMethod>& info) {
    return std::string(mproc::to_string(info.param));
}

INSTANTIATE_TEST_SUITE_P(, Limits, ::testing::Values(StartMethod::fork, StartMethod::spawn, StartMethod::forkserver),
                         method_name);

// --- RLIMIT_FSIZE -----------------------------------------------------------------------------

constexpr rlim_t small_file_size_limit = 1024;

// Runs in a child, which writes nothing to stdout or stderr once the limit is set: they may be
// files already larger than it.
void create_under_a_file_size_limit(mproc::Queue<std::string> out) {
    auto before = mproc::Queue<std::string>();  // made while there is no limit
    rlimit limit{};
    ::getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = small_file_size_limit;
    ::setrlimit(RLIMIT_FSIZE, &limit);
    out.put(outcome_of([] { mproc::Pool pool(1); }));
    out.put(outcome_of([] { mproc::Queue<int> queue; }));
    out.put(outcome_of([] { mproc::SharedMemory::create(1 << 20).unlink(); }));
    // An item too large for the ring goes to the queue's spill area, which the file grows into.
    out.put(outcome_of([&] { before.put(std::string(4 << 20, 'x')); }));
}

TEST_P(Limits, FileSizeLimitMakesCreatingAPoolOrQueueAnOSErrorNotSIGXFSZ) {
    auto out = context().Queue<std::string>();
    const int code = run_child(create_under_a_file_size_limit, out);
    EXPECT_EQ(code, 0) << (code == -SIGXFSZ ? "killed by SIGXFSZ" : "");
    const char* attempts[] = {"Pool", "Queue", "SharedMemory", "Queue::put of a large item"};
    const auto got = reports(out, 4);
    for (std::size_t i = 0; i < got.size(); ++i) {
        EXPECT_TRUE(got[i].starts_with("OSError: ")) << attempts[i] << ": " << got[i];
        EXPECT_NE(got[i].find("file-size limit, RLIMIT_FSIZE"), std::string::npos) << attempts[i] << ": " << got[i];
        EXPECT_NE(got[i].find(std::to_string(small_file_size_limit) + " bytes"), std::string::npos)
            << attempts[i] << ": " << got[i];
    }
}

// --- Threads that cannot be created -------------------------------------------------------------

// Makes every later thread of this process fail to start, as RLIMIT_NPROC would for any user but
// root (which that limit does not bind, and tests may run as root): threads get a default stack
// larger than the address space, which cannot be mapped, so pthread_create fails with EAGAIN.
void make_thread_creation_fail() {
    pthread_attr_t attributes;
    ::pthread_attr_init(&attributes);
    ::pthread_attr_setstacksize(&attributes, std::size_t{1} << 50);
    ::pthread_setattr_default_np(&attributes);
    ::pthread_attr_destroy(&attributes);
}

void start_without_threads(mproc::Queue<std::string> out) {
    mproc::set_fork_warning(false);  // the thread below is no hazard here
    // A thread started now, to fork from: mproc forks for a thread other than the main one
    // through a helper thread of its own, which it has yet to start.
    std::string from_thread;
    bool go = false;
    std::mutex mutex;
    std::condition_variable changed;
    std::thread other([&] {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return go; });
        from_thread = outcome_of([] {
            mproc::Process child(mproc::ProcessOptions{.start_method = StartMethod::fork}, [] {});
            child.start();
            child.join();
        });
    });
    make_thread_creation_fail();
    out.put(outcome_of([] { std::thread([] {}).join(); }));  // what the test relies on
    out.put(outcome_of([] { mproc::Pool pool(1); }));
    {
        std::lock_guard lock(mutex);
        go = true;
    }
    changed.notify_one();
    other.join();
    out.put(from_thread);
}

TEST_P(Limits, ThreadThatCannotBeCreatedIsAnOSError) {
    auto out = context().Queue<std::string>();
    EXPECT_EQ(run_child(start_without_threads, out), 0);
    const auto got = reports(out, 3);
    ASSERT_TRUE(got[0].starts_with("std::system_error")) << "thread creation did not fail: " << got[0];
    EXPECT_TRUE(got[1].starts_with("OSError: ")) << "Pool: " << got[1];
    EXPECT_TRUE(got[2].starts_with("OSError: ")) << "fork from a thread: " << got[2];
    for (const auto& report : {got[1], got[2]})
        EXPECT_NE(report.find("cannot start a thread"), std::string::npos) << report;
}

}  // namespace
