// mproc/start_method.hpp: how new processes start, as Python's multiprocessing start methods.
//
//   fork        The child is a copy of the parent at the moment of the call: globals, open files,
//               and the targets' captured state are inherited as they are. Fastest. Unsafe when
//               other threads run: a lock one of them holds (in malloc, stdio, a logger, your own
//               code) stays locked forever in the child. mproc prints one warning per process when
//               it forks a process that runs threads of the user's.
//   spawn       The child is a fresh run of the same program (/proc/self/exe, same argv) that
//               turns into a worker inside mproc::init(argc, argv), the first line of main. Nothing
//               is inherited but what static initialization builds; targets and arguments are
//               sent to it serialized. Safe with threads; slowest to start (an exec).
//   forkserver  Children are forked from a server: the program run again, as under spawn, that
//               turns into the server inside mproc::init (started there, or by set_start_method,
//               get_context or at first use). Safe with threads and nearly as fast as fork; a
//               child inherits what a spawned one does (static initialization), never the
//               parent's later state, however late the server starts. Needs mproc::init.
//
// The default is fork, or the value of the environment variable MPROC_START_METHOD; in a child,
// the method it was started with (as in Python: its own children start the same way). Under every
// method a Process target must be one that can be sent, like a Pool task: a function, a
// captureless lambda or an mproc::partial, with transferable arguments (shared objects included);
// anything else does not compile (see partial.hpp).
#pragma once

#include <mproc/detail/config.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mproc {

/// How a child process starts: Python's start methods (see docs/start_methods.md). fork: the
/// child is a copy of the calling process; spawn: the program runs again and turns into a worker
/// in mproc::init; forkserver: the child is forked from a server started early, while the
/// program was still single-threaded.
enum class StartMethod { fork, spawn, forkserver };

/// "fork", "spawn" or "forkserver". Python: the strings of the start methods.
std::string_view to_string(StartMethod method) noexcept;
/// The method of that name; std::invalid_argument for any other name (Python: ValueError).
StartMethod parse_start_method(std::string_view name);

/// Sets the default start method. As in Python it may be set once: a second call throws
/// StateError unless `force` is true. A child's default counts as set (to its own method).
/// Python: multiprocessing.set_start_method (which raises RuntimeError). Thread safety: safe
/// to call from any thread (the setting is atomic); set it once, at the start of main.
void set_start_method(StartMethod method, bool force = false);
/// As set_start_method(StartMethod, bool), by name; std::invalid_argument for an unknown name.
void set_start_method(std::string_view name, bool force = false);
/// The default start method. Python: multiprocessing.get_start_method(). Thread-safe: one atomic
/// load.
StartMethod get_start_method() noexcept;
/// Every method this platform offers, the default first. Python:
/// multiprocessing.get_all_start_methods().
std::vector<StartMethod> get_all_start_methods();

/// Whether a fork from a process that runs threads of its own prints a warning (on by default;
/// the environment variable MPROC_FORK_WARNING=0 turns it off too).
void set_fork_warning(bool enabled) noexcept;

}  // namespace mproc
