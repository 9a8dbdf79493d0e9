// The slow paths of a result's state (mproc/async_result.hpp): its lock bit, and sleeping on its
// status word as a futex until it is done.
#include <mproc/async_result.hpp>

#include <thread>

#include "os/futex.hpp"

namespace mproc::detail {
namespace {

// Beyond a century a timeout is as good as none, and adding it to the clock would overflow.
constexpr std::chrono::hours longest_timeout{24 * 365 * 100};

}  // namespace

std::uint32_t ResultStateBase::set_when_unlocked(std::uint32_t bits, std::memory_order order) const noexcept {
    std::atomic<std::uint32_t>& word = status();
    std::uint32_t seen = word.load(std::memory_order_relaxed);
    for (;;) {
        if ((seen & lock_bit) != 0) {
            std::this_thread::yield();
            seen = word.load(std::memory_order_relaxed);
        } else if (word.compare_exchange_weak(seen, seen | bits, order, std::memory_order_relaxed)) {
            return seen;
        }
    }
}

void ResultStateBase::wake_sleepers() noexcept { os::futex_wake(status()); }

bool ResultStateBase::sleep_until_ready(std::optional<std::chrono::duration<double>> timeout) const {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    // Not a number waits no time, as any timeout that is not positive.
    if (timeout && !(*timeout > std::chrono::duration<double>::zero())) return ready();
    if (timeout && *timeout < longest_timeout)
        deadline = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(*timeout);
    std::atomic<std::uint32_t>& word = status();
    std::uint32_t seen = word.load(std::memory_order_acquire);
    while ((seen & done_bit) == 0) {
        // The completing thread wakes the word only if a sleeper said so first.
        if ((seen & sleepers_bit) == 0) {
            if (!word.compare_exchange_weak(seen, seen | sleepers_bit, std::memory_order_acquire)) continue;
            seen |= sleepers_bit;
        }
        if (!os::futex_wait_until(word, seen, deadline)) return ready();
        seen = word.load(std::memory_order_acquire);
    }
    return true;
}

}  // namespace mproc::detail
