// Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier across processes: their
// Python semantics, std guard compatibility, timeouts, dead holders, and how they travel.
#include <mproc/sync.hpp>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/process.hpp>
#include <mproc/shared.hpp>

#include "support/children.hpp"
#include "support/descriptor.hpp"
#include "support/fd_passing.hpp"
#include "support/leak_check.hpp"
#include "support/start_methods.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::test::require;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Lock and RLock

TEST(Lock, WorksWithStandardGuards) {
    mproc::Lock a, b;
    { std::lock_guard guard(a); EXPECT_TRUE(a.held_by_this_thread()); }
    EXPECT_FALSE(a.held_by_this_thread());
    {
        std::unique_lock lock(a, std::defer_lock);
        EXPECT_TRUE(lock.try_lock_for(10ms));
        lock.unlock();
        EXPECT_TRUE(lock.try_lock_until(Clock::now() + 10ms));
    }
    { std::scoped_lock both(a, b); EXPECT_TRUE(b.held_by_this_thread()); }
    EXPECT_TRUE(a.acquire());
    EXPECT_FALSE(a.acquire(false));
    a.release();
}

TEST(Lock, ExcludesOtherProcesses) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    mproc::RawValue<long> counter(0);  // updated non-atomically, only under the lock
    auto children = mproc::test::start_children(4, [](int, mproc::Lock l, mproc::RawValue<long> c) {
        for (int i = 0; i < 20'000; ++i) {
            std::lock_guard guard(l);
            const long seen = c.value();
            c.value() = seen + 1;
        }
    }, lock, counter);
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    EXPECT_EQ(counter.value(), 80'000);
}

TEST(Lock, AcquireWithTimeoutGivesUpWhileAnotherProcessHoldsIt) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    mproc::Event held;
    mproc::Process holder([](mproc::Lock l, mproc::Event h) {
        std::lock_guard guard(l);
        h.set();
        std::this_thread::sleep_for(300ms);
    }, lock, held);
    holder.start();
    ASSERT_TRUE(held.wait(5s));
    const auto start = Clock::now();
    EXPECT_FALSE(lock.acquire(50ms));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_FALSE(lock.try_lock());
    EXPECT_TRUE(lock.acquire(10s));  // once the holder lets go
    lock.release();
    holder.join();
}

TEST(Lock, MisuseThrowsInsteadOfHangingOrCorrupting) {
    mproc::Lock lock;
    EXPECT_THROW(lock.release(), mproc::StateError);
    lock.acquire();
    EXPECT_THROW(lock.acquire(), mproc::StateError);  // not recursive: would never return
    EXPECT_FALSE(lock.acquire(10ms));
    EXPECT_FALSE(lock.try_lock());
    // Another thread may not release it either.
    std::thread([&] { EXPECT_THROW(lock.release(), mproc::StateError); }).join();
    lock.release();
}

TEST(RLock, IsRecursiveAndHeldUntilFullyReleased) {
    mproc::test::LeakCheck leaks;
    mproc::RLock lock;
    lock.acquire();
    lock.acquire();
    EXPECT_TRUE(lock.try_lock());
    lock.release();
    lock.release();
    EXPECT_EQ(mproc::test::run_child([](mproc::RLock l) { require(!l.acquire(20ms), "held elsewhere"); }, lock), 0);
    lock.release();
    EXPECT_THROW(lock.release(), mproc::StateError);
    EXPECT_EQ(mproc::test::run_child([](mproc::RLock l) { require(l.acquire(1s), "free"); }, lock), 0);
}

template <class L>
void killed_holder_is_reported() {
    mproc::test::LeakCheck leaks;
    L lock;
    mproc::Process holder([](L l) {
        l.acquire();
        ::raise(SIGKILL);
    }, lock);
    holder.start();
    holder.join();
    ASSERT_EQ(holder.exitcode(), -SIGKILL);
    EXPECT_THROW(lock.acquire(), mproc::OwnerDied);
    EXPECT_TRUE(lock.held_by_this_thread());  // told, and holding it
    lock.release();
    { std::lock_guard guard(lock); }  // usable again
    EXPECT_EQ(mproc::test::run_child([](L l) { std::lock_guard guard(l); }, lock), 0);
}

