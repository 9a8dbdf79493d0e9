// mproc/init.hpp: mproc::init, the first line of main in programs that start processes by
// re-executing themselves.
//
//   int main(int argc, char** argv) {
//       mproc::init(argc, argv);   // a worker serves here and never returns
//       ...
//   }
//
// Under the "spawn" start method a worker is a fresh run of the same program, as is the fork
// server of "forkserver", and under MPI every rank runs it; init is where such a process turns
// into a worker (or the server), before main does anything else. In the process the user started
// it returns at once (under "forkserver" it first starts the server, without waiting for it).
// Programs using only "fork" need not call it.
//
// A program started by spawn finds its work through the environment variable MPROC_BOOTSTRAP_FD.
// init takes it only from a genuine launcher (see docs/start_methods.md); any other value is
// removed from the environment and ignored, with a warning on stderr.
#pragma once

#include <mproc/detail/config.hpp>

namespace mproc {

/// Turns a process started as a worker (spawn, forkserver, an MPI rank) into one; returns at once
/// in the program's own process. Call it first in main: see the top of this file. Python: the
/// `if __name__ == "__main__":` guard and multiprocessing.freeze_support() together. Throws
/// mproc::OSError if the fork server cannot be started. Call it once, from the main thread.
void init(int argc, char** argv);

/// Whether init has run in this process.
bool initialized() noexcept;

namespace detail {

// Run by init, in registration order, after mproc's own start-up. A hook that turns the process
// into a worker does not return. Optional components (MPI) register one from a header, through an
// inline variable, so that including the header is enough. Returns true, for that variable.
using InitHook = void (*)(int argc, char** argv);
bool register_init_hook(InitHook hook);

}  // namespace detail
}  // namespace mproc
