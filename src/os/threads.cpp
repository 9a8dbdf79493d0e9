#include "os/threads.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "os/child_process.hpp"

namespace mproc::os {
namespace {

std::atomic<int> internal_threads{0};

// A forked child has only the thread that forked.
const bool reset_in_children = [] {
    at_fork_child([] { internal_threads.store(0); });
    return true;
}();

}  // namespace

Result<std::thread> start_thread(std::function<void()> body) {
    try {
        return std::thread(std::move(body));
    } catch (const std::system_error& error) {
        return SysError{"pthread_create", error.code().value()};
    }
}

void name_this_thread(std::string_view name) noexcept {
    char cut[16] = {};
    std::memcpy(cut, name.data(), std::min(name.size(), sizeof cut - 1));
    (void)::pthread_setname_np(::pthread_self(), cut);
}

int thread_count() noexcept {
    std::FILE* status = std::fopen("/proc/self/status", "re");
    if (!status) return 0;
    char line[256];
    int count = 0;
    while (std::fgets(line, sizeof line, status))
        if (std::strncmp(line, "Threads:", 8) == 0) {
            std::sscanf(line + 8, "%d", &count);
            break;
        }
    std::fclose(status);
    return count;
}

int internal_thread_count() noexcept { return internal_threads.load(); }

InternalThread::InternalThread() noexcept { internal_threads.fetch_add(1); }
InternalThread::~InternalThread() { internal_threads.fetch_sub(1); }

}  // namespace mproc::os
