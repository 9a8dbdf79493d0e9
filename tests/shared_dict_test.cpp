// SharedDict and FixedString: dict semantics, sharing with processes and pool tasks, counters
// from many processes, what a killed holder leaves, a full table, and no leaks.
#include <mproc/shared_dict.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <unordered_map>

#include <gtest/gtest.h>

#include <mproc/partial.hpp>
#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/shared.hpp>

#include "support/children.hpp"
#include "support/fd_passing.hpp"
#include "support/leak_check.hpp"

namespace {

using mproc::test::require;
using Name = mproc::FixedString<16>;

template <class K, class V>
std::map<K, V> as_map(const std::vector<std::pair<K, V>>& items) {
    return {items.begin(), items.end()};
}

TEST(SharedDict, BehavesLikeAPythonDict) {
    mproc::SharedDict<int, long> d(100);
    EXPECT_TRUE(d.empty());
    EXPECT_EQ(d.capacity(), 100u);
    d.set(1, 10);
    d[2] = 20;
    EXPECT_EQ(d.size(), 2u);
    EXPECT_EQ(d.get(1), 10);
    EXPECT_EQ(d.get(3), std::nullopt);
    EXPECT_EQ(d.get(3, -1), -1);
    EXPECT_EQ(d.at(2), 20);
    EXPECT_EQ(static_cast<long>(d[2]), 20);
    EXPECT_THROW(d.at(3), std::out_of_range);
    EXPECT_THROW(static_cast<void>(static_cast<long>(d[3])), std::out_of_range);
    EXPECT_TRUE(d.contains(1));
    EXPECT_FALSE(d.contains(3));

    d.set(1, 11);  // overwrite
    EXPECT_EQ(d.at(1), 11);
    EXPECT_EQ(d.size(), 2u);

    EXPECT_EQ(d.setdefault(1, 99), 11);
    EXPECT_EQ(d.setdefault(3, 30), 30);
    EXPECT_EQ(d.at(3), 30);

    EXPECT_EQ(d.pop(3), 30);
    EXPECT_THROW(d.pop(3), std::out_of_range);
    EXPECT_EQ(d.pop(3, -5), -5);
    EXPECT_TRUE(d.erase(2));
    EXPECT_FALSE(d.erase(2));
    EXPECT_EQ(d.size(), 1u);

    d.update({{4, 40}, {5, 50}});
    d.update(std::map<int, long>{{6, 60}, {1, 12}});
    EXPECT_EQ(as_map(d.items()), (std::map<int, long>{{1, 12}, {4, 40}, {5, 50}, {6, 60}}));
    auto keys = d.keys();
    std::ranges::sort(keys);
    EXPECT_EQ(keys, (std::vector<int>{1, 4, 5, 6}));
    auto values = d.values();
    std::ranges::sort(values);
    EXPECT_EQ(values, (std::vector<long>{12, 40, 50, 60}));

    EXPECT_EQ(d.update(4, [](long v) { return v * 2; }), 80);
    EXPECT_THROW(d.update(7, [](long v) { return v; }), std::out_of_range);
    EXPECT_EQ(d[4] += 1, 81);
    EXPECT_EQ(d[4] -= 2, 79);
    EXPECT_EQ(d.fetch_add(9, 3), 0);  // missing counts as 0
    EXPECT_EQ(d.fetch_add(9, 3), 3);
    EXPECT_EQ(d.at(9), 6);

    d.clear();
    EXPECT_TRUE(d.empty());
    EXPECT_TRUE(d.items().empty());
    EXPECT_FALSE(d.contains(1));
    d[1] = 1;  // usable after clear
    EXPECT_EQ(d.at(1), 1);

    mproc::SharedDict<int, int> listed(8, {{1, 2}, {3, 4}});
    EXPECT_EQ(listed.size(), 2u);
    EXPECT_EQ(listed.at(3), 4);
}

TEST(SharedDict, FunctionThatThrowsChangesNothing) {
    mproc::SharedDict<int, int> d(10);
    d[1] = 5;
    EXPECT_THROW(d.update(1, [](int) -> int { throw std::runtime_error("no"); }), std::runtime_error);
    EXPECT_EQ(d.at(1), 5);
    d[1] = 6;  // the stripe was unlocked
    EXPECT_EQ(d.at(1), 6);
}

TEST(SharedDict, FunctionUsingTheSameStripeIsAnErrorNotAHang) {
    mproc::SharedDict<int, int> d(10);  // one stripe
    d[1] = 5;
    EXPECT_THROW(d.update(1, [&](int v) { d.set(2, v); return v; }), mproc::StateError);
    EXPECT_EQ(d.at(1), 5);
}

// Removals leave markers in the table; many rounds of inserting and removing different keys
// must keep every lookup right (checked against std::unordered_map).
TEST(SharedDict, ChurnOfInsertionsAndRemovalsKeepsLookupsRight) {
    mproc::SharedDict<std::uint64_t, std::uint64_t> d(64);
    std::unordered_map<std::uint64_t, std::uint64_t> model;
    std::mt19937_64 random(42);
    for (int step = 0; step < 200'000; ++step) {
        const std::uint64_t key = random() % 256;
        switch (random() % 3) {
            case 0:
                if (model.size() < 64 || model.contains(key)) {
                    d.set(key, step);
                    model[key] = static_cast<std::uint64_t>(step);
                }
                break;
            case 1:
                ASSERT_EQ(d.erase(key), model.erase(key) == 1);
                break;
            default:
                ASSERT_EQ(d.get(key), model.contains(key) ? std::optional(model[key]) : std::nullopt);
        }
        ASSERT_EQ(d.size(), model.size());
    }
    for (const auto& [key, value] : model) EXPECT_EQ(d.at(key), value);
}

TEST(FixedString, HoldsTextUpToItsSizeAndRefusesLonger) {
    Name name = "apples";
    EXPECT_EQ(name, "apples");
    EXPECT_EQ(name.size(), 6u);
    EXPECT_EQ(name.str(), "apples");
    EXPECT_EQ(Name(std::string("a\0b", 3)).size(), 3u);
    EXPECT_EQ(Name(std::string(16, 'x')).size(), 16u);
    EXPECT_THROW(Name(std::string(17, 'x')), std::length_error);
    EXPECT_LT(Name("a"), Name("b"));
    static_assert(std::is_trivially_copyable_v<Name> && std::has_unique_object_representations_v<Name>);
}

TEST(SharedDict, FixedStringKeysAndValues) {
    mproc::SharedDict<Name, mproc::FixedString<8>> d(10);
    d["apple"] = "red";
    d.set(std::string("banana"), std::string_view("yellow"));
    EXPECT_EQ(d.at("apple"), "red");
    EXPECT_EQ(d.at(std::string("banana")).str(), "yellow");
    EXPECT_FALSE(d.contains("cherry"));
    EXPECT_THROW(d.set("cherry", "dark red!"), std::length_error);             // value too long
    EXPECT_THROW(d.set("a name over sixteen chars", "x"), std::length_error);  // key too long
    EXPECT_EQ(d.size(), 2u);
}

TEST(SharedDict, ChangesInAChildAreSeenByTheParent) {
    mproc::test::LeakCheck leaks;
    mproc::SharedDict<Name, int> d(100);
    d["parent"] = 1;
    EXPECT_EQ(mproc::test::run_child([](mproc::SharedDict<Name, int> child) {
        require(child.at("parent") == 1, "sees the parent's entry");
        child["child"] = 2;
        child.erase("parent");
    }, d), 0);
    EXPECT_EQ(d.at("child"), 2);
    EXPECT_FALSE(d.contains("parent"));
    EXPECT_EQ(d.size(), 1u);
}

TEST(SharedDict, PoolTasksShareTheSameTable) {
    mproc::test::LeakCheck leaks;
    mproc::SharedDict<int, int> squares(200);
    {
        mproc::Pool pool(2);
        pool.map(mproc::partial([](mproc::SharedDict<int, int> d, int x) { d.set(x, x * x); }, squares),
                 std::views::iota(0, 100));
        // A dict made after the pool reaches its workers too.
        mproc::SharedDict<int, int> later(10);
        pool.apply([](mproc::SharedDict<int, int> d) { d[7] = 49; }, later);
        EXPECT_EQ(later.at(7), 49);
        pool.close();
        pool.join();
    }
    EXPECT_EQ(squares.size(), 100u);
    for (int x = 0; x < 100; ++x) EXPECT_EQ(squares.at(x), x * x);
}

TEST(SharedDict, EncodedHandleRefersToTheSameTable) {
    mproc::SharedDict<int, int> d(10);
    auto copy = mproc::test::round_trip(d);
    copy[1] = 2;
    EXPECT_EQ(d.at(1), 2);
}

TEST(SharedDict, DecodingAsAnotherTypeIsRefused) {
    mproc::SharedDict<int, int> d(10);
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    mproc::encode(out, d);
    mproc::Reader in(bytes, out.fds());
    EXPECT_THROW((mproc::decode<mproc::SharedDict<int, long>>(in)), mproc::SerializationError);
    mproc::Reader again(bytes, out.fds());
    EXPECT_THROW(mproc::decode<mproc::Value<int>>(again), mproc::SerializationError);
}

// The main use of a manager dict: counting from many processes. Every increment must land.
TEST(SharedDict, CountersFromManyProcessesLoseNoUpdate) {
    mproc::test::LeakCheck leaks;
    mproc::SharedDict<Name, long> counts(100);
    counts["total"] = 0;
    constexpr int rounds = 5000;
    auto children = mproc::test::start_children(4, [](int i, mproc::SharedDict<Name, long> c) {
        const std::string mine = "child" + std::to_string(i);
        for (int n = 0; n < rounds; ++n) {
            c.fetch_add("word" + std::to_string(n % 20), 1);
            c["total"] += 1;
            c.update("total", [](long v) { return v + 1; });
            c.fetch_add(mine, 2);
        }
    }, counts);
    for (int code : mproc::test::join_all(children)) EXPECT_EQ(code, 0);
    EXPECT_EQ(counts.at("total"), 4L * rounds * 2);
    for (int w = 0; w < 20; ++w) EXPECT_EQ(counts.at("word" + std::to_string(w)), 4L * rounds / 20);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(counts.at("child" + std::to_string(i)), 2L * rounds);
    EXPECT_EQ(counts.size(), 25u);
}

// Readers take no lock: they must never see half of a value being written.
TEST(SharedDict, ReadersNeverSeeAHalfWrittenValue) {
    mproc::test::LeakCheck leaks;
    using Row = std::array<long, 8>;
    mproc::SharedDict<int, Row> d(10);
    d.set(1, Row{});
    mproc::SharedDict<int, int> done(1);
    auto readers = mproc::test::start_children(2, [](int, mproc::SharedDict<int, Row> rows,
                                                     mproc::SharedDict<int, int> finished) {
        long reads = 0;
        while (!finished.contains(0) || reads < 1000) {
            const Row row = rows.at(1);
            require(std::ranges::all_of(row, [&](long x) { return x == row[0]; }), "a whole row");
            ++reads;
        }
    }, d, done);
    for (long n = 1; n <= 100'000; ++n) {
        Row row;
        row.fill(n);
        d.set(1, row);
    }
    done[0] = 1;
    for (int code : mproc::test::join_all(readers)) EXPECT_EQ(code, 0);
    EXPECT_EQ(d.at(1)[7], 100'000);
}

// A process killed inside update(key, fn), its stripe locked: the others carry on, the entry
// keeps its old value.
TEST(SharedDict, ProcessKilledHoldingAStripeDoesNotWedgeTheOthers) {
    mproc::test::LeakCheck leaks;
    mproc::SharedDict<int, long> d(10);  // one stripe: every key shares the dead holder's lock
    d[1] = 100;
    mproc::Process holder([](mproc::SharedDict<int, long> dict) {
        dict.update(1, [](long) -> long {
            ::raise(SIGKILL);
            return 0;
        });
    }, d);
    holder.start();
    holder.join();
    ASSERT_EQ(holder.exitcode(), -SIGKILL);
    auto others = mproc::test::start_children(3, [](int i, mproc::SharedDict<int, long> dict) {
        for (int n = 0; n < 1000; ++n) dict.fetch_add(1, 1);
        dict[10 + i] = i;
    }, d);
    for (int code : mproc::test::join_all(others)) EXPECT_EQ(code, 0);
    EXPECT_EQ(d.at(1), 100 + 3000);
    EXPECT_EQ(d.size(), 4u);
}

// Killed half-way through copying a new value in: the value is the old one, whole.
TEST(SharedDict, ProcessKilledMidWriteLeavesTheOldValueWhole) {
    mproc::test::LeakCheck leaks;
    using Row = std::array<long, 8>;
    mproc::SharedDict<int, Row> d(10);
    Row ones;
    ones.fill(1);
    d.set(1, ones);
    mproc::Process writer([](mproc::SharedDict<int, Row> dict) {
        mproc::detail::shared_dict_fault_hook = [] { ::raise(SIGKILL); };
        Row twos;
        twos.fill(2);
        dict.set(1, twos);
    }, d);
    writer.start();
    writer.join();
    ASSERT_EQ(writer.exitcode(), -SIGKILL);
    EXPECT_EQ(d.at(1), ones);  // lock-free read of a stripe whose writer died: falls back and repairs
    EXPECT_EQ(d.size(), 1u);
    Row threes;
    threes.fill(3);
    d.set(1, threes);
    EXPECT_EQ(d.at(1), threes);
}

// A value one store writes (8 bytes here) is never journalled: killed right after the store, the
// writer leaves the new value whole, and the stripe works on.
TEST(SharedDict, ProcessKilledSettingAWordSizedValueLeavesTheNewValueWhole) {
    mproc::test::LeakCheck leaks;
    mproc::SharedDict<int, long> d(10);
    d[1] = 0x1111111111111111L;
    mproc::Process writer([](mproc::SharedDict<int, long> dict) {
        mproc::detail::shared_dict_fault_hook = [] { ::raise(SIGKILL); };
        dict.set(1, 0x2222222222222222L);
    }, d);
    writer.start();
    writer.join();
    ASSERT_EQ(writer.exitcode(), -SIGKILL);
    EXPECT_EQ(d.at(1), 0x2222222222222222L);
    d.set(1, 3);
    EXPECT_EQ(d.at(1), 3);
    EXPECT_EQ(d.size(), 1u);
}

// Killed after writing a new entry but before publishing it: the entry is absent, the count right.
TEST(SharedDict, ProcessKilledMidInsertLeavesTheKeyAbsent) {
    mproc::test::LeakCheck leaks;
    mproc::SharedDict<int, int> d(10);
    d[1] = 1;
    mproc::Process writer([](mproc::SharedDict<int, int> dict) {
        mproc::detail::shared_dict_fault_hook = [] { ::raise(SIGKILL); };
        dict.set(2, 2);
    }, d);
    writer.start();
    writer.join();
    ASSERT_EQ(writer.exitcode(), -SIGKILL);
    EXPECT_EQ(mproc::test::run_child([](mproc::SharedDict<int, int> dict) {
        require(!dict.contains(2), "the unpublished entry is absent");
        dict[3] = 3;
    }, d), 0);
    EXPECT_EQ(as_map(d.items()), (std::map<int, int>{{1, 1}, {3, 3}}));
    EXPECT_EQ(d.size(), 2u);
}

TEST(SharedDict, FullTableThrowsFullAndStaysUsable) {
    mproc::SharedDict<int, int> d(10);
    int inserted = 0;
    try {
        for (; inserted < 1000; ++inserted) d.set(inserted, inserted);
        FAIL() << "a table made for 10 entries took 1000";
    } catch (const mproc::Full&) {
    }
    EXPECT_GE(inserted, 10);
    EXPECT_EQ(d.size(), static_cast<std::size_t>(inserted));
    EXPECT_THROW(d.setdefault(-1, 0), mproc::Full);
    EXPECT_THROW(d.fetch_add(-1, 1), mproc::Full);
    EXPECT_FALSE(d.contains(-1));
    d.set(0, 100);  // existing keys can still change
    EXPECT_EQ(d.at(0), 100);
    EXPECT_TRUE(d.erase(1));
    d.set(-1, 7);  // and a removal makes room
    EXPECT_EQ(d.at(-1), 7);
}

TEST(SharedDict, BadCapacitiesAreClearErrors) {
    EXPECT_THROW((mproc::SharedDict<int, int>(0)), std::invalid_argument);
    EXPECT_THROW((mproc::SharedDict<int, int>(std::size_t{1} << 40)), std::length_error);
}

TEST(SharedDict, TenThousandDictsLeaveNoDescriptorsOrMemoryBehind) {
    mproc::test::LeakCheck leaks;
    {
        mproc::SharedDict<int, int> warm(100);  // first-use allocations out of the measurement
        warm[1] = 1;
    }
    const long before = mproc::test::resident_bytes();
    for (int i = 0; i < 10'000; ++i) {
        mproc::SharedDict<int, int> d(100);
        d[i] = i;
        ASSERT_EQ(d.at(i), i);
    }
    // The sanitizers keep freed memory in quarantine or shadow memory: there, only descriptors
    // are checked.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    EXPECT_LT(mproc::test::resident_bytes() - before, 4l << 20) << "resident memory grew";
#else
    (void)before;
#endif
}

}  // namespace