TEST(Lock, KilledHolderIsReportedAsOwnerDiedAndTheLockStaysUsable) { killed_holder_is_reported<mproc::Lock>(); }
TEST(RLock, KilledHolderIsReportedAsOwnerDiedAndTheLockStaysUsable) { killed_holder_is_reported<mproc::RLock>(); }

TEST(Lock, TryLockAlsoReportsADeadHolder) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    EXPECT_EQ(mproc::test::run_child([](mproc::Lock l) {
        l.acquire();
        ::raise(SIGKILL);
    }, lock), -SIGKILL);
    EXPECT_THROW((void)lock.try_lock(), mproc::OwnerDied);
    lock.release();
    EXPECT_TRUE(lock.try_lock());
    lock.release();
}

TEST(Lock, HolderThatExitsWithoutReleasingIsReportedToo) {
    MPROC_TEST_REQUIRES_INHERITED_MAPPING();
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    EXPECT_EQ(mproc::test::run_child([](mproc::Lock l) { l.acquire(); }, lock), 0);
    EXPECT_THROW((void)lock.acquire(1s), mproc::OwnerDied);
    lock.release();
}

TEST(Lock, HolderThreadThatExitsWithoutReleasingIsReportedAsOwnerDied) {
    mproc::Lock lock;
    mproc::RLock rlock;
    std::thread([&] {
        lock.acquire();
        rlock.acquire();
        rlock.acquire();
    }).join();
    EXPECT_THROW((void)lock.acquire(10s), mproc::OwnerDied);
    EXPECT_TRUE(lock.held_by_this_thread());
    lock.release();
    EXPECT_THROW((void)rlock.try_lock(), mproc::OwnerDied);
    rlock.release();  // held once by this thread, whatever the dead thread's count was
    EXPECT_FALSE(rlock.held_by_this_thread());
    EXPECT_TRUE(lock.acquire(0s) && rlock.acquire(0s));
    lock.release();
    rlock.release();
}

TEST(Lock, WaiterIsWokenWithOwnerDiedWhenTheHolderIsKilled) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    mproc::Event held, never;
    mproc::Process holder([](mproc::Lock l, mproc::Event h, mproc::Event n) {
        l.acquire();
        h.set();
        n.wait();
    }, lock, held, never);
    holder.start();
    ASSERT_TRUE(held.wait(30s));
    std::atomic<int> outcome{0};  // 1: OwnerDied, 2: acquired without it, 3: timed out
    std::thread waiter([&] {
        try {
            outcome = lock.acquire(60s) ? 2 : 3;
        } catch (const mproc::OwnerDied&) {
            outcome = 1;
        }
        if (lock.held_by_this_thread()) lock.release();
    });
    std::this_thread::sleep_for(100ms);  // most likely asleep on the lock by now; either way it must see the death
    holder.kill();
    holder.join();
    waiter.join();
    EXPECT_EQ(outcome.load(), 1);
    EXPECT_TRUE(lock.acquire(0s));
    lock.release();
}

// Under fork, the child starts as a copy of a thread that holds the lock: it must not hold it
// (another thread id), may not release it, and its death must not count as the holder's. (Under
// the other start methods: another process may not release it either.)
TEST(Lock, ChildForkedWhileTheParentHoldsItDoesNotHoldIt) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock, other;
    lock.acquire();
    EXPECT_EQ(mproc::test::run_child([](mproc::Lock l, mproc::Lock o) {
        require(!l.held_by_this_thread(), "not held by the child");
        require(!l.try_lock() && !l.acquire(10ms), "held by the parent");
        bool refused = false;
        try {
            l.release();
        } catch (const mproc::StateError&) {
            refused = true;
        }
        require(refused, "the child may not release it");
        o.acquire();  // the child's own robust list works
        ::raise(SIGKILL);
    }, lock, other), -SIGKILL);
    EXPECT_TRUE(lock.held_by_this_thread());
    lock.release();  // no OwnerDied: the child never held it
    EXPECT_TRUE(lock.acquire(0s));
    lock.release();
    EXPECT_THROW(other.acquire(), mproc::OwnerDied);
    other.release();
}

// glibc links its robust pthread mutexes into the same per-thread list as mproc's locks, which
// the kernel walks when a thread dies: whatever the order of locks and unlocks, every mutex still
// held by a killed process is recovered, and no other.
pthread_mutex_t& init_glibc_robust_mutex(mproc::RawValue<pthread_mutex_t>& storage) {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&storage.value(), &attributes);
    pthread_mutexattr_destroy(&attributes);
    return storage.value();
}

