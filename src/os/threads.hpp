// Threads: starting mproc's own helper threads, and counting threads, to tell whether forking
// this process is safe: a fork copies only the calling thread, and any lock another thread holds
// at that moment stays locked in the child.
#pragma once

#include <functional>
#include <string_view>
#include <thread>

#include "os/result.hpp"

namespace mproc::os {

// Starts a thread running `body`, as std::thread does; a thread that cannot be created (EAGAIN:
// a thread or process limit such as RLIMIT_NPROC, or no memory for its stack) is an error
// ("pthread_create"), not the std::system_error std::thread throws.
Result<std::thread> start_thread(std::function<void()> body);

// Names the calling thread as debuggers (gdb's `info threads`), ps and top show it: at most 15
// characters, a longer name is cut.
void name_this_thread(std::string_view name) noexcept;

// Threads of this process, from /proc/self/status; 0 if unknown.
int thread_count() noexcept;

// mproc's own helper threads (pool threads, the forking thread) mark themselves with this, so
// that only the user's threads count as a fork hazard: ours hold no lock a child would need.
int internal_thread_count() noexcept;
class InternalThread {
public:
    InternalThread() noexcept;
    ~InternalThread();
    InternalThread(const InternalThread&) = delete;
    InternalThread& operator=(const InternalThread&) = delete;
};

}  // namespace mproc::os
