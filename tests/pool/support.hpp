// What the pool's tests share: task functions, hang bounds, pipes, stderr capture, a
// generator-like input range, crashing on purpose. The tests themselves are split by behaviour
// into the other files of this folder, which together make the program pool_test.
#pragma once

#include <mproc/pool.hpp>
#include <mproc/sync.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <ranges>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <typeinfo>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "support/children.hpp"
#include "support/descriptor.hpp"
#include "support/leak_check.hpp"
#include "support/start_methods.hpp"

namespace pool_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using mproc::test::LeakCheck;
using mproc::test::resident_bytes;

inline double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

inline void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

inline int square(int x) { return x * x; }
inline int sleep_then_square(int ms, int x) {
    sleep_ms(ms);
    return x * x;
}
inline int sleep_for_ms(int ms) {
    sleep_ms(ms);
    return ms;
}
inline int multiply(int a, int b) { return a * b; }

inline std::vector<int> squares(int n) {
    std::vector<int> out;
    for (int i = 0; i < n; ++i) out.push_back(i * i);
    return out;
}

template <class T>
std::vector<T> sorted(std::vector<T> values) {
    std::ranges::sort(values);
    return values;
}

template <class Range>
auto collect(Range&& results) {
    std::vector<std::remove_cvref_t<decltype(*results.begin())>> out;
    for (auto&& value : results) out.push_back(value);
    return out;
}

// Runs body on another thread and fails the test if it takes longer than `limit`. A body still
// running then gets `rescue` (typically pool.terminate()) and 10 more seconds; if even that does not
// end it, the binary exits with a message instead of hanging every later test.
template <class Body>
bool finishes_within(std::chrono::duration<double> limit, Body body, const std::function<void()>& rescue = {}) {
    auto future = std::async(std::launch::async, std::move(body));
    if (future.wait_for(limit) == std::future_status::ready) {
        future.get();
        return true;
    }
    ADD_FAILURE() << "did not finish within " << limit.count() << " s (hang)";
    if (rescue) rescue();
    if (future.wait_for(10s) != std::future_status::ready) {
        std::fprintf(stderr, "pool_test: still hung after the rescue; exiting\n");
        std::_Exit(3);
    }
    try {
        future.get();
    } catch (...) {
    }
    return false;
}

// Fails the test and runs `rescue` (typically pool.terminate()) if it is not destroyed within
// `limit`: for calls that must not hang but have to be made on the test's own thread.
class Watchdog {
public:
    Watchdog(std::chrono::duration<double> limit, std::function<void()> rescue)
        : thread_([this, limit, rescue = std::move(rescue)] {
              std::unique_lock lock(mutex_);
              if (!disarmed_.wait_for(lock, limit, [&] { return done_; })) {
                  ADD_FAILURE() << "did not finish within " << limit.count() << " s (hang)";
                  lock.unlock();
                  rescue();
              }
          }) {}
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        disarmed_.notify_all();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable disarmed_;
    bool done_ = false;
    std::thread thread_;
};

// Waits until pred() holds or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = Clock::now() + limit;
    while (!pred()) {
        if (Clock::now() > deadline) return false;
        sleep_ms(2);
    }
    return true;
}

inline bool contains(const std::vector<int>& values, int value) { return std::ranges::find(values, value) != values.end(); }

// Sends sig to pid only if it is still a child of this process (no pid-reuse accident: the check
// is made through a pidfd that pins the process).
inline bool signal_own_child(int pid, int sig) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) return false;
    // Ours: a child, or under forkserver a child of our fork server.
    const int parent = mproc::test::parent_of(pid);
    const bool ours = parent == ::getpid() || (parent > 0 && mproc::test::parent_of(parent) == ::getpid());
    const bool sent = ours && ::syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) == 0;
    ::close(fd);
    return sent;
}

