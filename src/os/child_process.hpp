// A forked child process, owned through a pidfd so that waiting and signalling can never hit a
// recycled pid, and reaped only by pid (never waitpid(-1), which would steal the user's children).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "os/result.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {

struct ForkOptions {
    // Put the child in a process group of its own, so that it and anything it starts can be
    // killed together.
    bool new_process_group = false;
};

class ChildProcess {
public:
    // Forks. The child runs `body` with the parent's signal mask, then leaves through _exit with
    // the value it returns (stdio flushed; atexit handlers and static destructors do not run).
    // The child is killed by SIGKILL if this process dies, however it dies.
    static Result<ChildProcess> fork(const std::function<int()>& body, const ForkOptions& options = {});
    // The descriptor number that exec_self's `inherited_fd` has in the new program.
    static constexpr int inherited_fd_in_new_program = 3;
    // Starts a fresh run of this program (/proc/self/exe with this process's argv), with
    // `environment` added to the environment and stdin on /dev/null. `inherited_fd` is open in it
    // as inherited_fd_in_new_program; no other descriptor of ours is, but stdout and stderr.
    // Unlike fork's, the new program is not killed with this process until it calls
    // die_with_parent().
    static Result<ChildProcess> exec_self(int inherited_fd, const std::string& environment, const ForkOptions& options = {});
    // Takes charge of a child that another process forked and will reap for us: `reap(pid)` waits
    // for its exit code once it has exited (see ForkServer).
    static Result<ChildProcess> adopt(int pid, bool own_group, std::function<int(int pid)> reap);

    ChildProcess() = default;
    ChildProcess(ChildProcess&&) noexcept = default;
    ChildProcess& operator=(ChildProcess&&) noexcept;
    // A child that was never reaped is killed and reaped: an owner leaves no zombie behind.
    ~ChildProcess();

    int pid() const noexcept { return pid_; }
    // Readable once the child has exited; for poll/epoll.
    int pidfd() const noexcept { return pidfd_.get(); }

    // Waits until the child exits or the timeout passes (no timeout: waits forever). Returns the
    // exit code as Python reports it (the status, or minus the killing signal), or nothing if the
    // child is still running.
    [[nodiscard]] Result<std::optional<int>> wait(std::optional<std::chrono::nanoseconds> timeout = std::nullopt);
    // Non-blocking: the exit code if the child has exited (reaping it), nothing otherwise.
    [[nodiscard]] Result<std::optional<int>> poll() { return wait(std::chrono::nanoseconds{0}); }
    std::optional<int> exitcode() const noexcept { return exitcode_; }
    // Whether the child has exited, without reaping it.
    bool has_exited() const noexcept;

    // Sends sig to the child (to its whole process group when it has one). No effect once reaped.
    void signal(int sig);

private:
    // Takes charge of our child `pid`, just started.
    static Result<ChildProcess> owning(int pid, const ForkOptions& options);
    void kill_if_running() noexcept;

    int pid_ = -1;
    UniqueFd pidfd_;
    std::function<int(int pid)> reap_;  // for adopted children
    bool own_group_ = false;
    std::optional<int> exitcode_;
};

// Asks for SIGKILL when this process's parent dies, as ChildProcess::fork's children have it from
// their start: for a program started by exec_self, first thing. If the parent died before, nothing
// will come: check after calling this that the parent is still the one that started us. Returns
// the signal asked for before (0: none), for restore_parent_death_signal.
int die_with_parent() noexcept;
void restore_parent_death_signal(int previous) noexcept;

// Whether process `pid` has exited (a zombie counts as exited) or never was, whoever its parent.
bool has_exited(int pid) noexcept;

// Closes every descriptor from 3 up but `keep`, so that a fork server or a helper process keeps
// only what it is given. Only system calls: safe between fork and exec.
void close_descriptors_except(int keep) noexcept;

// Runs after fork() in every child, mproc's or the user's: subsystems holding per-process state
// (lists of children, helper threads that did not survive the fork) reset it here. Registered
// callbacks run in registration order. Call from a static initializer or before forking.
void at_fork_child(void (*callback)());
// For a lock that guards per-process state the child keeps: `lock` runs in the forking thread
// just before fork(), `unlock` just after it in both processes, so that no other thread holds the
// lock (leaving the state half-changed) at the moment of the fork. Call once per lock; the lock
// must never be held across a fork by the thread that forks.
void hold_across_fork(void (*lock)(), void (*unlock)());

// Whether `signal` is ignored (SIG_IGN) or gets its default action (SIG_DFL) in this process.
void set_signal_ignored(int signal, bool ignored) noexcept;

}  // namespace mproc::os
