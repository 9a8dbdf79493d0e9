// mproc/mproc.hpp: everything mproc offers, in one include.
#pragma once

#include <mproc/async_result.hpp>
#include <mproc/connection.hpp>
#include <mproc/context.hpp>
#include <mproc/errors.hpp>
#include <mproc/fixed_string.hpp>
#include <mproc/futures.hpp>
#include <mproc/init.hpp>
#include <mproc/log.hpp>
#include <mproc/manager.hpp>
#include <mproc/partial.hpp>
#include <mproc/pipe.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/queue.hpp>
#include <mproc/serialize.hpp>
#include <mproc/shareable_list.hpp>
#include <mproc/shared.hpp>
#include <mproc/shared_dict.hpp>
#include <mproc/shared_memory.hpp>
#include <mproc/start_method.hpp>
#include <mproc/sync.hpp>
#include <mproc/thread_pool.hpp>

/// @namespace mproc
/// @brief Python's multiprocessing for C++: Pool, Process, shared values and arrays, locks and
/// other synchronization primitives, queues, pipes, SharedMemory and the three start methods.
///
/// Python's behaviour is the specification, except where README.md says mproc differs on
/// purpose. Every error is an mproc::Error subclass (errors.hpp).

/// @namespace mproc::mpi
/// @brief The MPI backend (mpi.hpp): mproc::mpi::Pool runs a Pool's tasks on the ranks of an MPI
/// job.
