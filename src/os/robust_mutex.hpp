// Robust, process-shared, error-checking mutexes in memory shared between processes: a futex
// word that follows the kernel's robust-futex protocol, linked into glibc's robust list.
//
// The lock word holds the holder's kernel thread id, FUTEX_WAITERS while someone may sleep on it,
// and FUTEX_OWNER_DIED once its holder died. Taking a free mutex is one compare-and-swap, and
// releasing it one exchange (and a wake-up only when someone sleeps).
//
// Robust: every held mutex is linked into its holder thread's robust list, the one glibc
// registers with the kernel for every thread (there can be only one) and links its own robust
// pthread mutexes into. When a thread exits or its process dies, the kernel walks that list and,
// for each mutex still held by the thread, sets FUTEX_OWNER_DIED in the word and wakes a waiter.
// The next lock succeeds with the outcome owner_died. The list is glibc's (nptl/descr.h,
// pthreadP.h): doubly linked through {prev, next} pairs whose pointers point at the `next`
// member, the head is the thread's robust_list_head, and head->list_op_pending names the mutex
// being linked or unlinked, so that a death in the middle is handled too. A mutex is laid out as
// a pthread_mutex_t is (word at offset 0, links where glibc's are), so that the offset glibc
// registered (futex_offset) applies to both; that is checked once per thread.
//
// Error checking: relocking a mutex this thread holds is reported (already_held), and unlocking
// one it does not hold fails with EPERM. Recursion, spinning and what a dead owner means are the
// caller's (src/lock.cpp).
#pragma once

#include <linux/futex.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>

#include "os/futex.hpp"
#include "os/result.hpp"

#if defined(__SANITIZE_THREAD__)
#define MPROC_ROBUST_MUTEX_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPROC_ROBUST_MUTEX_TSAN 1
#endif
#endif
#ifdef MPROC_ROBUST_MUTEX_TSAN
// ThreadSanitizer cannot see a mutex made of atomics: told through these, it knows what the
// mutex protects, instead of reporting races on every shared object. Its interface cannot say
// that a holder died: a thread of this process that exits holding the mutex stays its holder for
// ThreadSanitizer, which reports the next lock as a double lock (a dead holder process is not
// one of its threads, and goes unnoticed).
#include <sanitizer/tsan_interface.h>
#endif

namespace mproc::os {

// This thread's robust list (glibc's) and kernel thread id, looked up on the thread's first lock
// and after a fork. Internal to RobustMutex.
struct RobustListOfThisThread {
    robust_list_head* head;
    std::uint32_t thread_id;  // 0 until looked up
};
extern thread_local constinit RobustListOfThisThread robust_list_of_this_thread;

// A view of the mutex whose bytes lie at `native`; it owns nothing.
class RobustMutex {
public:
    // What `native` must hold (checked where it is defined).
    static constexpr std::size_t native_size = 40;
    static constexpr std::size_t native_alignment = 8;

    explicit RobustMutex(std::byte* native) noexcept : state_(std::launder(reinterpret_cast<State*>(native))) {}

    // A free mutex. Fails (EOPNOTSUPP) where this thread has no robust list laid out as glibc's.
    [[nodiscard]] SysResult init() noexcept;

    // Looks up this thread's robust list (the one glibc registered, with the offset this layout
    // needs) and kernel thread id, once per thread and again in a child made by fork(). lock and
    // try_lock do it; lock_if_free fails until it is done. A child made without fork handlers
    // (vfork, _Fork, a raw clone) would inherit its parent's thread id here: such a child must not
    // use these mutexes before it execs (glibc allows it only async-signal-safe calls anyway).
    [[nodiscard]] static SysResult set_up_this_thread() noexcept;

    enum class Outcome {
        acquired,
        busy,          // held by another thread (try_lock), or the deadline passed (lock)
        owner_died,    // acquired, but its previous holder died holding it
        already_held,  // by this thread
    };
    // Takes it if nobody holds it (one compare-and-swap); false otherwise, or when this thread
    // must be set up first (lock and try_lock do that).
    [[nodiscard]] bool lock_if_free() noexcept {
        const RobustListOfThisThread self = robust_list_of_this_thread;
        if (self.thread_id == 0) return false;
        annotate_pre_lock(tsan_try_lock);
        set_pending(self.head, entry());
        std::uint32_t expected = 0;
        if (!state_->word.compare_exchange_strong(expected, self.thread_id, std::memory_order_acquire,
                                                  std::memory_order_relaxed)) {
            set_pending(self.head, nullptr);
            annotate_post_lock(tsan_try_lock | tsan_try_lock_failed);
            return false;
        }
        link(self.head);
        set_pending(self.head, nullptr);
        annotate_post_lock(tsan_try_lock);
        return true;
    }
    // Blocks until acquired, or until the deadline (none: forever).
    [[nodiscard]] Result<Outcome> lock(std::optional<std::chrono::steady_clock::time_point> deadline) noexcept {
        if (lock_if_free()) return Outcome::acquired;
        return lock_contended(deadline);
    }
    [[nodiscard]] Result<Outcome> try_lock() noexcept {
        if (lock_if_free()) return Outcome::acquired;
        return try_lock_taken();
    }
    // EPERM when this thread does not hold it.
    [[nodiscard]] SysResult unlock() noexcept {
        const RobustListOfThisThread self = robust_list_of_this_thread;
        if (!held_by(self)) return SysError{"robust mutex unlock", EPERM};
        annotate_pre_unlock();
        set_pending(self.head, entry());
        unlink();
        const std::uint32_t before = state_->word.exchange(0, std::memory_order_release);
        if (before & FUTEX_WAITERS) futex_wake(state_->word, 1);
        set_pending(self.head, nullptr);
        annotate_post_unlock();
        return {};
    }

