// mproc/mpi.hpp: mproc::mpi::Pool, the same Pool run across the ranks of an MPI job, so that one
// program uses many machines (Python's mpi4py.futures). Link mproc::mpi.
//
//   int square(int x) { return x * x; }
//
//   int main(int argc, char** argv) {
//       mproc::init(argc, argv);       // ranks 1..N-1 serve tasks here and never return
//       mproc::mpi::Pool pool;         // the one line that differs from a local mproc::Pool
//       auto squares = pool.map(square, std::vector{1, 2, 3});
//   }
//
//   $ mpirun -n 4 ./app                           # one machine: rank 0 + 3 worker ranks
//   $ mpirun --hostfile hosts -n 17 ./app         # a cluster (see docs/mpi.md)
//
// Rank 0 runs main; every other rank becomes a worker inside mproc::init and leaves the program
// (exit code 0) once rank 0 has finished. Everything else is the Pool API of pool.hpp: map,
// map_async, imap, imap_unordered, starmap, apply, apply_async, callbacks, chunksize, progress,
// exceptions rethrown in rank 0 with their type and message. Functions, arguments and results
// travel as they do to local workers (serialize.hpp): all ranks run the same binary. Tasks are
// handed to whichever rank has room, so uneven tasks balance.
//
// What differs from mproc::Pool:
//   - Shared objects (Value, Array, Lock, Queue, ...) live in one machine's memory: a task whose
//     arguments or result hold one fails with mproc::SerializationError.
//   - Tasks must not make MPI calls: mproc's traffic has the ranks to itself while they serve.
//   - A rank runs tasks in its own process unless PoolOptions::local_processes is set. Then a
//     crashing task fails alone (mproc::WorkerCrashed) and per-task timeouts work; without local
//     processes a task with a timeout fails with mproc::Error, and a crash takes the rank down,
//     which MPI answers by aborting the whole job (mpirun reports the rank that died).
//   - terminate() drops queued tasks at once; a task already running on a rank without local
//     processes cannot be interrupted: join() waits for it and discards its result.
//   - One mproc::mpi::Pool may exist at a time (the worker ranks serve one pool); a second throws
//     mproc::StateError. Pools one after another are fine.
//   - Launched without an MPI launcher (or with a single rank), mproc::mpi::Pool is a local
//     mproc::Pool of local_processes workers (cpu_count() if 0): the program still runs.
//
// Worker ranks become workers in mproc::init, the first line of main. A program that does not call
// it still works: worker ranks then divert in the mproc::mpi::Pool constructor, so whatever main
// does before it runs on every rank.
#pragma once

#include <cstddef>
#include <string>

#include <mproc/init.hpp>
#include <mproc/pool.hpp>

namespace mproc::mpi {

/// Options of mproc::mpi::Pool.
struct PoolOptions {
    /// Worker processes each worker rank runs its tasks on (a local mproc::Pool per rank: one rank
    /// per node then uses every core of it). 0: each rank runs its tasks itself, one at a time.
    int local_processes = 0;
    /// Run once on every rank (or by every local worker) before its first task; if it throws, the
    /// Pool constructor throws it.
    Call initializer;
    /// Largest message of the local pools (see mproc::PoolOptions). A message between ranks is at
    /// most 2 GiB - 1 (an MPI count); a larger task or result fails with SerializationError.
    std::size_t max_message_size = std::size_t{4} << 30;
};

/// A Pool whose workers are the other ranks of an MPI job. Python: mpi4py.futures.MPIPoolExecutor.
/// Every method, error and thread-safety rule of mproc::Pool applies. Without an MPI launcher it
/// runs the tasks in local worker processes instead ("the local fallback").
///
/// Thread safety: as mproc::Pool; any number of threads may use one pool at once. Cost: a task is
/// one MPI round trip to a worker rank.
class Pool : public mproc::Pool {
public:
    /// Every other rank serves this pool; as mpi::Pool(PoolOptions{}).
    Pool() : Pool(PoolOptions{}) {}
    /// Throws what the initializer threw; mproc::StateError on a rank other than 0 (in a task);
    /// mproc::Error if the MPI library lacks the thread support the pool needs;
    /// std::invalid_argument for a negative local_processes.
    explicit Pool(const PoolOptions& options);

    /// Worker ranks serving this pool (0 for the local fallback). processes() is the number of
    /// tasks the pool runs at once: worker ranks, times local_processes if set.
    int ranks() const noexcept { return ranks_; }

private:
    int ranks_ = 0;
};

/// Whether this program was started by an MPI launcher (mpirun, mpiexec, srun --mpi=pmix), decided
/// from the environment the launcher sets. The backend initializes MPI only then: a program run
/// without a launcher never touches MPI.
bool launched() noexcept;
/// This process's rank in MPI_COMM_WORLD, and how many there are (0 and 1 when not launched).
/// Valid once mproc::init (or an mproc::mpi::Pool) has started MPI. Worker ranks answer their own
/// rank, so a task may ask where it runs.
int rank() noexcept;
/// The number of processes in MPI_COMM_WORLD (1 when not launched). Python:
/// MPI.COMM_WORLD.Get_size().
int world_size() noexcept;
/// The name of the host this process runs on.
std::string processor_name();

namespace detail {

// Turns worker ranks into workers; see mproc::init.
void init_hook(int argc, char** argv);
inline const bool init_hook_registered = mproc::detail::register_init_hook(&init_hook);

}  // namespace detail
}  // namespace mproc::mpi