TEST(Lock, SharesTheRobustListWithGlibcRobustMutexesInAnyOrder) {
    mproc::test::LeakCheck leaks;
    // A plan names the mutexes to lock, in order ('a', 'b': mproc Locks; 'g', 'h': glibc robust
    // mutexes), "-x" unlocking x; the child then kills itself.
    const std::vector<std::string> plans = {
        "a g",       "g a",       "a g -a",    "a g -g",       "g a -a",          "g a -g",
        "g a h -a",  "a g b -g",  "a g b -a",  "a g b -b",     "a g -a -g b",     "a g -g -a h",
        "a b g h -b -g", "g a h b -h -a", "a -a g -g",
        // Relocking a released mutex follows links that a removal left behind: both a's
        // neighbours must have been updated when b and a were removed, or g drops off the list.
        "g a b -b -a a",
    };
    for (const std::string& plan : plans) {
        SCOPED_TRACE(plan);
        mproc::Lock a, b;
        mproc::RawValue<pthread_mutex_t> g_storage, h_storage;
        pthread_mutex_t& g = init_glibc_robust_mutex(g_storage);
        pthread_mutex_t& h = init_glibc_robust_mutex(h_storage);
        const int code = mproc::test::run_child(
            [](std::string steps, mproc::Lock l1, mproc::Lock l2, mproc::RawValue<pthread_mutex_t> m1,
               mproc::RawValue<pthread_mutex_t> m2) {
                for (std::size_t i = 0; i < steps.size(); ++i) {
                    if (steps[i] == ' ') continue;
                    const bool unlock = steps[i] == '-';
                    if (unlock) ++i;
                    switch (steps[i]) {
                        case 'a': unlock ? l1.release() : l1.lock(); break;
                        case 'b': unlock ? l2.release() : l2.lock(); break;
                        case 'g': require((unlock ? pthread_mutex_unlock : pthread_mutex_lock)(&m1.value()) == 0, "g"); break;
                        case 'h': require((unlock ? pthread_mutex_unlock : pthread_mutex_lock)(&m2.value()) == 0, "h"); break;
                    }
                }
                ::raise(SIGKILL);
            },
            plan, a, b, g_storage, h_storage);
        ASSERT_EQ(code, -SIGKILL);
        const auto held_at_death = [&](char name) {
            bool held = false;
            for (std::size_t i = 0; i < plan.size(); ++i)
                if (plan[i] == name) held = i == 0 || plan[i - 1] != '-';
            return held;
        };
        for (auto [name, lock] : {std::pair{'a', &a}, std::pair{'b', &b}}) {
            SCOPED_TRACE(name);
            if (held_at_death(name)) {
                EXPECT_THROW((void)lock->acquire(0s), mproc::OwnerDied);
            } else {
                EXPECT_TRUE(lock->acquire(0s));
            }
            lock->release();
        }
        for (auto [name, mutex] : {std::pair{'g', &g}, std::pair{'h', &h}}) {
            SCOPED_TRACE(name);
            const int locked = pthread_mutex_trylock(mutex);
            EXPECT_EQ(locked, held_at_death(name) ? EOWNERDEAD : 0);
            if (locked == EOWNERDEAD) pthread_mutex_consistent(mutex);
            pthread_mutex_unlock(mutex);
        }
    }
}

// A zero or negative timeout is a non-blocking try (Python's acquire(timeout=0)): never a block,
// never a success that did not happen.
TEST(Lock, ZeroAndNegativeTimeoutsOnlyTry) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    EXPECT_TRUE(lock.acquire(0s));  // free: taken
    EXPECT_FALSE(lock.acquire(0s));  // held by this thread: not recursive
    EXPECT_FALSE(lock.acquire(-1s));
    lock.release();
    mproc::RLock rlock;
    EXPECT_TRUE(rlock.acquire(-1s));
    EXPECT_TRUE(rlock.acquire(0s));  // recursive
    rlock.release();
    rlock.release();
    EXPECT_FALSE(rlock.held_by_this_thread());
    mproc::Event held, done;
    mproc::Process holder([](mproc::Lock l, mproc::RLock r, mproc::Event h, mproc::Event d) {
        std::scoped_lock both(l, r);
        h.set();
        require(d.wait(30s), "released by the parent");
    }, lock, rlock, held, done);
    holder.start();
    ASSERT_TRUE(held.wait(30s));
    const auto start = Clock::now();
    EXPECT_FALSE(lock.acquire(0s));
    EXPECT_FALSE(lock.acquire(-1s));
    EXPECT_FALSE(lock.acquire(std::chrono::duration<double>(-0.5)));
    EXPECT_FALSE(rlock.acquire(0s));
    EXPECT_FALSE(rlock.acquire(-1ms));
    EXPECT_FALSE(lock.try_lock_until(Clock::now() - 1s));
    EXPECT_LT(Clock::now() - start, 10s);  // none of them waited for the holder
    done.set();
    holder.join();
    EXPECT_EQ(holder.exitcode(), 0);
}