    // The kernel id of the thread holding it, 0 if none. The robust futex protocol keeps it in the
    // lock word, and the kernel clears it when the owner dies: a recycled thread id can never look
    // like the owner.
    int owner() const noexcept { return static_cast<int>(word() & FUTEX_TID_MASK); }
    bool held_by_this_thread() const noexcept { return held_by(robust_list_of_this_thread); }
    // Whether it looked unlocked just now: a cheap look before trying to lock.
    bool looks_free() const noexcept { return word() == 0; }

private:
    // glibc's pthread_mutex_t, as far as the kernel and the robust list see it.
    struct State {
        std::atomic<std::uint32_t> word;
        std::byte unused[20];
        robust_list* prev;  // the previous entry (glibc's __list.__prev)
        robust_list entry;  // this mutex in the list: entry.next is the next entry (glibc's __list.__next)
    };
    static_assert(sizeof(State) == native_size && alignof(State) == native_alignment,
                  "RobustMutex::State is the 40-byte layout of glibc's pthread_mutex_t on 64-bit Linux");

    std::uint32_t word() const noexcept { return state_->word.load(std::memory_order_relaxed); }
    bool held_by(RobustListOfThisThread self) const noexcept {
        return self.thread_id != 0 && (word() & FUTEX_TID_MASK) == self.thread_id;
    }
    robust_list* entry() const noexcept { return &state_->entry; }

    // The list as glibc keeps it: each entry's `prev` lies just before it, the head's too (glibc's
    // robust_prev); pointers may carry bit 0 (a PI mutex), which is not part of the address.
    static robust_list* address(robust_list* entry) noexcept {
        return reinterpret_cast<robust_list*>(reinterpret_cast<std::uintptr_t>(entry) & ~std::uintptr_t{1});
    }
    static robust_list** prev_of(robust_list* entry) noexcept {
        return reinterpret_cast<robust_list**>(address(entry)) - 1;
    }
    // The kernel reads the list only when this thread is dead: program order is what matters,
    // and these fences keep the compiler from reordering the stores across them.
    static void set_pending(robust_list_head* head, robust_list* entry) noexcept {
        std::atomic_signal_fence(std::memory_order_seq_cst);
        head->list_op_pending = entry;
        std::atomic_signal_fence(std::memory_order_seq_cst);
    }
    // glibc's ENQUEUE_MUTEX: first in the list.
    void link(robust_list_head* head) noexcept {
        robust_list* const first = head->list.next;
        *prev_of(first) = entry();
        state_->entry.next = first;
        state_->prev = &head->list;
        std::atomic_signal_fence(std::memory_order_seq_cst);
        head->list.next = entry();
    }
    // glibc's DEQUEUE_MUTEX: only the neighbours' links change, whatever mutexes they are. Its own
    // links are left as they are (glibc clears them): nothing reads the links of a free mutex,
    // and every store before the unlocking exchange adds to its cost.
    void unlink() noexcept {
        *prev_of(state_->entry.next) = state_->prev;
        address(state_->prev)->next = state_->entry.next;
    }

    // The slow paths (robust_mutex.cpp): a word someone holds, or this thread's first lock.
    Result<Outcome> lock_contended(std::optional<std::chrono::steady_clock::time_point> deadline) noexcept;
    Result<Outcome> try_lock_taken() noexcept;
    // Takes the word as seen when no live thread holds it (free, or its holder died), setting
    // `extra_bits` too; nullopt when it changed meanwhile. Pending must be set.
    std::optional<Outcome> take_if_unowned(std::uint32_t seen, std::uint32_t extra_bits) noexcept;

#ifdef MPROC_ROBUST_MUTEX_TSAN
    static constexpr unsigned tsan_try_lock = __tsan_mutex_try_lock;
    static constexpr unsigned tsan_try_lock_failed = __tsan_mutex_try_lock_failed;
    void annotate_pre_lock(unsigned flags) const noexcept { __tsan_mutex_pre_lock(state_, flags); }
    void annotate_post_lock(unsigned flags) const noexcept { __tsan_mutex_post_lock(state_, flags, 0); }
    void annotate_pre_unlock() const noexcept { (void)__tsan_mutex_pre_unlock(state_, 0); }
    void annotate_post_unlock() const noexcept { __tsan_mutex_post_unlock(state_, 0); }
#else
    static constexpr unsigned tsan_try_lock = 0;
    static constexpr unsigned tsan_try_lock_failed = 0;
    void annotate_pre_lock(unsigned) const noexcept {}
    void annotate_post_lock(unsigned) const noexcept {}
    void annotate_pre_unlock() const noexcept {}
    void annotate_post_unlock() const noexcept {}
#endif

    State* state_;
};

}  // namespace mproc::os
