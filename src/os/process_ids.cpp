#include "os/process_ids.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <fstream>
#include <string>

#include "os/child_process.hpp"

namespace mproc::os {
namespace {
thread_local int cached_thread_id = 0;
std::atomic<int> cached_process_id{0};
const bool reset_in_children = [] {
    at_fork_child([] {
        cached_thread_id = 0;
        cached_process_id.store(0, std::memory_order_relaxed);
    });
    return true;
}();
}  // namespace

int this_thread_id() noexcept {
    if (cached_thread_id == 0) cached_thread_id = static_cast<int>(::gettid());
    return cached_thread_id;
}

int this_process_id() noexcept {
    int pid = cached_process_id.load(std::memory_order_relaxed);
    if (pid == 0) {
        pid = static_cast<int>(::getpid());
        cached_process_id.store(pid, std::memory_order_relaxed);
    }
    return pid;
}

bool process_exists(int pid) noexcept {
    if (pid <= 0) return false;
    if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
    // A zombie has released everything it held; for our purposes it is gone.
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    const auto close = line.rfind(')');
    return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

}  // namespace mproc::os