// ---------------------------------------------------------------------------------------------
// Semaphore

TEST(Semaphore, CountsAndBlocksAtZero) {
    mproc::test::LeakCheck leaks;
    mproc::Semaphore semaphore(2);
    EXPECT_EQ(semaphore.get_value(), 2u);
    EXPECT_TRUE(semaphore.acquire());
    EXPECT_TRUE(semaphore.acquire(false));
    EXPECT_FALSE(semaphore.acquire(false));
    EXPECT_FALSE(semaphore.acquire(20ms));
    // Another process releases it: a blocked acquire wakes.
    mproc::Process releaser([](mproc::Semaphore s) {
        std::this_thread::sleep_for(50ms);
        s.release();
    }, semaphore);
    releaser.start();
    EXPECT_TRUE(semaphore.acquire(10s));
    releaser.join();
    semaphore.release(2);
    EXPECT_EQ(semaphore.get_value(), 2u);
    { std::lock_guard guard(semaphore); EXPECT_EQ(semaphore.get_value(), 1u); }
    EXPECT_EQ(semaphore.get_value(), 2u);
}

TEST(Semaphore, ZeroAndNegativeTimeoutsOnlyTry) {
    mproc::Semaphore empty(0);
    const auto start = Clock::now();
    EXPECT_FALSE(empty.acquire(0s));
    EXPECT_FALSE(empty.acquire(-1s));
    EXPECT_FALSE(empty.acquire(std::chrono::duration<double>(-0.25)));
    EXPECT_LT(Clock::now() - start, 10s);
    mproc::BoundedSemaphore one(1);
    EXPECT_TRUE(one.acquire(0s));
    EXPECT_FALSE(one.acquire(-1s));
    EXPECT_EQ(one.get_value(), 0u);
    one.release();
    EXPECT_TRUE(one.acquire(-1s));
}

TEST(Semaphore, LimitsConcurrencyAcrossProcesses) {
    mproc::test::LeakCheck leaks;
    mproc::Semaphore slots(2);
    mproc::Value<int> inside(0, {.lock = false});
    mproc::Value<int> most(0, {.lock = false});
    auto children = mproc::test::start_children(5, [](int, mproc::Semaphore s, mproc::Value<int> in, mproc::Value<int> m) {
        for (int i = 0; i < 20; ++i) {
            std::lock_guard guard(s);
            const int now = in.fetch_add(1) + 1;
            int seen = m.load();
            while (now > seen && !m.compare_exchange(seen, now)) {}
            std::this_thread::sleep_for(200us);
            in.fetch_sub(1);
        }
    }, slots, inside, most);
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    EXPECT_LE(most.load(), 2);
    EXPECT_EQ(slots.get_value(), 2u);
}

TEST(BoundedSemaphore, RefusesToBeReleasedAboveItsInitialValue) {
    mproc::BoundedSemaphore semaphore(1);
    EXPECT_THROW(semaphore.release(), mproc::StateError);
    semaphore.acquire();
    semaphore.release();
    EXPECT_THROW(semaphore.release(), mproc::StateError);
    EXPECT_EQ(semaphore.get_value(), 1u);
    mproc::Semaphore unbounded(0);
    unbounded.release(5);
    EXPECT_EQ(unbounded.get_value(), 5u);
}

// ---------------------------------------------------------------------------------------------
// Condition

