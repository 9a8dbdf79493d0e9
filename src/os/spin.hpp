// Waiting by spinning, for something another CPU is about to do.
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

#include "os/cpu.hpp"

namespace mproc::os {

// How long one waiting site spins before it sleeps: from about a microsecond to about 50. A peer
// answering within that (a pipe ping-pong, a pool worker's next task) is met awake, instead of
// paying an idle CPU's wake-up (some 20 us each way on this project's machines). It adapts:
// halved after a spin in vain, doubled after a spin that caught its event; and after a sleep that
// ended so soon that a longer spin would have caught its event, the next spin is twice the one
// that missed. (Only undoing the halving would leave a short spin that misses a peer's wake-up
// every time missing it for good: halved, doubled back, missing again.) Keep one per thread and
// waiting site.
class SpinBudget {
public:
    static constexpr int min_checks = 64;
    static constexpr int max_checks = 4096;  // about 50 us
    static constexpr std::chrono::microseconds longest_spin{50};

    int checks() const noexcept { return checks_; }
    void caught() noexcept {
        checks_ = std::min(checks_ * 2, max_checks);
        asleep_ = false;
    }
    void missed() noexcept {
        missed_checks_ = checks_;
        checks_ = std::max(checks_ / 2, min_checks);
        sleep_began_ = std::chrono::steady_clock::now();
        asleep_ = true;
    }
    // Called after the sleep that followed a missed spin (otherwise it changes nothing). A sleep
    // shorter than `grow_within` ended soon enough for a longer spin to have met its event: the
    // next spin is twice the one that missed. One shorter than `keep_within` (for a site whose
    // sleeps include wake-ups of its own, longer than any spin) leaves it as long as the one that
    // missed; a longer sleep leaves it halved.
    void woke(std::chrono::microseconds grow_within = longest_spin,
              std::chrono::microseconds keep_within = {}) noexcept {
        if (!asleep_) return;
        asleep_ = false;
        const auto slept = std::chrono::steady_clock::now() - sleep_began_;
        if (slept < grow_within)
            checks_ = std::min(missed_checks_ * 2, max_checks);
        else if (slept < keep_within)
            checks_ = missed_checks_;
    }

private:
    int checks_ = min_checks;
    int missed_checks_ = min_checks;
    bool asleep_ = false;  // since a missed spin, until woke() or a caught one
    std::chrono::steady_clock::time_point sleep_began_{};
};

// Calls `done()` every few dozen cycles until it returns true (then true) or the budget is spent
// (then false: sleep, and tell the budget when woken). Never spins where no other CPU can make
// progress meanwhile.
template <class Done>
bool spin_until(SpinBudget& budget, Done done) {
    if (!spinning_helps()) return false;
    for (int i = 0; i < budget.checks(); ++i) {
        if (done()) {
            budget.caught();
            return true;
        }
        spin_pause();
    }
    budget.missed();
    return false;
}

// spin_until, yielding this CPU every 8 looks: a peer that shares it (the kernel may have put both
// on it) then runs meanwhile, not only once the spin gives up.
template <class Done>
bool spin_until_yielding(SpinBudget& budget, Done done) {
    int looks = 0;
    return spin_until(budget, [&] {
        if (++looks % 8 == 0) std::this_thread::yield();
        return done();
    });
}

}  // namespace mproc::os
