#pragma once

namespace mproc::os {

// CPUs this process may use: the affinity mask, limited by a cgroup v2 CPU quota. At least 1.
int usable_cpu_count();

}  // namespace mproc::os