TEST(Condition, WaitReleasesTheLockAndWakesOnNotify) {
    mproc::test::LeakCheck leaks;
    mproc::Condition condition;
    mproc::RawValue<int> ready(0);
    auto waiters = mproc::test::start_children(3, [](int, mproc::Condition c, mproc::RawValue<int> r) {
        std::unique_lock lock(c);
        require(c.wait_for([&] { return r.value() == 1; }, 10s), "woken with the predicate true");
    }, condition, ready);
    std::this_thread::sleep_for(50ms);
    {
        std::lock_guard guard(condition);  // the waiters released it while waiting
        ready.value() = 1;
        condition.notify_all();
    }
    for (int code : mproc::test::join_all(waiters)) EXPECT_EQ(code, 0);
}

TEST(Condition, NotifyWakesOneWaiterAtATime) {
    mproc::test::LeakCheck leaks;
    mproc::Condition condition(mproc::Lock{});
    mproc::RawValue<int> tokens(0);
    mproc::Value<int> done(0, {.lock = false});
    auto waiters = mproc::test::start_children(3, [](int, mproc::Condition c, mproc::RawValue<int> t, mproc::Value<int> d) {
        std::unique_lock lock(c);
        c.wait_for([&] { return t.value() > 0; });
        --t.value();
        d.fetch_add(1);
    }, condition, tokens, done);
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(20ms);
        std::lock_guard guard(condition);
        ++tokens.value();
        condition.notify();
    }
    for (int code : mproc::test::join_all(waiters)) EXPECT_EQ(code, 0);
    EXPECT_EQ(done.load(), 3);
}

TEST(Condition, WaitTimesOutAndKeepsRecursionLevels) {
    mproc::Condition condition;  // RLock
    condition.acquire();
    condition.acquire();
    const auto start = Clock::now();
    EXPECT_FALSE(condition.wait(30ms));
    EXPECT_GE(Clock::now() - start, 30ms);
    EXPECT_FALSE(condition.wait_for([] { return false; }, 10ms));
    condition.release();
    condition.release();
    EXPECT_THROW(condition.release(), mproc::StateError);
    EXPECT_THROW(condition.wait(1ms), mproc::StateError);  // the lock is not held
}

// Python's Condition.wait returns False on timeout; a timeout already over (zero, negative) is no
// exception: it still lets others take the lock, and reports no notify that did not happen.
TEST(Condition, ZeroAndNegativeTimeoutsReturnFalseWithoutBlocking) {
    mproc::Condition condition;  // RLock
    condition.acquire();
    condition.acquire();
    const auto start = Clock::now();
    EXPECT_FALSE(condition.wait(0s));
    EXPECT_FALSE(condition.wait(-1s));
    EXPECT_FALSE(condition.wait(std::chrono::duration<double>(-0.5)));
    // wait_for checks the predicate and stops: it must not wait again and again once the time is
    // up (the predicate gives up after many calls, which only a looping wait_for makes).
    int calls = 0;
    auto never = [&] {
        if (++calls > 1000) throw std::runtime_error("wait_for went on waiting after its timeout");
        return false;
    };
    EXPECT_FALSE(condition.wait_for(never, 0s));
    EXPECT_EQ(calls, 1);
    EXPECT_FALSE(condition.wait_for(never, -1s));
    EXPECT_TRUE(condition.wait_for([] { return true; }, 0s));
    EXPECT_LT(Clock::now() - start, 10s);
    condition.release();  // both levels still held
    condition.release();
    EXPECT_THROW(condition.release(), mproc::StateError);
}

// Notifies landing around the deadline, with the predicate still false, must not keep wait_for
// going: it returns false once the time is up.
TEST(Condition, WaitForEndsAtItsTimeoutWhileNotifiesKeepComing) {
    mproc::test::LeakCheck leaks;
    mproc::Condition condition;
    mproc::Event stop;
    mproc::Process notifier([](mproc::Condition c, mproc::Event s) {
        while (!s.is_set()) {
            std::lock_guard guard(c);
            c.notify_all();
        }
    }, condition, stop);
    notifier.start();
    for (int round = 0; round < 5; ++round) {
        std::unique_lock lock(condition);
        const auto start = Clock::now();
        bool result = true;
        try {
            result = condition.wait_for([&] {
                if (Clock::now() - start > 20s) throw std::runtime_error("too long");
                return false;
            }, 50ms);
        } catch (const std::runtime_error&) {
            ADD_FAILURE() << "wait_for went on waiting 20 s past its 50 ms timeout";
            break;
        }
        EXPECT_FALSE(result);
        EXPECT_GE(Clock::now() - start, 50ms);
    }
    stop.set();
    notifier.join();
    EXPECT_EQ(notifier.exitcode(), 0);
}

