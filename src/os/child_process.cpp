#include "os/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <vector>

#include "os/poll.hpp"
#include "os/syscall.hpp"
#include "os/threads.hpp"

namespace mproc::os {
namespace {

std::vector<void (*)()>& fork_child_callbacks() {
    static std::vector<void (*)()> callbacks;
    return callbacks;
}

void run_fork_child_callbacks() {
    for (auto callback : fork_child_callbacks()) callback();
}

// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the process. Children forked
// from a short-lived thread would die with it, so such forks are made by this thread instead,
// which lives as long as the process.
class Forker {
public:
    explicit Forker(Forker* previous) : previous_(previous) {}

    // Runs job on the forking thread; an error if that thread cannot be started.
    SysResult run(const std::function<void()>& job) {
        std::exception_ptr error;
        bool done = false;
        {
            std::lock_guard lock(mutex_);
            // Started before the job is queued: if it cannot be, no job is left behind referring
            // to this frame.
            if (!thread_started_) {
                auto thread = start_thread([this] {
                    InternalThread mark;
                    serve();
                });
                if (!thread) return SysError{"cannot start a thread (the thread that forks for other threads)", thread.error().code};
                thread.value().detach();
                thread_started_ = true;
            }
            jobs_.push_back([&] {
                try {
                    job();
                } catch (...) {
                    error = std::current_exception();
                }
                std::lock_guard done_lock(mutex_);
                done = true;
                done_.notify_all();
            });
        }
        wake_.notify_one();
        std::unique_lock lock(mutex_);
        done_.wait(lock, [&] { return done; });
        if (error) std::rethrow_exception(error);
        return {};
    }

private:
    [[noreturn]] void serve() {
        for (;;) {
            std::function<void()> job;
            {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return !jobs_.empty(); });
                job = std::move(jobs_.front());
                jobs_.pop_front();
            }
            job();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::deque<std::function<void()>> jobs_;
    bool thread_started_ = false;
    [[maybe_unused]] Forker* previous_;  // only keeps the old one reachable
};

// Never destroyed (children may be forked while the program exits). A forked child gets a fresh
// one: its copy of the old one refers to a thread that was not copied, and may hold a lock. The
// old one stays reachable through `previous`, so that leak checkers do not report it.
Forker* forker = [] {
    at_fork_child([] { forker = new Forker(forker); });
    return new Forker(nullptr);
}();

// Direct system calls: glibc 2.36's <sys/pidfd.h> lacks C++ linkage.
int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

bool on_main_thread() { return ::gettid() == ::getpid(); }

[[noreturn]] void run_child(const std::function<int()>& body, const ForkOptions& options,
                            pid_t parent, const sigset_t& parent_mask) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The parent may have died before prctl: then nobody would ever send the signal.
    if (::getppid() != parent) ::_exit(1);
    if (options.new_process_group) ::setpgid(0, 0);
    // If the child's code calls exit(), leave right there with its status: the atexit handlers
    // and static destructors registered before the fork belong to the parent, and would act on
    // its state (or run a leak checker over objects that only the parent's other threads hold).
    ::on_exit(
        [](int status, void*) {
            std::fflush(nullptr);
            ::_exit(status);
        },
        nullptr);
    ::pthread_sigmask(SIG_SETMASK, &parent_mask, nullptr);
    int code = 1;
    try {
        code = body();
    } catch (...) {
        // body is expected to report its own errors; this only keeps an escaping exception
        // from unwinding into the parent's stack frames.
    }
    std::fflush(nullptr);
    ::_exit(code);
}

int exitcode_from(const siginfo_t& info) {
    if (info.si_code == CLD_EXITED) return info.si_status;
    return -info.si_status;  // CLD_KILLED or CLD_DUMPED
}

}  // namespace

void close_descriptors_except(int keep) noexcept {
    if (keep > 3) ::close_range(3, static_cast<unsigned>(keep) - 1, 0);
    ::close_range(static_cast<unsigned>(std::max(keep + 1, 3)), ~0u, 0);
}

void set_signal_ignored(int signal, bool ignored) noexcept { ::signal(signal, ignored ? SIG_IGN : SIG_DFL); }

void at_fork_child(void (*callback)()) {
    static const bool registered = [] {
        ::pthread_atfork(nullptr, nullptr, &run_fork_child_callbacks);
        return true;
    }();
    (void)registered;
    fork_child_callbacks().push_back(callback);
}

void hold_across_fork(void (*lock)(), void (*unlock)()) { ::pthread_atfork(lock, unlock, unlock); }

namespace {

// Runs `start`, which makes a child, on a thread that lives as long as the process: this one if
// it is the main thread, the Forker's otherwise (see Forker).
template <class Start>
Result<ChildProcess> on_lasting_thread(Start&& start) {
    if (on_main_thread()) return start();
    std::optional<Result<ChildProcess>> started;
    if (const auto ran = forker->run([&] { started.emplace(start()); }); !ran) return ran.error();
    return std::move(*started);
}

}  // namespace