// Dead means gone, or a zombie waiting for a reaper that is not us.
inline bool process_gone(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close = line.rfind(')');
    return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

// A pipe whose write end tasks in workers may write to (workers inherit it when forked after it).
struct Pipe {
    int read_end = -1, write_end = -1;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
        read_end = fds[0];
        write_end = fds[1];
    }
    ~Pipe() {
        ::close(read_end);
        ::close(write_end);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    // Reads exactly n bytes (blocking).
    std::string read_exactly(std::size_t n) {
        std::string text;
        char buffer[256];
        while (text.size() < n) {
            const ssize_t got = ::read(read_end, buffer, std::min(sizeof buffer, n - text.size()));
            if (got <= 0) break;
            text.append(buffer, static_cast<std::size_t>(got));
        }
        return text;
    }
    // Whatever is there now.
    std::string read_available() {
        const int flags = ::fcntl(read_end, F_GETFL);
        ::fcntl(read_end, F_SETFL, flags | O_NONBLOCK);
        std::string text;
        char buffer[256];
        for (ssize_t got; (got = ::read(read_end, buffer, sizeof buffer)) > 0;)
            text.append(buffer, static_cast<std::size_t>(got));
        ::fcntl(read_end, F_SETFL, flags);
        return text;
    }
};

// Redirects fd 2 into a temporary file until text() is called.
class CaptureStderr {
public:
    CaptureStderr() {
        std::fflush(stderr);
        file_ = std::tmpfile();
        saved_ = ::fcntl(2, F_DUPFD_CLOEXEC, 3);
        ::dup2(::fileno(file_), 2);
    }
    ~CaptureStderr() { restore(); }
    std::string text() {
        restore();
        std::string out;
        if (!file_) return text_;
        std::rewind(file_);
        char buffer[4096];
        for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, file_)) > 0;) out.append(buffer, got);
        std::fclose(file_);
        file_ = nullptr;
        text_ = out;
        return out;
    }

private:
    void restore() {
        if (saved_ < 0) return;
        std::fflush(stderr);
        ::dup2(saved_, 2);
        ::close(saved_);
        saved_ = -1;
    }
    std::FILE* file_ = nullptr;
    int saved_ = -1;
    std::string text_;
};

// A generator-like input range: input-only, of unknown length (not sized, single pass). Yields
// 0, 1, 2, ... up to `count` items (endless when count < 0, up to a safety cap of 10 million so
// that an implementation that reads eagerly fails the test instead of hanging it). Copies share
// their position, as copies of a generator's handle would.
class Generated : public std::ranges::view_interface<Generated> {
    struct State {
        int next = 0;
        int count = -1;
    };

public:
    static constexpr int safety_cap = 10'000'000;

    Generated() = default;
    explicit Generated(int count) : state_(std::make_shared<State>(State{0, count})) {}

    class iterator {
    public:
        using value_type = int;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(State* state) : state_(state) {}
        int operator*() const { return state_->next; }
        iterator& operator++() {
            ++state_->next;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const iterator& it, std::default_sentinel_t) {
            const int limit = it.state_->count < 0 ? safety_cap : it.state_->count;
            return it.state_->next >= limit;
        }

    private:
        State* state_ = nullptr;
    };

    iterator begin() const { return iterator(state_.get()); }
    std::default_sentinel_t end() const { return {}; }
    // Items read from it so far.
    int pulled() const { return state_->next; }

private:
    std::shared_ptr<State> state_;
};

static_assert(std::ranges::input_range<Generated> && std::ranges::view<Generated>);
static_assert(!std::ranges::forward_range<Generated> && !std::ranges::sized_range<Generated>);

inline double cpu_seconds_of_this_process() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// An exception type of the user's own: not an mproc::Error, not a standard one.
struct ParseError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Crashing without leaving a core file behind.
enum class Crash { sigkill, sigsegv, abort, exit3, underscore_exit3 };

[[noreturn]] inline void crash(Crash how) {
    rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    switch (how) {
        case Crash::sigkill: ::kill(::getpid(), SIGKILL); break;
        case Crash::sigsegv: ::raise(SIGSEGV); break;
        case Crash::abort: std::abort();
        case Crash::exit3: std::exit(3);
        case Crash::underscore_exit3: ::_exit(3);
    }
    ::pause();
    ::_exit(99);
}

}  // namespace pool_test
