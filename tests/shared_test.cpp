// Value, Array, RawValue, RawArray: shared memory seen by every process, their locks, atomic
// access, typecodes, how they travel, and what a killed lock holder leaves.
#include <mproc/shared.hpp>

#include <signal.h>
#include <unistd.h>

#include <array>
#include <list>
#include <mutex>
#include <numeric>
#include <ranges>
#include <thread>

#include <gtest/gtest.h>

#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/queue.hpp>

#include "support/children.hpp"
#include "support/descriptor.hpp"
#include "support/fd_passing.hpp"
#include "support/leak_check.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::test::require;

// The classic example: 10 processes each add 1 to a shared double 10,000 times under its lock.
TEST(Value, LockedIncrementsFromTenProcessesAddUpExactly) {
    mproc::test::LeakCheck leaks;
    mproc::Value<double> counter(0.0);
    auto children = mproc::test::start_children(10, [](int, mproc::Value<double> c) {
        for (int i = 0; i < 10'000; ++i) {
            std::lock_guard guard(c.get_lock());
            c.value() += 1;
        }
    }, counter);
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    EXPECT_EQ(counter.value(), 100'000.0);
}

TEST(Value, AtomicOperationsNeedNoLock) {
    mproc::test::LeakCheck leaks;
    mproc::Value<long> counter(0, {.lock = false});
    mproc::Value<double> total(0.0, {.lock = false});
    auto children = mproc::test::start_children(4, [](int, mproc::Value<long> c, mproc::Value<double> t) {
        for (int i = 0; i < 20'000; ++i) {
            c.fetch_add(1);
            t.fetch_add(0.5);
        }
    }, counter, total);
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    EXPECT_EQ(counter.load(), 80'000);
    EXPECT_EQ(total.load(), 40'000.0);
    long expected = 80'000;
    EXPECT_TRUE(counter.compare_exchange(expected, 7));
    EXPECT_FALSE(counter.compare_exchange(expected, 9));
    EXPECT_EQ(expected, 7);
    EXPECT_EQ(counter.exchange(3), 7);
    counter.store(5);
    EXPECT_EQ(counter.fetch_sub(2), 5);
    EXPECT_EQ(counter.load(), 3);
}

TEST(Value, HoldsPlainStructsAndDefaultsToValueInitialized) {
    struct Point {
        int x = 0;
        double y = 0;
    };
    mproc::Value<Point> point(Point{1, 2.5});
    EXPECT_EQ(mproc::test::run_child([](mproc::Value<Point> p) {
        std::lock_guard guard(p.get_lock());
        p.value().x += 10;
    }, point), 0);
    EXPECT_EQ(point.value().x, 11);
    EXPECT_EQ(point.value().y, 2.5);
    mproc::Value<int> zero;
    EXPECT_EQ(zero.value(), 0);
}

TEST(Value, CreatedWithoutALockHasNone) {
    mproc::Value<int> unlocked(1, {.lock = false});
    EXPECT_FALSE(unlocked.has_lock());
    EXPECT_THROW(unlocked.get_lock(), mproc::StateError);
    mproc::RawValue<int> raw(2);
    EXPECT_FALSE(raw.has_lock());
    EXPECT_EQ(raw.value(), 2);
    mproc::RawArray<int> raw_array{1, 2, 3};
    EXPECT_FALSE(raw_array.has_lock());
    EXPECT_EQ(raw_array.size(), 3u);
}

TEST(Value, CanShareAnExistingLock) {
    mproc::RLock lock;
    mproc::Value<int> a(1, {.lock = lock});
    mproc::Array<int> b(3);
    mproc::Value<int> c(2, {.lock = lock});
    EXPECT_TRUE(a.get_lock() == c.get_lock());
    EXPECT_FALSE(a.get_lock() == b.get_lock());
    std::scoped_lock both(a.get_lock(), b.get_lock());  // RLock: c's lock is a's, taken again
    std::lock_guard again(c.get_lock());
    EXPECT_TRUE(lock.held_by_this_thread());
}

// CPython's test_getobj_getlock and test_getobj_getlock_obj: lock= takes a Lock or an RLock,
// get_lock() returns that very lock, lock=False gives none, and anything else is refused.
TEST(Value, LockOptionIsPythonsLockArgument) {
    mproc::Lock lock;
    mproc::Value<int> value(5, {.lock = lock});
    EXPECT_TRUE(value.get_lock() == lock);
    EXPECT_FALSE(value.get_lock().recursive());
    mproc::Array<int> array(std::views::iota(0, 10), {.lock = lock});
    EXPECT_TRUE(array.get_lock() == lock);
    mproc::Array<int> listed({1, 2, 3}, {.lock = lock});
    mproc::Array<double> zeros(4, {.lock = lock});
    EXPECT_TRUE(listed.get_lock() == lock && zeros.get_lock() == lock);
    // Another object's lock, and an RLock.
    mproc::Value<double> follower(0.0, {.lock = array.get_lock()});
    EXPECT_TRUE(follower.get_lock() == lock);
    mproc::RLock rlock;
    mproc::Array<int> recursive(3, {.lock = rlock});
    EXPECT_TRUE(recursive.get_lock() == rlock);
    EXPECT_TRUE(recursive.get_lock().recursive());
    // By default, a new RLock of its own.
    mproc::Value<int> own(5);
    EXPECT_TRUE(own.get_lock().recursive());
    EXPECT_FALSE(own.get_lock() == lock);
    EXPECT_TRUE(own.get_lock() == mproc::test::round_trip(own).get_lock());  // mapped twice, one lock
    EXPECT_FALSE(own.get_lock() == mproc::Value<int>(5).get_lock());
    mproc::Array<int> unlocked(10, {.lock = false});
    EXPECT_FALSE(unlocked.has_lock());
    EXPECT_THROW(unlocked.get_lock(), mproc::StateError);
    // Held through one, held through all of them.
    {
        std::lock_guard guard(value.get_lock());
        EXPECT_TRUE(lock.held_by_this_thread());
        EXPECT_TRUE(follower.get_lock().held_by_this_thread());
        EXPECT_FALSE(array.get_lock().try_lock());  // a Lock: not taken twice
    }
    EXPECT_FALSE(lock.held_by_this_thread());
    // A Condition on a Value's lock, as Python's Condition(v.get_lock()).
    mproc::Condition condition(value.get_lock());
    std::lock_guard guard(condition);
    EXPECT_TRUE(lock.held_by_this_thread());
    // Python's lock='navalue' is an AttributeError; here it does not compile.
    static_assert(!std::is_convertible_v<mproc::Semaphore, mproc::LockChoice>);
    static_assert(!std::is_convertible_v<mproc::Condition, mproc::LockChoice>);
    static_assert(!std::is_convertible_v<const char*, mproc::LockChoice>);
    static_assert(!std::is_convertible_v<int, mproc::LockChoice>);
    static_assert(!std::is_constructible_v<mproc::Value<int>, int, mproc::Semaphore>);
}

// The lock a Value and an Array were given stays the same lock in every process they reach, as
// arguments of a Process or of a pool task, under every start method.
TEST(Value, GivenLockIsTheSameLockInChildrenAndPoolTasks) {
    mproc::test::LeakCheck leaks;
    mproc::Lock lock;
    mproc::Value<long> counter(0, {.lock = lock});
    mproc::Array<long> tallies(1, {.lock = lock});
    // Each round takes the lock through a different handle; the counts stay exact only if all
    // three are one lock.
    auto work = [](int, mproc::Value<long> c, mproc::Array<long> t, mproc::Lock l) {
        require(!c.get_lock().recursive() && c.get_lock() == t.get_lock(), "the given Lock");
        for (int i = 0; i < 3000; ++i) {
            mproc::AnyLock handles[] = {c.get_lock(), t.get_lock(), l};
            std::lock_guard guard(handles[i % 3]);
            require(l.held_by_this_thread(), "held through any handle");
            c.value() += 1;
            t[0] += 1;
        }
    };
    auto children = mproc::test::start_children(3, work, counter, tallies, lock);
    {
        mproc::Pool pool(2);
        std::vector<mproc::AsyncResult<void>> tasks;
        for (int i = 0; i < 3; ++i) tasks.push_back(pool.apply_async(work, i, counter, tallies, lock));
        for (auto& task : tasks) task.get();
        pool.close();
        pool.join();
    }
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    EXPECT_EQ(counter.value(), 6 * 3000);
    EXPECT_EQ(tallies[0], 6 * 3000);
    // The parent's own handles still name the same lock.
    std::lock_guard guard(lock);
    EXPECT_EQ(mproc::test::run_child(
                  [](mproc::Value<long> c) { require(!c.get_lock().acquire(0s), "held by the parent"); }, counter),
              0);
}

TEST(Value, TypecodesNamePythonsTypes) {
    static_assert(std::is_same_v<mproc::typecode<'d'>, double>);
    static_assert(std::is_same_v<mproc::typecode<'i'>, int>);
    static_assert(std::is_same_v<mproc::typecode<'I'>, unsigned int>);
    static_assert(std::is_same_v<mproc::typecode<'b'>, signed char>);
    static_assert(std::is_same_v<mproc::typecode<'B'>, unsigned char>);
    static_assert(std::is_same_v<mproc::typecode<'h'>, short>);
    static_assert(std::is_same_v<mproc::typecode<'H'>, unsigned short>);
    static_assert(std::is_same_v<mproc::typecode<'l'>, long>);
    static_assert(std::is_same_v<mproc::typecode<'L'>, unsigned long>);
    static_assert(std::is_same_v<mproc::typecode<'q'>, long long>);
    static_assert(std::is_same_v<mproc::typecode<'Q'>, unsigned long long>);
    static_assert(std::is_same_v<mproc::typecode<'f'>, float>);
    static_assert(std::is_same_v<mproc::typecode<'c'>, char>);
    static_assert(std::is_same_v<mproc::c_double, double> && std::is_same_v<mproc::c_int, int>);
    mproc::Value<mproc::typecode<'d'>> value(1.5);
    EXPECT_EQ(value.value(), 1.5);
}

TEST(Array, BuildsFromACountAListOrAnyRange) {
    mproc::Array<int> zeros(5);
    EXPECT_EQ(zeros.size(), 5u);
    EXPECT_TRUE(std::ranges::all_of(zeros, [](int x) { return x == 0; }));
    mproc::Array<int> listed{3, 1, 4};
    EXPECT_EQ(std::vector<int>(listed.begin(), listed.end()), (std::vector<int>{3, 1, 4}));
    mproc::Array<int> ranged(std::views::iota(0, 10));
    EXPECT_EQ(ranged.size(), 10u);
    EXPECT_EQ(std::accumulate(ranged.begin(), ranged.end(), 0), 45);
    std::list<double> source{1.5, 2.5};
    mproc::Array<double> from_list(source);
    EXPECT_EQ(from_list[1], 2.5);
    auto odd = std::views::iota(0, 10) | std::views::filter([](int x) { return x % 2 == 1; });
    mproc::Array<int> filtered(odd);  // not sized: collected first
    EXPECT_EQ(filtered.size(), 5u);
    std::span<int> view = ranged.span();
    EXPECT_EQ(view[9], 9);
    EXPECT_THROW(ranged.at(10), std::out_of_range);
    mproc::Array<int> empty(0);
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.begin(), empty.end());
}

TEST(Array, WritesInChildrenAreSeenByTheParent) {
    mproc::test::LeakCheck leaks;
    mproc::Array<int> squares(8);
    auto children = mproc::test::start_children(8, [](int i, mproc::Array<int> a) { a[static_cast<std::size_t>(i)] = i * i; }, squares);
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(squares[i], static_cast<int>(i * i));
}

TEST(Value, EncodedHandleRefersToTheSameMemory) {
    mproc::test::LeakCheck leaks;
    {
        mproc::Value<int> value(5);
        auto copy = mproc::test::round_trip(value);
        copy.value() = 6;
        EXPECT_EQ(value.value(), 6);
        {
            std::lock_guard guard(copy.get_lock());  // the same lock, through another mapping
            EXPECT_TRUE(value.get_lock().held_by_this_thread());
        }
        mproc::Array<double> array{1.0, 2.0};
        auto array_copy = mproc::test::round_trip(array);
        array_copy[1] = 3.0;
        EXPECT_EQ(array[1], 3.0);
        mproc::RawArray<int> raw(4);
        EXPECT_FALSE(mproc::test::round_trip(raw).has_lock());
    }
}

TEST(Value, DecodingAsAnotherTypeIsRefused) {
    mproc::Value<int> value(5);
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    mproc::encode(out, value);
    mproc::Reader in(bytes, out.fds());
    EXPECT_THROW(mproc::decode<mproc::Value<double>>(in), mproc::SerializationError);
    mproc::Reader again(bytes, out.fds());
    EXPECT_THROW(mproc::decode<mproc::Array<int>>(again), mproc::SerializationError);
    mproc::Reader raw(bytes, out.fds());
    EXPECT_THROW(mproc::decode<mproc::RawValue<int>>(raw), mproc::SerializationError);
    mproc::Reader without_fds(bytes);
    EXPECT_THROW(mproc::decode<mproc::Value<int>>(without_fds), mproc::SerializationError);
}

// The child was started before the objects existed: they reach it only as descriptors.
TEST(Value, TravelsToAProcessStartedBeforeIt) {
    mproc::test::LeakCheck leaks;
    mproc::test::SocketPair sockets;
    mproc::Process child([](mproc::test::Descriptor socket) {
        auto counter = mproc::test::receive_object<mproc::Value<long>>(socket);
        auto array = mproc::test::receive_object<mproc::Array<int>>(socket);
        for (int i = 0; i < 1000; ++i) {
            std::lock_guard guard(counter.get_lock());
            counter.value() += 1;
        }
        for (auto& x : array) x *= 2;
    }, mproc::test::Descriptor{sockets.child()});
    child.start();
    mproc::Value<long> counter(0);
    mproc::Array<int> array{1, 2, 3};
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), counter));
    ASSERT_TRUE(mproc::test::send_object(sockets.parent(), array));
    for (int i = 0; i < 1000; ++i) {
        std::lock_guard guard(counter.get_lock());
        counter.value() += 1;
    }
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    EXPECT_EQ(counter.value(), 2000);
    EXPECT_EQ(std::vector<int>(array.begin(), array.end()), (std::vector<int>{2, 4, 6}));
}

