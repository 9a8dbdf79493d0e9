#include "os/robust_mutex.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>

#include "os/child_process.hpp"

namespace mproc::os {

thread_local constinit RobustListOfThisThread robust_list_of_this_thread{nullptr, 0};

namespace {

// A forked child runs on a new thread id, with the list glibc emptied for it: look both up again.
const bool looked_up_again_in_children = [] {
    at_fork_child([] { robust_list_of_this_thread = {nullptr, 0}; });
    return true;
}();

// What the kernel must add to an entry of the list to find its lock word: the offset glibc
// registers for its pthread mutexes, which ours must share.
constexpr long futex_offset = -static_cast<long>(offsetof(pthread_mutex_t, __data.__list.__next));
static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0 && sizeof(pthread_mutex_t) == RobustMutex::native_size &&
                  offsetof(pthread_mutex_t, __data.__list.__prev) + sizeof(void*) ==
                      offsetof(pthread_mutex_t, __data.__list.__next),
              "RobustMutex::State copies the layout of glibc's pthread_mutex_t on 64-bit Linux: match it on this platform");

}  // namespace

SysResult RobustMutex::set_up_this_thread() noexcept {
    if (robust_list_of_this_thread.thread_id != 0) return {};
    robust_list_head* head = nullptr;
    std::size_t length = 0;
    if (::syscall(SYS_get_robust_list, 0, &head, &length) != 0) return SysError{"get_robust_list", errno};
    if (head == nullptr || length != sizeof(robust_list_head) || head->futex_offset != futex_offset)
        return SysError{"get_robust_list (no robust list laid out as glibc's)", EOPNOTSUPP};
    robust_list_of_this_thread = {head, static_cast<std::uint32_t>(::gettid())};
    return {};
}

SysResult RobustMutex::init() noexcept {
    if (const auto ready = set_up_this_thread(); !ready) return ready;
    state_->word.store(0, std::memory_order_relaxed);
    state_->prev = nullptr;
    state_->entry.next = nullptr;
#ifdef MPROC_ROBUST_MUTEX_TSAN
    __tsan_mutex_create(state_, 0);
#endif
    return {};
}

std::optional<RobustMutex::Outcome> RobustMutex::take_if_unowned(std::uint32_t seen, std::uint32_t extra_bits) noexcept {
    const RobustListOfThisThread self = robust_list_of_this_thread;
    // FUTEX_WAITERS stays: the kernel woke one waiter of a dead holder, others may sleep still.
    const std::uint32_t mine = self.thread_id | (seen & FUTEX_WAITERS) | extra_bits;
    if (!state_->word.compare_exchange_strong(seen, mine, std::memory_order_acquire, std::memory_order_relaxed))
        return std::nullopt;
    link(self.head);
    return (seen & FUTEX_OWNER_DIED) ? Outcome::owner_died : Outcome::acquired;
}

Result<RobustMutex::Outcome> RobustMutex::lock_contended(
    std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
    if (const auto ready = set_up_this_thread(); !ready) return ready.error();
    const RobustListOfThisThread self = robust_list_of_this_thread;
    annotate_pre_lock(tsan_try_lock);
    // Pending from the first look: a holder that dies while this thread sleeps leaves a word the
    // kernel marks, and one that takes it and dies before it is linked is found here.
    set_pending(self.head, entry());
    // Once this thread has slept, others may sleep too: it takes the lock with FUTEX_WAITERS set,
    // so that its unlock wakes the next one.
    std::uint32_t waiters = 0;
    std::optional<Outcome> outcome;
    for (;;) {
        std::uint32_t seen = word();
        if ((seen & FUTEX_TID_MASK) == 0) {
            // Free, or its holder died.
            if ((outcome = take_if_unowned(seen, waiters))) break;
            continue;
        }
        if ((seen & FUTEX_TID_MASK) == self.thread_id) {
            outcome = Outcome::already_held;
            break;
        }
        if (deadline && std::chrono::steady_clock::now() >= *deadline) {
            // A waiter that slept may have been woken by an unlock just before its deadline,
            // while a third thread took the word without FUTEX_WAITERS: giving up silently would
            // leave the other sleepers asleep through that thread's unlock. Pass the wake-up on.
            if (waiters != 0) futex_wake(state_->word, 1);
            outcome = Outcome::busy;
            break;
        }
        if (!(seen & FUTEX_WAITERS)) {
            if (!state_->word.compare_exchange_strong(seen, seen | FUTEX_WAITERS, std::memory_order_relaxed)) continue;
            seen |= FUTEX_WAITERS;
        }
        (void)futex_wait_until(state_->word, seen, deadline);  // the next look tells what happened
        waiters = FUTEX_WAITERS;
    }
    set_pending(self.head, nullptr);
    const bool taken = *outcome == Outcome::acquired || *outcome == Outcome::owner_died;
    annotate_post_lock(taken ? tsan_try_lock : tsan_try_lock | tsan_try_lock_failed);
    return *outcome;
}

Result<RobustMutex::Outcome> RobustMutex::try_lock_taken() noexcept {
    if (const auto ready = set_up_this_thread(); !ready) return ready.error();
    const RobustListOfThisThread self = robust_list_of_this_thread;
    annotate_pre_lock(tsan_try_lock);
    set_pending(self.head, entry());
    std::optional<Outcome> outcome;
    while (!outcome) {
        const std::uint32_t seen = word();
        if ((seen & FUTEX_TID_MASK) == 0)
            outcome = take_if_unowned(seen, 0);
        else
            outcome = (seen & FUTEX_TID_MASK) == self.thread_id ? Outcome::already_held : Outcome::busy;
    }
    set_pending(self.head, nullptr);
    const bool taken = *outcome == Outcome::acquired || *outcome == Outcome::owner_died;
    annotate_post_lock(taken ? tsan_try_lock : tsan_try_lock | tsan_try_lock_failed);
    return *outcome;
}

}  // namespace mproc::os
