// mproc/process.hpp: mproc::Process, a function running in a child process, as Python's
// multiprocessing.Process.
//
//   void greet(std::string name) { std::printf("hello %s\n", name.c_str()); }
//   mproc::Process p(greet, "bob");          // "bob" is kept as the std::string greet takes
//   p.start();
//   p.join();
//   assert(p.exitcode() == 0);
//
// Under the fork start method (the default) the child starts as a copy of the parent, and the
// target and its arguments are the copies it inherited; under spawn and forkserver they are sent
// to it (see start_method.hpp). Either way the target must be one that can be sent, as a Pool
// task (a function, a captureless lambda, an mproc::partial binding values to one; see
// partial.hpp), and the arguments are converted to its parameter types and checked at compile
// time (serialize.hpp). It ends when the target returns (exit code 0) or when an exception
// escapes it (the child prints "Process <name>: <type>: <what>" to stderr; exit code 1). Children
// never outlive their parent: if the parent dies, even by SIGKILL, the kernel kills them (a child
// started by spawn from the moment it enters mproc::init; one whose parent died before that exits
// there). At normal exit of the parent, daemonic children are terminated and the others are waited for.
//
// A Process object is meant to be used by one thread at a time, as in Python.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>
#include <mproc/partial.hpp>
#include <mproc/serialize.hpp>
#include <mproc/start_method.hpp>

namespace mproc {

/// Options of Process's constructor. Python: the name and daemon arguments of
/// multiprocessing.Process, plus a start method (Python's get_context(method).Process).
struct ProcessOptions {
    /// Empty: "Process-N" (for a child of a child, "Process-N:M"), as in Python.
    std::string name;
    /// Daemonic children are terminated when the parent exits instead of being waited for.
    /// Unset: inherited from the creating process.
    std::optional<bool> daemon;
    /// How the child starts (see start_method.hpp); unset: get_start_method().
    std::optional<StartMethod> start_method;
};

/// A function running in a child process. Python: multiprocessing.Process. See the top of this
/// file.
///
/// Errors: mproc::StateError for a method called in the wrong state (see each); start() throws
/// mproc::OSError when the system refuses a process, mproc::StartError when a spawned child does
/// not become a worker. An exception escaping the target does not reach the parent: the child
/// prints it and exits with code 1.
///
/// Thread safety: not thread-safe; one thread uses a Process object at a time, as in Python.
/// Separate Process objects may be used from separate threads. Cost: start() is a fork (or a
/// posix_spawn of the program under spawn, a request to the fork server under forkserver).
class Process {
public:
    /// A process that will run target(args...) once started. Python: Process(target=f,
    /// args=(...)). The arguments are converted to the target's parameter types and kept.
    template <class F, class... Args>
    explicit Process(F&& target, Args&&... args)
        : Process(ProcessOptions{}, std::forward<F>(target), std::forward<Args>(args)...) {}

    /// As Process(target, args...), with a name, daemon flag or start method.
    template <class F, class... Args>
    Process(ProcessOptions options, F&& target, Args&&... args)
        : Process(std::move(options), make_target(std::forward<F>(target), std::forward<Args>(args)...)) {}

    /// Moves the handle; the moved-from Process may only be destroyed or assigned to.
    Process(Process&&) noexcept;
    /// Moves the handle; the moved-from Process may only be destroyed or assigned to.
    Process& operator=(Process&&) noexcept;
    /// A child still running goes on running; it is reaped later (see active_children()) and, at
    /// exit, joined or terminated as described above. Nothing is left as a zombie.
    ~Process();

    /// Starts the child. Throws StateError if called twice or after close(). Python: start().
    void start();

    /// Waits for the child to exit. StateError if it was never started. Python: join().
    void join();
    /// Waits at most `timeout`; true if the child has exited. Python: join(timeout) (which
    /// returns None).
    bool join(std::chrono::duration<double> timeout);

