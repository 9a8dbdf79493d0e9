#pragma once

namespace mproc::os {

// CPUs this process may use: the affinity mask, limited by a cgroup v2 CPU quota. At least 1.
int usable_cpu_count();

// Whether waiting by spinning can pay: only when another CPU can make progress meanwhile.
bool spinning_helps() noexcept;

// The pause between two looks at a word another CPU is about to change: a few dozen cycles. A
// spinner that re-reads the word without pause keeps taking its cache line away from the writer,
// which must take it back to write (tripling the cost of every put in a queue stream).
// Deliberately not the PAUSE instruction: virtual machines trap bursts of it ("pause-loop
// exiting") and deschedule the spinning CPU for tens of microseconds.
inline void spin_pause() noexcept {
    for (int step = 0; step < 32; ++step) asm volatile("" ::: "memory");
}

}  // namespace mproc::os