Result<ChildProcess> ChildProcess::owning(int pid, const ForkOptions& options) {
    ChildProcess child;
    child.pid_ = pid;
    child.own_group_ = options.new_process_group;
    // An unreaped child keeps its pid, so opening the pidfd after it started is race-free.
    auto pidfd = sys_call("pidfd_open", [&] { return pidfd_open(pid); });
    if (!pidfd) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        return pidfd.error();
    }
    child.pidfd_.reset(pidfd.value());
    return child;
}

Result<ChildProcess> ChildProcess::fork(const std::function<int()>& body, const ForkOptions& options) {
    return on_lasting_thread([&]() -> Result<ChildProcess> {
        // Unflushed stdio buffers would otherwise be printed twice, once by each process.
        std::fflush(nullptr);
        // No signal handler may run in the child before it has set itself up.
        sigset_t all, previous;
        ::sigfillset(&all);
        ::pthread_sigmask(SIG_SETMASK, &all, &previous);
        const pid_t parent = ::getpid();
        const pid_t pid = ::fork();
        if (pid == 0) run_child(body, options, parent, previous);
        const int fork_error = errno;
        ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        if (pid < 0) return SysError{"fork", fork_error};
        // Also set here: the parent may signal the group before the child ran setpgid. (posix_spawn
        // returns once the child has its group.)
        if (options.new_process_group) ::setpgid(pid, pid);
        return ChildProcess::owning(pid, options);
    });
}

namespace {

std::vector<std::string> own_argv() {
    std::ifstream file("/proc/self/cmdline", std::ios::binary);
    std::vector<std::string> args;
    std::string arg;
    while (std::getline(file, arg, '\0')) args.push_back(arg);
    return args;
}

}  // namespace

Result<ChildProcess> ChildProcess::exec_self(int inherited_fd, const std::string& environment, const ForkOptions& options) {
    static const std::vector<std::string> args = own_argv();
    std::vector<char*> argv;
    for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const std::string name = environment.substr(0, environment.find('=') + 1);
    std::vector<char*> envp;
    for (char** entry = environ; *entry; ++entry)
        if (std::string_view(*entry).substr(0, name.size()) != name) envp.push_back(*entry);
    envp.push_back(const_cast<char*>(environment.c_str()));
    envp.push_back(nullptr);

    // posix_spawn, not fork and exec: its child shares our memory until it executes, where a fork
    // first copies our page tables, which the new program then throws away; that copy grows with
    // what the parent holds (see start_method_bench's rows for a parent holding 1 GiB). Nothing
    // of ours runs in the child before the exec, so the new program asks for its parent-death
    // signal itself (die_with_parent).
    // It gets stdio and its socket, nothing else of ours (as Python's spawn), and stdin on
    // /dev/null. /dev/null is opened here, above 3, so that a sandbox without it costs only that.
    UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
    if (null && null.get() <= inherited_fd_in_new_program)
        null.reset(::fcntl(null.get(), F_DUPFD_CLOEXEC, inherited_fd_in_new_program + 1));
    struct SpawnSettings {
        posix_spawn_file_actions_t actions;
        posix_spawnattr_t attributes;
        SpawnSettings() {
            ::posix_spawn_file_actions_init(&actions);
            ::posix_spawnattr_init(&attributes);
        }
        ~SpawnSettings() {
            ::posix_spawnattr_destroy(&attributes);
            ::posix_spawn_file_actions_destroy(&actions);
        }
        SpawnSettings(const SpawnSettings&) = delete;
        SpawnSettings& operator=(const SpawnSettings&) = delete;
    } settings;
    auto* actions = &settings.actions;
    int error = ::posix_spawn_file_actions_adddup2(actions, inherited_fd, inherited_fd_in_new_program);
    // Where this program has no stdout or stderr (closed, close-on-exec, or the number that
    // inherited_fd got), the child gets /dev/null: otherwise the first descriptor it opens would
    // take that number, and whatever it prints would be written into it.
    for (const int stdio : {1, 2}) {
        const int flags = ::fcntl(stdio, F_GETFD);
        if (error || !(stdio == inherited_fd || flags < 0 || (flags & FD_CLOEXEC))) continue;
        if (null)
            error = ::posix_spawn_file_actions_adddup2(actions, null.get(), stdio);
        else if (stdio == inherited_fd)
            error = ::posix_spawn_file_actions_addclose(actions, stdio);
    }
    if (!error && null) error = ::posix_spawn_file_actions_adddup2(actions, null.get(), 0);
    if (!error) error = ::posix_spawn_file_actions_addclosefrom_np(actions, inherited_fd_in_new_program + 1);
    if (error) return SysError{"posix_spawn_file_actions", error};
    // The caller's signal mask, as a fork from the caller's thread would give (the start may run
    // on the Forker's thread).
    sigset_t mask;
    ::pthread_sigmask(SIG_BLOCK, nullptr, &mask);
    ::posix_spawnattr_setsigmask(&settings.attributes, &mask);
    short flags = POSIX_SPAWN_SETSIGMASK;
    if (options.new_process_group) {
        flags |= POSIX_SPAWN_SETPGROUP;
        ::posix_spawnattr_setpgroup(&settings.attributes, 0);
    }
    ::posix_spawnattr_setflags(&settings.attributes, flags);
    return on_lasting_thread([&]() -> Result<ChildProcess> {
        pid_t pid = -1;
        if (const int failed =
                ::posix_spawn(&pid, "/proc/self/exe", actions, &settings.attributes, argv.data(), envp.data()))
            return SysError{"posix_spawn", failed};
        return ChildProcess::owning(pid, options);
    });
}