TEST(Value, KilledLockHolderIsReportedAndTheLockStaysUsable) {
    mproc::test::LeakCheck leaks;
    mproc::Value<int> value(0);
    mproc::Process holder([](mproc::Value<int> v) {
        v.get_lock().acquire();
        v.value() = 42;  // half-way through an update
        ::raise(SIGKILL);
    }, value);
    holder.start();
    holder.join();
    ASSERT_EQ(holder.exitcode(), -SIGKILL);
    bool told = false;
    try {
        value.get_lock().acquire();
    } catch (const mproc::OwnerDied&) {
        told = true;  // we hold the lock now
        EXPECT_TRUE(value.get_lock().held_by_this_thread());
        value.value() = 0;  // repair
    }
    EXPECT_TRUE(told);
    value.get_lock().release();
    // Usable again, by this process and others.
    EXPECT_EQ(mproc::test::run_child([](mproc::Value<int> v) {
        require(v.get_lock().acquire(1s), "acquire after repair");
        v.value() += 1;
        v.get_lock().release();
    }, value), 0);
    std::lock_guard guard(value.get_lock());
    EXPECT_EQ(value.value(), 1);
}

TEST(Value, WaitersBlockedOnADeadHoldersLockAreReleased) {
    mproc::test::LeakCheck leaks;
    mproc::Value<int> value(0);
    mproc::Value<int> told(0, {.lock = false});
    value.get_lock().acquire();  // so that the holder and the waiters line up behind us
    mproc::Process holder([](mproc::Value<int> v) {
        v.get_lock().acquire();
        ::raise(SIGKILL);
    }, value);
    holder.start();
    std::this_thread::sleep_for(50ms);
    auto waiters = mproc::test::start_children(3, [](int, mproc::Value<int> v, mproc::Value<int> t) {
        for (;;) {
            try {
                std::lock_guard guard(v.get_lock());
                v.value() += 1;
                return;
            } catch (const mproc::OwnerDied&) {
                t.fetch_add(1);
                v.get_lock().release();
            }
        }
    }, value, told);
    std::this_thread::sleep_for(50ms);
    value.get_lock().release();
    holder.join();
    EXPECT_EQ(holder.exitcode(), -SIGKILL);
    for (int code : mproc::test::join_all(waiters)) EXPECT_EQ(code, 0);
    EXPECT_EQ(value.value(), 3);
    EXPECT_LE(told.load(), 1);  // only the holder's successor is told (if it was not us)
}

// Unnamed objects live in memfds: when their only user is killed, nothing remains.
TEST(Value, NothingIsLeftBehindWhenTheCreatorIsKilled) {
    mproc::test::LeakCheck leaks;
    mproc::Process creator([] {
        mproc::Value<double> value(1.0);
        mproc::Array<int> array(1000);
        mproc::Queue<std::string> queue;
        queue.put("left in the queue");
        value.get_lock().acquire();
        ::raise(SIGKILL);
    });
    creator.start();
    creator.join();
    EXPECT_EQ(creator.exitcode(), -SIGKILL);
}

}  // namespace
