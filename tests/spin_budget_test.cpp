// How long a waiting site spins before it sleeps (os::SpinBudget): it must grow out of a spin too
// short to meet a peer that answers soon, and shrink when spinning is in vain.
#include "os/spin.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace {

using mproc::os::SpinBudget;
using namespace std::chrono_literals;

// A sleep that counts as short whatever the machine's load: woke() is told that anything within
// an hour would have been met by a longer spin.
constexpr auto any_sleep = std::chrono::microseconds(std::chrono::hours(1));

TEST(SpinBudget, SleepsCutShortGrowTheSpinToItsLongestEvenThoughEachSpinMissed) {
    // A peer whose answer comes after this CPU's spin but soon (it was asleep, and its wake-up
    // takes longer than the spin): each spin misses, each sleep ends soon. The spin must outgrow
    // the peer's wake-up, not halve and double back to the length that missed.
    SpinBudget budget;
    int spins = 0;
    while (budget.checks() < SpinBudget::max_checks && spins < 32) {
        const int before = budget.checks();
        budget.missed();
        budget.woke(any_sleep);
        EXPECT_EQ(budget.checks(), std::min(before * 2, SpinBudget::max_checks));
        ++spins;
    }
    EXPECT_EQ(budget.checks(), SpinBudget::max_checks);
}

TEST(SpinBudget, ASpinInVainFollowedByALongSleepHalves) {
    SpinBudget budget;
    for (int i = 0; i < 8; ++i) budget.caught();
    ASSERT_EQ(budget.checks(), SpinBudget::max_checks);
    budget.missed();
    budget.woke(0us);  // a sleep no spin could have shortened
    EXPECT_EQ(budget.checks(), SpinBudget::max_checks / 2);
    for (int i = 0; i < 32; ++i) {
        budget.missed();
        budget.woke(0us);
    }
    EXPECT_EQ(budget.checks(), SpinBudget::min_checks);
}

TEST(SpinBudget, ASleepTooLongToGrowOnButWithinKeepWithinLeavesTheSpinAsLongAsTheOneThatMissed) {
    // A waiter whose sleeps include wake-ups of its own: a sleep that a longer spin would not have
    // shortened, but one as long might meet the next reply.
    SpinBudget budget;
    for (int i = 0; i < 3; ++i) budget.caught();
    const int spun = budget.checks();
    for (int i = 0; i < 4; ++i) {
        budget.missed();
        budget.woke(0us, any_sleep);
        EXPECT_EQ(budget.checks(), spun);
    }
}

TEST(SpinBudget, WokeWithoutAMissedSpinBeforeItChangesNothing) {
    SpinBudget budget;
    budget.caught();
    budget.missed();
    budget.woke(any_sleep);  // the sleep that followed the miss
    const int after = budget.checks();
    budget.woke(any_sleep);  // a second call, no spin missed since
    EXPECT_EQ(budget.checks(), after);
    budget.caught();
    const int caught = budget.checks();
    budget.woke(any_sleep);  // after a spin that caught its event
    EXPECT_EQ(budget.checks(), caught);
    SpinBudget fresh;
    fresh.woke(any_sleep);  // never spun
    EXPECT_EQ(fresh.checks(), SpinBudget::min_checks);
}

TEST(SpinBudget, ACaughtEventDoublesUpToTheLongest) {
    SpinBudget budget;
    EXPECT_EQ(budget.checks(), SpinBudget::min_checks);
    budget.caught();
    EXPECT_EQ(budget.checks(), 2 * SpinBudget::min_checks);
    for (int i = 0; i < 32; ++i) budget.caught();
    EXPECT_EQ(budget.checks(), SpinBudget::max_checks);
}

}  // namespace