int die_with_parent() noexcept {
    int previous = 0;
    ::prctl(PR_GET_PDEATHSIG, &previous);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    return previous;
}

void restore_parent_death_signal(int previous) noexcept { ::prctl(PR_SET_PDEATHSIG, previous); }

bool has_exited(int pid) noexcept {
    const int pidfd = pidfd_open(pid);
    if (pidfd < 0) return errno == ESRCH;
    // A pidfd is readable once its process has exited, reaped or not.
    pollfd exited{pidfd, POLLIN, 0};
    const bool gone = ::poll(&exited, 1, 0) == 1;
    ::close(pidfd);
    return gone;
}

Result<ChildProcess> ChildProcess::adopt(int pid, bool own_group, std::function<int(int pid)> reap) {
    auto pidfd = sys_call("pidfd_open", [&] { return pidfd_open(pid); });
    if (!pidfd) return pidfd.error();
    ChildProcess child;
    child.pid_ = pid;
    child.pidfd_.reset(pidfd.value());
    child.own_group_ = own_group;
    child.reap_ = std::move(reap);
    return child;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
    if (this != &other) {
        kill_if_running();
        pid_ = std::exchange(other.pid_, -1);
        pidfd_ = std::move(other.pidfd_);
        reap_ = std::move(other.reap_);
        own_group_ = other.own_group_;
        exitcode_ = other.exitcode_;
    }
    return *this;
}

ChildProcess::~ChildProcess() { kill_if_running(); }

void ChildProcess::kill_if_running() noexcept {
    if (pidfd_ && !exitcode_) {
        signal(SIGKILL);
        try {
            (void)wait();
        } catch (...) {
            // Only an adopted child's reaper can fail, when its server is gone: nothing to reap.
        }
    }
}

Result<std::optional<int>> ChildProcess::wait(std::optional<std::chrono::nanoseconds> timeout) {
    if (exitcode_ || !pidfd_) return exitcode_;
    if (timeout) {
        // A timeout too long to be a deadline is none.
        const auto now = std::chrono::steady_clock::now();
        const auto left = std::max(*timeout, std::chrono::nanoseconds(0));
        std::optional<std::chrono::steady_clock::time_point> deadline;
        if (left < std::chrono::steady_clock::time_point::max() - now) deadline = now + left;
        const auto ready = wait_until_readable(pidfd_.get(), deadline);
        if (!ready) return SysError{"ppoll(pidfd)", ready.error().code};
        if (!ready.value()) return std::optional<int>();
    }
    if (reap_) {
        if (!timeout)
            if (const auto ready = wait_until_readable(pidfd_.get(), std::nullopt); !ready)
                return SysError{"poll(pidfd)", ready.error().code};
        exitcode_ = reap_(pid_);
        return exitcode_;
    }
    siginfo_t info{};
    const auto waited =
        sys_call("waitid", [&] { return ::waitid(P_PIDFD, static_cast<id_t>(pidfd_.get()), &info, WEXITED); });
    if (!waited) return waited.error();
    exitcode_ = exitcode_from(info);
    return exitcode_;
}

bool ChildProcess::has_exited() const noexcept {
    if (exitcode_ || !pidfd_) return true;
    pollfd fd{pidfd_.get(), POLLIN, 0};
    return ::poll(&fd, 1, 0) == 1;
}

void ChildProcess::signal(int sig) {
    if (exitcode_ || !pidfd_) return;
    // An adopted child that has exited may already be reaped by someone else (its fork server
    // died), and its process group id reused: leave it alone.
    if (reap_ && has_exited()) return;
    if (own_group_) {
        // Safe from pid reuse: until the leader is reaped, its pid (the group id) stays taken.
        ::kill(-pid_, sig);
    } else {
        pidfd_send_signal(pidfd_.get(), sig);
    }
}

}  // namespace mproc::os
