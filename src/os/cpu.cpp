#include "os/cpu.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>

namespace mproc::os {
namespace {

int affinity_cpu_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    return CPU_COUNT(&set);
}

// cpu.max holds "<quota> <period>" in microseconds, or "max <period>" when unlimited. Only the
// cgroup this process is in is read; limits of its ancestors are rarely stricter in practice.
int cgroup_cpu_limit() {
    std::ifstream membership("/proc/self/cgroup");
    std::string line, path;
    while (std::getline(membership, line))
        if (line.rfind("0::", 0) == 0) path = line.substr(3);
    std::ifstream limit("/sys/fs/cgroup" + path + "/cpu.max");
    std::string quota;
    double period = 0;
    if (!(limit >> quota >> period) || quota == "max" || period <= 0) return 0;
    return std::max(1, static_cast<int>(std::ceil(std::stod(quota) / period)));
}

}  // namespace

int usable_cpu_count() {
    int count = affinity_cpu_count();
    if (count <= 0) count = 1;
    if (const int limit = cgroup_cpu_limit(); limit > 0) count = std::min(count, limit);
    return count;
}

namespace {
// Computed while the program starts, never on first use: a function-local static being
// initialized by one thread when another forks stays "being initialized" forever in the child.
const bool spinning_can_help = [] {
    try {
        return usable_cpu_count() > 1;
    } catch (...) {
        return false;
    }
}();
}  // namespace

bool spinning_helps() noexcept { return spinning_can_help; }

}  // namespace mproc::os