// CPython's test_wait_result: false on timeout, true when notified.
TEST(Condition, WaitReturnsTrueOnlyWhenNotified) {
    mproc::test::LeakCheck leaks;
    mproc::Condition condition;
    std::unique_lock lock(condition);
    EXPECT_FALSE(condition.wait(0s));
    EXPECT_FALSE(condition.wait(100ms));
    mproc::Process notifier([](mproc::Condition c) {
        std::lock_guard guard(c);  // taken once the parent waits
        c.notify();
    }, condition);
    notifier.start();
    EXPECT_TRUE(condition.wait(60s));
    notifier.join();
    EXPECT_EQ(notifier.exitcode(), 0);
}

// CPython's test_waitfor_timeout: three notifies, a predicate that needs four.
TEST(Condition, WaitForTimesOutWhenThePredicateNeverHolds) {
    mproc::test::LeakCheck leaks;
    mproc::Condition condition;
    mproc::RawValue<int> state(0);
    mproc::Semaphore started(0);
    mproc::Process waiter([](mproc::Condition c, mproc::RawValue<int> st, mproc::Semaphore ready) {
        ready.release();
        std::unique_lock lock(c);
        const auto start = Clock::now();
        require(!c.wait_for([&] { return st.value() == 4; }, 300ms), "the predicate never holds");
        require(Clock::now() - start >= 300ms, "waited the whole timeout");
    }, condition, state, started);
    waiter.start();
    ASSERT_TRUE(started.acquire(30s));
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(10ms);
        std::lock_guard guard(condition);
        ++state.value();
        condition.notify();
    }
    waiter.join();
    EXPECT_EQ(waiter.exitcode(), 0);
}

// ---------------------------------------------------------------------------------------------
// Event

TEST(Event, WakesWaitersInOtherProcesses) {
    mproc::test::LeakCheck leaks;
    mproc::Event event;
    EXPECT_FALSE(event.is_set());
    EXPECT_FALSE(event.wait(10ms));
    auto waiters = mproc::test::start_children(3, [](int, mproc::Event e) { require(e.wait(10s), "set"); }, event);
    std::this_thread::sleep_for(30ms);
    event.set();
    for (int code : mproc::test::join_all(waiters)) EXPECT_EQ(code, 0);
    EXPECT_TRUE(event.is_set());
    EXPECT_TRUE(event.wait());
    event.clear();
    EXPECT_FALSE(event.is_set());
}

TEST(Event, ZeroAndNegativeTimeoutsOnlyLook) {
    mproc::Event event;
    const auto start = Clock::now();
    EXPECT_FALSE(event.wait(0s));
    EXPECT_FALSE(event.wait(-1s));
    EXPECT_LT(Clock::now() - start, 10s);
    event.set();
    EXPECT_TRUE(event.wait(0s));
    EXPECT_TRUE(event.wait(-1s));
}

// ---------------------------------------------------------------------------------------------
// Barrier

mproc::RawValue<int>* action_runs = nullptr;  // set before forking
void count_action() { ++action_runs->value(); }

TEST(Barrier, ReleasesAllPartiesTogetherWithDistinctIndices) {
    MPROC_TEST_REQUIRES_FORK();
    mproc::test::LeakCheck leaks;
    mproc::RawValue<int> runs(0);
    action_runs = &runs;
    constexpr int rounds = 50;
    mproc::Barrier barrier(4, &count_action);
    mproc::Array<int> index_sums(rounds, {.lock = false});
    mproc::Array<int> arrivals(rounds, {.lock = false});
    auto parties = mproc::test::start_children(3, [](int, mproc::Barrier b, mproc::Array<int> sums, mproc::Array<int> arrived) {
        for (std::size_t round = 0; round < rounds; ++round) {
            std::atomic_ref<int>(arrived[round]).fetch_add(1);
            const unsigned index = b.wait(10s);
            // Nobody passes before everyone arrived.
            require(std::atomic_ref<int>(arrived[round]).load() == 4, "all arrived");
            std::atomic_ref<int>(sums[round]).fetch_add(static_cast<int>(index));
        }
    }, barrier, index_sums, arrivals);
    for (std::size_t round = 0; round < rounds; ++round) {
        std::atomic_ref<int>(arrivals[round]).fetch_add(1);
        std::atomic_ref<int>(index_sums[round]).fetch_add(static_cast<int>(barrier.wait(10s)));
    }
    for (int code : mproc::test::join_all(parties)) EXPECT_EQ(code, 0);
    for (std::size_t round = 0; round < rounds; ++round) EXPECT_EQ(index_sums[round], 0 + 1 + 2 + 3);
    EXPECT_EQ(runs.value(), rounds);  // once per round
    EXPECT_EQ(barrier.parties(), 4u);
    EXPECT_FALSE(barrier.broken());
}