    /// Whether the child was started and has not exited yet (reaps it if it has). Python:
    /// is_alive(). Cost: one system call, no wait.
    bool is_alive();
    /// Nothing while running or before start; then the exit status, or minus the number of the
    /// signal that killed the child (-9 for SIGKILL), exactly as Python reports it. Python:
    /// exitcode.
    std::optional<int> exitcode();
    /// Nothing before start(). Python: pid.
    std::optional<int> pid() const;
    /// A descriptor that becomes readable when the child ends (a pidfd), for
    /// mproc::connection::wait() or your own poll/epoll; it stays readable once the child has
    /// ended. Owned by the Process: valid until close() or destruction. StateError before start()
    /// and after close(). Python: sentinel.
    int sentinel() const;

    /// The name (ProcessOptions::name, or "Process-N"). Python: name.
    const std::string& name() const;
    /// Renames the process (only the name mproc reports). Python: p.name = ...
    void set_name(std::string name);
    /// Whether the child is daemonic. Python: daemon.
    bool daemon() const;
    /// Only before start(): StateError afterwards. Python: p.daemon = ...
    void set_daemon(bool daemon);

    /// SIGTERM and SIGKILL. No effect on a child that has already exited.
    /// Python: terminate() and kill().
    void terminate();
    /// Sends SIGKILL; see terminate().
    void kill();
    /// Releases the resources held for the child. StateError if it is still running; every other
    /// method except name() then throws StateError. Python: close().
    void close();

    /// The library's state of a child.
    struct Impl;  // defined by the library

private:
    struct Target {
        std::function<void()> run;
        // Writes the call as a message, for a child that does not share our memory (spawn,
        // forkserver).
        std::function<void(Writer&)> pack;
    };

    // The target and its arguments are sent as a Pool task's are, under every start method (even
    // fork, which sends nothing, so that a program does not stop compiling when its start method
    // changes): a function, a captureless lambda or an mproc::partial, called with arguments
    // converted to its parameter types (see partial.hpp and serialize.hpp).
    template <class F, class... Args>
    static Target make_target(F&& target, Args&&... args) {
        using Callable = std::decay_t<F>;
        using Arguments = detail::shipped_arguments_t<Callable, Args...>;
        static_assert(detail::invocable_with_elements<Callable, Arguments>,
                      "mproc::Process: the target cannot be called with these argument types");
        using State = std::pair<Callable, Arguments>;
        auto state = std::make_shared<State>(std::forward<F>(target), Arguments(std::forward<Args>(args)...));
        Target made;
        made.run = [state] {
            std::apply([&](auto&... call_args) { std::invoke(state->first, call_args...); }, state->second);
        };
        // Instantiated here, so that a target that cannot be sent fails to compile under every method.
        made.pack = [state](Writer& out) {
            std::apply(
                [&](const auto&... call_args) { detail::pack_call<detail::Reply::nothing>(out, state->first, call_args...); },
                state->second);
        };
        return made;
    }

    Process(ProcessOptions options, Target target);

    std::unique_ptr<Impl> impl_;
};

/// The current process, its parent, and its live children, as Python reports them.
struct ProcessInfo {
    /// The process id.
    int pid = 0;
    /// "MainProcess", or the name of its Process.
    std::string name;
    /// Whether it is daemonic.
    bool daemon = false;
};

/// This process. Python: multiprocessing.current_process().
ProcessInfo current_process();
/// Nothing in the main process. Python: multiprocessing.parent_process().
std::optional<ProcessInfo> parent_process();
/// Children started by this process that have not exited yet. Reaps those that have. Python:
/// multiprocessing.active_children().
std::vector<ProcessInfo> active_children();

/// CPUs this process may run on: its affinity mask, further limited by a cgroup CPU quota.
/// Python: os.process_cpu_count() (3.13), not multiprocessing.cpu_count(), which counts them all.
int cpu_count();

}  // namespace mproc
