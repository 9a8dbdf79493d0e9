#pragma once

#include <cstddef>
#include <span>

#include "launch.hpp"
#include "os/event_fd.hpp"
#include "pool/channel.hpp"

namespace mproc::pool {

// The whole life of a worker process: run the initializer, then tasks until told to exit or
// until `max_tasks` have run. The initializer's descriptors are inherited through the fork.
// Descriptors of shared objects in tasks and replies travel on
// `fd_socket`. Returns the process's exit code.
// `signals` is mapped read-only here (see pool/channel.hpp).
int run_worker(Channel& channel, const PoolSignals& signals, ReplyCount& reply_count, const os::EventFd& parent_wake,
               int fd_socket, std::span<const std::byte> initializer, std::span<const int> initializer_fds,
               long max_tasks);

// A worker started by spawn or forkserver runs this entry (registered beside run_worker).
inline constexpr launch::Entry worker_entry{1};

}  // namespace mproc::pool