TEST(Barrier, TimeoutBreaksItForEveryoneUntilReset) {
    mproc::test::LeakCheck leaks;
    mproc::Barrier barrier(3);
    mproc::Process waiter([](mproc::Barrier b) {
        try {
            b.wait(10s);
        } catch (const mproc::BrokenBarrierError&) {
            return;
        }
        throw std::runtime_error("not broken");
    }, barrier);
    waiter.start();
    while (barrier.n_waiting() != 1) std::this_thread::sleep_for(1ms);
    EXPECT_THROW(barrier.wait(30ms), mproc::BrokenBarrierError);
    waiter.join();
    EXPECT_EQ(waiter.exitcode(), 0);
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(barrier.wait(), mproc::BrokenBarrierError);
    barrier.reset();
    EXPECT_FALSE(barrier.broken());
    auto parties = mproc::test::start_children(2, [](int, mproc::Barrier b) { b.wait(10s); }, barrier);
    barrier.wait(10s);
    for (int code : mproc::test::join_all(parties)) EXPECT_EQ(code, 0);
}

TEST(Barrier, AbortAndResetBreakTheWaitingRound) {
    mproc::test::LeakCheck leaks;
    for (bool abort : {true, false}) {
        mproc::Barrier barrier(3);
        auto waiters = mproc::test::start_children(2, [](int, mproc::Barrier b) {
            try {
                b.wait(10s);
            } catch (const mproc::BrokenBarrierError&) {
                return;
            }
            throw std::runtime_error("not broken");
        }, barrier);
        while (barrier.n_waiting() != 2) std::this_thread::sleep_for(1ms);
        if (abort) barrier.abort(); else barrier.reset();
        for (int code : mproc::test::join_all(waiters)) EXPECT_EQ(code, 0);
        EXPECT_EQ(barrier.broken(), abort);
    }
}

void throwing_action() { throw std::runtime_error("action failed"); }

TEST(Barrier, ActionThatThrowsBreaksTheBarrier) {
    mproc::Barrier barrier(1, &throwing_action);
    EXPECT_THROW(barrier.wait(), std::runtime_error);
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW(barrier.wait(), mproc::BrokenBarrierError);
}

mproc::RawValue<int>* kill_in_action = nullptr;  // set before forking
void action_that_may_die() {
    if (kill_in_action->value() != 0) ::raise(SIGKILL);
}

// The process that runs the action holds the barrier's internal lock; it is killed there.
TEST(Barrier, ProcessDyingInTheActionBreaksTheBarrierForTheOthers) {
    MPROC_TEST_REQUIRES_FORK();
    mproc::test::LeakCheck leaks;
    mproc::RawValue<int> kill(1);
    kill_in_action = &kill;
    mproc::Barrier barrier(3, &action_that_may_die);
    mproc::Value<int> broken_seen(0, {.lock = false});
    auto parties = mproc::test::start_children(3, [](int, mproc::Barrier b, mproc::Value<int> seen) {
        try {
            b.wait(30s);
        } catch (const mproc::BrokenBarrierError&) {
            seen.fetch_add(1);
        }
    }, barrier, broken_seen);
    const auto start = Clock::now();
    const auto codes = mproc::test::join_all(parties);
    EXPECT_LT(Clock::now() - start, 5s);  // told promptly, long before the 30 s timeout
    EXPECT_EQ(std::count(codes.begin(), codes.end(), -SIGKILL), 1);
    EXPECT_EQ(std::count(codes.begin(), codes.end(), 0), 2);
    EXPECT_EQ(broken_seen.load(), 2);
    EXPECT_TRUE(barrier.broken());
    // Usable again after reset().
    kill.value() = 0;
    barrier.reset();
    auto again = mproc::test::start_children(2, [](int, mproc::Barrier b) { b.wait(10s); }, barrier);
    barrier.wait(10s);
    for (int code : mproc::test::join_all(again)) EXPECT_EQ(code, 0);
}

