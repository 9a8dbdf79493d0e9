// The slow paths of a result's state (mproc/async_result.hpp): its lock bit, and sleeping on its
// status word as a futex until it is done.
#include <mproc/async_result.hpp>
#include <mproc/detail/shared_block.hpp>

#include <thread>

#include "os/futex.hpp"

namespace mproc::detail {

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
    // Not a number waits no time, as any timeout that is not positive.
    if (timeout && !(*timeout > std::chrono::duration<double>::zero())) return ready();
    const Deadline deadline = timeout ? deadline_after(*timeout) : std::nullopt;
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