// Python: a waiter whose timeout is over breaks the barrier at once; the last party still passes.
TEST(Barrier, ZeroAndNegativeTimeoutsBreakItAtOnceUnlessLast) {
    for (auto timeout : {std::chrono::duration<double>(0), std::chrono::duration<double>(-1)}) {
        mproc::Barrier barrier(2);
        const auto start = Clock::now();
        EXPECT_THROW(barrier.wait(timeout), mproc::BrokenBarrierError);
        EXPECT_LT(Clock::now() - start, 10s);
        EXPECT_TRUE(barrier.broken());
        mproc::Barrier with_default(2, nullptr, timeout);
        EXPECT_THROW(with_default.wait(), mproc::BrokenBarrierError);
        mproc::Barrier alone(1);
        EXPECT_EQ(alone.wait(timeout), 0u);  // the last to arrive does not wait
        EXPECT_FALSE(alone.broken());
    }
}

TEST(Barrier, RejectsZeroParties) { EXPECT_THROW(mproc::Barrier(0), std::invalid_argument); }

// ---------------------------------------------------------------------------------------------
// Handles travel

TEST(SyncObjects, EncodedHandlesReferToTheSameObjects) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    auto lock_copy = mproc::test::round_trip(lock);
    lock.acquire();
    EXPECT_TRUE(lock_copy.held_by_this_thread());
    lock_copy.release();
    mproc::RLock rlock;
    EXPECT_TRUE(mproc::test::round_trip(rlock).acquire());
    EXPECT_TRUE(rlock.held_by_this_thread());
    rlock.release();
    mproc::Semaphore semaphore(3);
    EXPECT_TRUE(mproc::test::round_trip(semaphore).acquire());
    EXPECT_EQ(semaphore.get_value(), 2u);
    mproc::BoundedSemaphore bounded(1);
    EXPECT_THROW(mproc::test::round_trip(bounded).release(), mproc::StateError);
    mproc::Event event;
    mproc::test::round_trip(event).set();
    EXPECT_TRUE(event.is_set());
    mproc::Barrier barrier(2, &count_action, 5s);
    auto barrier_copy = mproc::test::round_trip(barrier);
    EXPECT_EQ(barrier_copy.parties(), 2u);
    mproc::Condition condition;
    auto condition_copy = mproc::test::round_trip(condition);
    std::lock_guard guard(condition_copy);
    EXPECT_FALSE(condition.wait(1ms));  // the same lock: held, so wait() may be called
}

TEST(SyncObjects, WrongKindsAreRefusedWhenDecoded) {
    mproc::Lock lock;
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    mproc::encode(out, lock);
    mproc::Reader as_rlock(bytes, out.fds());
    EXPECT_THROW(mproc::decode<mproc::RLock>(as_rlock), mproc::SerializationError);
    mproc::Reader as_event(bytes, out.fds());
    EXPECT_THROW(mproc::decode<mproc::Event>(as_event), mproc::SerializationError);
    // A BoundedSemaphore sliced to a Semaphore would lose its bound: refused.
    EXPECT_THROW(mproc::test::round_trip<mproc::Semaphore>(mproc::BoundedSemaphore(1)), mproc::SerializationError);
}

TEST(SyncObjects, TravelToAProcessStartedBeforeThem) {
    mproc::test::LeakCheck leaks;
    mproc::test::SocketPair sockets;
    mproc::Process child([](mproc::test::Descriptor socket) {
        auto lock = mproc::test::receive_object<mproc::Lock>(socket);
        auto event = mproc::test::receive_object<mproc::Event>(socket);
        auto semaphore = mproc::test::receive_object<mproc::Semaphore>(socket);
        auto barrier = mproc::test::receive_object<mproc::Barrier>(socket);
        require(!lock.try_lock(), "the parent holds the lock");
        semaphore.release();
        require(event.wait(10s), "event set by the parent");
        barrier.wait(10s);
    }, mproc::test::Descriptor{sockets.child()});
    child.start();
    mproc::Lock lock;
    mproc::Event event;
    mproc::Semaphore semaphore(0);
    mproc::Barrier barrier(2);
    lock.acquire();
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), lock));
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), event));
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), semaphore));
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), barrier));
    EXPECT_TRUE(semaphore.acquire(10s));
    event.set();
    barrier.wait(10s);
    lock.release();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

}  // namespace
