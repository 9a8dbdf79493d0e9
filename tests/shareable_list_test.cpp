// ShareableList and SharedMemoryManager: the behaviours of CPython's _TestSharedMemory tests
// (test_shared_memory_ShareableList_basics, _pickling, _pickling_dead_object,
// test_shared_memory_SharedMemoryManager_basics, _reuses_resource_tracker), each as a test of its
// own, plus what C++ adds: typed access, checked layouts, processes and pool tasks under every
// start method, and the resource tracker behind a manager whose owner was killed.
// (The Python interop tests are in shareable_list_python_test.cpp.)
#include <mproc/shareable_list.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <ranges>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/pool.hpp>
#include <mproc/process.hpp>
#include <mproc/serialize.hpp>
#include <mproc/sync.hpp>

#include "resource_tracker.hpp"
#include "support/children.hpp"
#include "support/leak_check.hpp"
#include "support/reexec.hpp"
#include "support/run_self.hpp"
#include "support/start_methods.hpp"

namespace {

using namespace std::chrono_literals;
using mproc::test::require;
using Item = mproc::ShareableList::Item;
using None = mproc::ShareableList::None;

mproc::Bytes bytes_of(std::string_view text) {
    const auto* data = reinterpret_cast<const std::byte*>(text.data());
    return {data, data + text.size()};
}

bool exists_in_dev_shm(const std::string& name) { return std::filesystem::exists("/dev/shm/" + name); }

std::string unique_name(const char* what) {
    return std::string("mproc_test_sl_") + what + "_" + std::to_string(::getpid());
}

// The tracker starts with the first tracked segment and holds a descriptor of this process from
// then on: started before any test, it is not taken for a descriptor a test leaked.
class TrackerStartedFirst : public ::testing::Environment {
    void SetUp() override { mproc::detail::ensure_resource_tracker(); }
};
[[maybe_unused]] const auto* const tracker_started_first = ::testing::AddGlobalTestEnvironment(new TrackerStartedFirst);

// Removes a list's segment at the end of a test, as Python's addCleanup(sl.shm.unlink).
struct Unlinker {
    mproc::ShareableList& list;
    ~Unlinker() {
        list.shm().close();
        try {
            list.shm().unlink();
        } catch (const mproc::OSError&) {
        }
    }
};

// Python: ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42])
mproc::ShareableList howdy_list() { return mproc::ShareableList({"howdy", bytes_of("HoWdY"), -273.154, 100, None{}, true, 42}); }

// ---------------------------------------------------------------------------------------------
// ShareableList: test_shared_memory_ShareableList_basics, one behaviour at a time

TEST(ShareableList, HoldsPythonsItemTypesInPythonsFormats) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    EXPECT_EQ(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q");
    EXPECT_EQ(sl.size(), 7u);
    EXPECT_FALSE(sl.empty());
    EXPECT_EQ(sl[0], Item("howdy"));
    EXPECT_EQ(sl.get<std::string>(0), "howdy");
    EXPECT_EQ(sl.get<mproc::Bytes>(1), bytes_of("HoWdY"));
    EXPECT_EQ(sl.get<double>(2), -273.154);
    EXPECT_EQ(sl.get<std::int64_t>(3), 100);
    EXPECT_EQ(sl[4], Item(None{}));
    EXPECT_EQ(sl[sl.size() - 2], Item(true));  // Python: sl[-2]
    EXPECT_EQ(sl.get<std::int64_t>(6), 42);
    const std::vector<Item> expected{"howdy", bytes_of("HoWdY"), -273.154, 100, None{}, true, 42};
    EXPECT_EQ(sl.to_vector(), expected);  // Python: tuple(sl)
    std::vector<Item> iterated;
    for (auto item : sl) iterated.push_back(item);
    EXPECT_EQ(iterated, expected);
    static_assert(std::ranges::input_range<mproc::ShareableList>);
}

TEST(ShareableList, ReprShowsTheItemsAndTheName) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    EXPECT_EQ(sl.repr(),
              "ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True, 42], name='" + sl.name() + "')");
    EXPECT_EQ(mproc::ShareableList::repr(Item(1e16)), "1e+16");
    EXPECT_EQ(mproc::ShareableList::repr(Item(123456789012345.0)), "123456789012345.0");
    EXPECT_EQ(mproc::ShareableList::repr(Item(0.0001)), "0.0001");
    EXPECT_EQ(mproc::ShareableList::repr(Item(0.00001)), "1e-05");
    EXPECT_EQ(mproc::ShareableList::repr(Item(-0.0)), "-0.0");
    EXPECT_EQ(mproc::ShareableList::repr(Item(std::nan(""))), "nan");
    EXPECT_EQ(mproc::ShareableList::repr(Item("it's")), "\"it's\"");
    EXPECT_EQ(mproc::ShareableList::repr(Item(bytes_of({"a\0\n\xff", 4}))), "b'a\\x00\\n\\xff'");
}

TEST(ShareableList, IndexPastTheEndIsOutOfRange) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    EXPECT_THROW(sl[7], std::out_of_range);         // Python: IndexError
    EXPECT_THROW(sl.set(7, 2), std::out_of_range);  // Python: IndexError
    EXPECT_THROW(sl.get<std::int64_t>(100), std::out_of_range);
    EXPECT_THROW(sl.slot_capacity(7), std::out_of_range);
}

TEST(ShareableList, AStrReplacedByAStrKeepsItsFormat) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    sl.set(0, "howdy");
    EXPECT_EQ(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q");
    sl.set(0, "hi");
    EXPECT_EQ(sl.format(), "8s8sdqxxxxxx?xxxxxxxx?q");
    EXPECT_EQ(sl[0], Item("hi"));
}

TEST(ShareableList, IndexAndCountCompareAsPythonDoes) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    EXPECT_THROW(sl.index("100"), std::invalid_argument);  // Python: ValueError
    EXPECT_EQ(sl.index(100), 3u);
    EXPECT_EQ(sl.index(100.0), 3u);   // 100 == 100.0
    EXPECT_EQ(sl.index(true), 5u);    // True == True comes before 42
    EXPECT_EQ(sl.index(None{}), 4u);
    sl.set(3, 42);
    EXPECT_EQ(sl.count(42), 2u);
    EXPECT_EQ(sl.count(bytes_of("HoWdY")), 1u);
    EXPECT_EQ(sl.count("HoWdY"), 0u);  // a str is never equal to bytes
    EXPECT_EQ(sl.count(bytes_of("adios")), 0u);
    EXPECT_EQ(sl.count(1), 1u);  // True == 1
    EXPECT_TRUE(mproc::ShareableList::equal(std::int64_t{1} << 53, 9007199254740992.0));
    EXPECT_FALSE(mproc::ShareableList::equal((std::int64_t{1} << 53) + 1, 9007199254740992.0));  // exact, as Python
    EXPECT_FALSE(mproc::ShareableList::equal(std::nan(""), std::nan("")));
    EXPECT_FALSE(mproc::ShareableList::equal(None{}, false));
}

TEST(ShareableList, ItemsChangeTypeInTheirSlot) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    sl.set(3, 42);
    EXPECT_EQ(sl[3], Item(42));
    sl.set(4, "some");  // None -> str
    EXPECT_EQ(sl[4], Item("some"));
    EXPECT_EQ(sl.format(), "8s8sdq8sxxxxxxx?q");
    sl.set(0, 1.5);  // str -> float -> str again
    EXPECT_EQ(sl.format(), "d8sdq8sxxxxxxx?q");
    sl.set(0, bytes_of("back"));
    EXPECT_EQ(sl.format(), "8s8sdq8sxxxxxxx?q");
    EXPECT_EQ(sl[0], Item(bytes_of("back")));
    sl.set(6, None{});
    EXPECT_EQ(sl[6], Item(None{}));
}

TEST(ShareableList, StrOrBytesLongerThanItsSlotIsRefusedAndChangesNothing) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    sl.set(4, "some");
    try {
        sl.set(4, "far too many");
        ADD_FAILURE() << "a 12-byte str fit in an 8-byte slot";
    } catch (const std::length_error& error) {  // Python: ValueError
        EXPECT_NE(std::string(error.what()).find("exceeds available storage"), std::string::npos) << error.what();
    }
    EXPECT_EQ(sl[4], Item("some"));
    EXPECT_EQ(sl.slot_capacity(0), 8u);
    sl.set(0, "encod\xc3\xa9s");  // exactly 8 bytes of UTF-8
    EXPECT_EQ(sl[0], Item("encod\xc3\xa9s"));
    EXPECT_EQ(sl[1], Item(bytes_of("HoWdY")));  // no spillage
    EXPECT_THROW(sl.set(0, "encod\xc3\xa9\x65s"), std::length_error);  // 9 bytes
    EXPECT_EQ(sl[1], Item(bytes_of("HoWdY")));
    EXPECT_THROW(sl.set(1, bytes_of("123456789")), std::length_error);
    EXPECT_EQ(sl[1], Item(bytes_of("HoWdY")));
}

TEST(ShareableList, DuplicateUnderAGivenNameIsIndependent) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    const std::string name = unique_name("duplicate");
    auto copy = mproc::ShareableList::create(name, sl.to_vector());  // Python: ShareableList(sl, name=name)
    Unlinker copy_cleanup{copy};
    EXPECT_NE(copy.name(), sl.name());
    EXPECT_EQ(copy.name(), name);
    EXPECT_EQ(copy.to_vector(), sl.to_vector());
    EXPECT_EQ(copy.format(), sl.format());
    copy.set(copy.size() - 1, 77);
    EXPECT_EQ(copy[6], Item(77));
    EXPECT_NE(sl[6], Item(77));
    try {
        (void)mproc::ShareableList::create(name, {1});
        ADD_FAILURE() << "created a taken name";
    } catch (const mproc::OSError& error) {
        EXPECT_EQ(error.code(), EEXIST);
    }
}

TEST(ShareableList, SecondHandleAttachedByNameSharesTheItems) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    mproc::ShareableList tethered(sl.name());  // Python: ShareableList(name=sl.shm.name)
    EXPECT_EQ(tethered.name(), sl.name());
    EXPECT_EQ(tethered.size(), 7u);
    tethered.set(tethered.size() - 1, 880);
    EXPECT_EQ(sl[6], Item(880));
    tethered.shm().close();
    EXPECT_EQ(sl[6], Item(880));  // another handle: still open
}

TEST(ShareableList, EmptyListHasNoFormatAndFindsNothing) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList empty({});  // Python: ShareableList()
    Unlinker cleanup{empty};
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_TRUE(empty.empty());
    EXPECT_EQ(empty.format(), "");
    EXPECT_EQ(empty.count("any"), 0u);
    EXPECT_THROW(empty.index(None{}), std::invalid_argument);
    EXPECT_EQ(empty.shm().size(), 16u);
    EXPECT_EQ(mproc::ShareableList(empty.name()).size(), 0u);
}

// ---------------------------------------------------------------------------------------------
// What the layout implies, and what C++ adds

TEST(ShareableList, TrailingNulsAreLostAsInPython) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList sl({bytes_of({"ab\0", 3}), std::string("a\0b\0", 4), bytes_of({"\0\0", 2})});
    Unlinker cleanup{sl};
    EXPECT_EQ(sl[0], Item(bytes_of("ab")));
    EXPECT_EQ(sl[1], Item(std::string("a\0b", 3)));
    EXPECT_EQ(sl[2], Item(mproc::Bytes{}));
}

TEST(ShareableList, SlotsAreRoundedPastTheNextMultipleOfEight) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList sl({"", "1234567", "12345678", mproc::Bytes(100), 1});
    Unlinker cleanup{sl};
    EXPECT_EQ(sl.slot_capacity(0), 8u);
    EXPECT_EQ(sl.slot_capacity(1), 8u);
    EXPECT_EQ(sl.slot_capacity(2), 16u);
    EXPECT_EQ(sl.slot_capacity(3), 104u);
    EXPECT_EQ(sl.slot_capacity(4), 8u);
    EXPECT_EQ(sl.format(), "8s8s16s104sq");
    // count, offsets, data, formats, codes: 8 + 6 * 8 + 144 + 5 * 8 + 5
    EXPECT_EQ(sl.shm().size(), 245u);
    sl.set(4, "8 bytes!");
    EXPECT_EQ(sl[4], Item("8 bytes!"));
}

TEST(ShareableList, StrItemsMustBeUtf8) {
    mproc::test::LeakCheck leaks;
    EXPECT_THROW(mproc::ShareableList({"\xff"}), std::invalid_argument);
    EXPECT_THROW(mproc::ShareableList({"\xed\xa0\x80"}), std::invalid_argument);  // a surrogate
    EXPECT_THROW(mproc::ShareableList({"\xc0\xaf"}), std::invalid_argument);      // overlong
    mproc::ShareableList sl({"ok", bytes_of("\xff")});  // bytes may hold anything
    Unlinker cleanup{sl};
    EXPECT_THROW(sl.set(0, "\xe2\x82"), std::invalid_argument);  // truncated
    EXPECT_EQ(sl[0], Item("ok"));
    sl.set(0, "\xf0\x9f\x98\x80");
    EXPECT_EQ(sl.get<std::string>(0), "\xf0\x9f\x98\x80");
}

TEST(ShareableList, TypedGetRefusesAnItemOfAnotherType) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    Unlinker cleanup{sl};
    EXPECT_THROW(sl.get<double>(3), std::bad_variant_access);  // an int is not read as a float
    EXPECT_THROW(sl.get<std::string>(1), std::bad_variant_access);
    EXPECT_THROW(sl.get<bool>(6), std::bad_variant_access);
}

TEST(ShareableList, BuiltFromAnyRangeOfConvertibleValues) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList sl(std::views::iota(0, 10));  // Python: ShareableList(range(10))
    Unlinker cleanup{sl};
    EXPECT_EQ(sl.size(), 10u);
    EXPECT_EQ(sl.format(), "qqqqqqqqqq");
    EXPECT_EQ(sl[9], Item(9));
    const std::vector<std::string> words{"a", "bb"};
    mproc::ShareableList texts(words);
    Unlinker texts_cleanup{texts};
    EXPECT_EQ(texts[1], Item("bb"));
}

TEST(ShareableList, SegmentThatHoldsNoListIsRefused) {
    mproc::test::LeakCheck leaks;
    auto garbage = mproc::SharedMemory::create(64);
    std::memset(garbage.buf().data(), 0xff, 8);  // a count of -1
    EXPECT_THROW(mproc::ShareableList(garbage.name()), mproc::SerializationError);
    const std::int64_t huge = 1'000'000;
    std::memcpy(garbage.buf().data(), &huge, 8);
    EXPECT_THROW(mproc::ShareableList(garbage.name()), mproc::SerializationError);
    const std::int64_t one = 1, past_the_end = 1000;
    std::memcpy(garbage.buf().data(), &one, 8);
    std::memset(garbage.buf().data() + 8, 0, 8);
    std::memcpy(garbage.buf().data() + 16, &past_the_end, 8);
    EXPECT_THROW(mproc::ShareableList(garbage.name()), mproc::SerializationError);
    auto tiny = mproc::SharedMemory::create(8);
    EXPECT_THROW(mproc::ShareableList(tiny.name()), mproc::SerializationError);
    // A valid layout with an item format another process scribbled over.
    mproc::ShareableList sl({1});
    Unlinker cleanup{sl};
    std::byte* format = sl.shm().buf().data() + 8 * 3 + 8;
    std::memcpy(format, "99s\0\0\0\0\0", 8);  // longer than the slot
    EXPECT_THROW(sl[0], mproc::SerializationError);
    std::memset(format, 0, 8);  // no format at all
    EXPECT_THROW(sl[0], mproc::SerializationError);
    format[8] = std::byte{3};  // ... even for a None
    EXPECT_THROW(sl[0], mproc::SerializationError);
    format[8] = std::byte{9};  // an unknown code
    std::memcpy(format, "q\0\0\0\0\0\0\0", 8);
    EXPECT_THROW(sl[0], mproc::SerializationError);
    std::memcpy(format, "8s\0\0\0\0\0\0", 8);
    EXPECT_THROW(sl[0], mproc::SerializationError);
    garbage.unlink();
    tiny.unlink();
}

TEST(ShareableList, ClosedListIsAStateError) {
    mproc::test::LeakCheck leaks;
    auto sl = howdy_list();
    const auto copy = sl;
    sl.shm().close();
    EXPECT_THROW(copy[0], mproc::StateError);  // copies share the segment handle
    EXPECT_THROW(sl.set(0, 1), mproc::StateError);
    EXPECT_EQ(sl.size(), 7u);
    sl.shm().unlink();
}

TEST(ShareableList, AttachingToAMissingNameIsFileNotFound) {
    try {
        mproc::ShareableList absent(unique_name("absent"));
        ADD_FAILURE() << "attached to a missing segment";
    } catch (const mproc::OSError& error) {
        EXPECT_EQ(error.code(), ENOENT);
    }
}

// ---------------------------------------------------------------------------------------------
// Across processes: test_shared_memory_ShareableList_pickling and _pickling_dead_object

TEST(ShareableList, TravelsToAProcessAndSharesItsItemsBothWays) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList sl(std::views::iota(0, 10));
    Unlinker cleanup{sl};
    mproc::Event written, answered;
    mproc::Process child(
        [](mproc::ShareableList list, mproc::Event child_written, mproc::Event child_answered) {
            require(list.size() == 10 && list[9] == Item(9), "the same items");
            list.set(4, "changed");
            child_written.set();
            require(child_answered.wait(30s), "the parent answered");
            require(list[3] == Item("newvalue"), "the parent's write is seen here");
        },
        sl, written, answered);
    child.start();
    ASSERT_TRUE(written.wait(30s));
    EXPECT_EQ(sl[4], Item("changed"));
    sl.set(3, "newvalue");
    answered.set();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
}

// Python pickles a ShareableList as its name: the pickle of 400 items is as small as that of 10.
TEST(ShareableList, EncodingDoesNotGrowWithTheList) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList small(std::views::iota(0, 10)), large(std::views::iota(0, 400));
    Unlinker small_cleanup{small}, large_cleanup{large};
    std::vector<std::byte> small_bytes, large_bytes;
    mproc::Writer small_writer(small_bytes), large_writer(large_bytes);
    mproc::encode(small_writer, small);
    mproc::encode(large_writer, large);
    EXPECT_EQ(small_bytes.size(), large_bytes.size());
}

// Python re-attaches by name and fails with FileNotFoundError once the name is gone; here the
// list travels as a descriptor, as SharedMemory does, and arrives all the same.
TEST(ShareableList, TravelsEvenAfterItsNameIsUnlinked) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList sl(std::views::iota(0, 10));
    sl.shm().unlink();
    EXPECT_EQ(mproc::test::run_child([](mproc::ShareableList list) {
        require(list[9] == Item(9), "the items arrived");
        list.set(0, -1);
    }, sl), 0);
    EXPECT_EQ(sl[0], Item(-1));
}

TEST(ShareableList, PoolTasksWriteTheirOwnItems) {
    mproc::test::LeakCheck leaks;
    mproc::ShareableList sl(std::vector<Item>(16, "........"));
    Unlinker cleanup{sl};
    {
        mproc::Pool pool(2);
        pool.starmap([](mproc::ShareableList list, int i) {
            const auto index = static_cast<std::size_t>(i);
            list.set(index, i % 2 ? Item(std::int64_t{i} * i) : Item("item " + std::to_string(i)));
        }, std::views::iota(0, 16) | std::views::transform([&](int i) { return std::tuple(sl, i); }));
        // A list created after the pool reaches its workers too.
        auto later = mproc::ShareableList({0.5});
        EXPECT_EQ(pool.apply([](mproc::ShareableList list) { return list.get<double>(0) * 2; }, later), 1.0);
        later.shm().unlink();
    }
    for (std::int64_t i = 0; i < 16; ++i) {
        const auto expected = i % 2 ? Item(i * i) : Item("item " + std::to_string(i));
        EXPECT_EQ(sl[static_cast<std::size_t>(i)], expected) << i;
    }
}

// ---------------------------------------------------------------------------------------------
// SharedMemoryManager: test_shared_memory_SharedMemoryManager_basics and
// _reuses_resource_tracker

TEST(SharedMemoryManager, CreatesNothingBeforeItIsStarted) {
    mproc::SharedMemoryManager smm;
    EXPECT_FALSE(smm.running());
    EXPECT_THROW(smm.SharedMemory(9), mproc::StateError);  // Python: ValueError
    EXPECT_THROW(smm.ShareableList({1}), mproc::StateError);
}

TEST(SharedMemoryManager, ShutdownUnlinksEverySegmentItCreated) {
    mproc::test::LeakCheck leaks;
    mproc::SharedMemoryManager smm;
    smm.start();
    EXPECT_TRUE(smm.running());
    std::vector<mproc::ShareableList> lists;
    for (int i = 5; i < 10; ++i) lists.push_back(smm.ShareableList(std::views::iota(0, i)));
    std::vector<mproc::SharedMemory> blocks;
    for (std::size_t size = 32; size < 128; size += 16) blocks.push_back(smm.SharedMemory(size));
    EXPECT_EQ(smm.segment_names().size(), 11u);
    mproc::ShareableList doppelganger_list(lists[0].name());
    EXPECT_EQ(doppelganger_list.size(), 5u);
    mproc::SharedMemory doppelganger_block(blocks[0].name());
    EXPECT_GE(doppelganger_block.size(), 32u);
    const std::string held_name = blocks[0].name();
    smm.shutdown();
    EXPECT_FALSE(smm.running());
    EXPECT_TRUE(smm.segment_names().empty());
    try {
        mproc::SharedMemory absent(held_name);
        ADD_FAILURE() << "the segment is still there";
    } catch (const mproc::OSError& error) {
        EXPECT_EQ(error.code(), ENOENT);  // Python: FileNotFoundError
    }
    for (const auto& list : lists) EXPECT_FALSE(exists_in_dev_shm(list.name()));
    // Still mapped where they were attached, as after any unlink().
    EXPECT_EQ(doppelganger_list[4], Item(4));
    smm.shutdown();  // idempotent
    EXPECT_THROW(smm.SharedMemory(9), mproc::StateError);
    EXPECT_THROW(smm.start(), mproc::StateError);  // Python: ProcessError
}

// Python's `with SharedMemoryManager() as smm:` block.
TEST(SharedMemoryManager, DestructorUnlinksLikeTheEndOfAWithBlock) {
    mproc::test::LeakCheck leaks;
    std::string list_name, block_name;
    {
        mproc::SharedMemoryManager smm;
        smm.start();
        EXPECT_THROW(smm.start(), mproc::StateError);
        auto sl = smm.ShareableList({"h", "o", "w", "d", "y"});
        auto shm = smm.SharedMemory(128);
        list_name = sl.name();
        block_name = shm.name();
        EXPECT_TRUE(exists_in_dev_shm(list_name));
    }
    EXPECT_FALSE(exists_in_dev_shm(list_name));
    EXPECT_FALSE(exists_in_dev_shm(block_name));
    EXPECT_THROW(mproc::ShareableList absent(list_name), mproc::OSError);
}

TEST(SharedMemoryManager, ShutdownSkipsSegmentsAlreadyUnlinked) {
    mproc::test::LeakCheck leaks;
    mproc::SharedMemoryManager smm;
    smm.start();
    auto early = smm.SharedMemory(64);
    auto kept = smm.ShareableList({1, 2});
    early.unlink();
    smm.shutdown();
    EXPECT_FALSE(exists_in_dev_shm(kept.name()));
}

TEST(SharedMemoryManager, SegmentsReachProcessesAndPoolTasks) {
    mproc::test::LeakCheck leaks;
    mproc::SharedMemoryManager smm;
    smm.start();
    auto sl = smm.ShareableList({0, 0, 0, 0});
    auto block = smm.SharedMemory(4);
    {
        mproc::Pool pool(2);
        pool.starmap([](mproc::ShareableList list, mproc::SharedMemory shm, int i) {
            list.set(static_cast<std::size_t>(i), i + 1);
            shm.buf()[static_cast<std::size_t>(i)] = std::byte{1};
        }, std::views::iota(0, 4) | std::views::transform([&](int i) { return std::tuple(sl, block, i); }));
    }
    EXPECT_EQ(sl.to_vector(), (std::vector<Item>{1, 2, 3, 4}));
    for (const auto byte : block.buf()) EXPECT_EQ(byte, std::byte{1});
}

mproc::SharedMemoryManager* inherited_manager = nullptr;

// A forked child's copy of the manager is inert: its segments are the parent's to unlink.
TEST(SharedMemoryManager, CopyInAForkedChildNeitherCreatesNorUnlinks) {
    MPROC_TEST_REQUIRES_FORK();
    mproc::test::LeakCheck leaks;
    mproc::SharedMemoryManager smm;
    smm.start();
    auto sl = smm.ShareableList({1});
    inherited_manager = &smm;
    EXPECT_EQ(mproc::test::run_child([] {
        bool refused = false;
        try {
            inherited_manager->SharedMemory(8);
        } catch (const mproc::StateError&) {
            refused = true;
        }
        require(refused, "creating through a copy throws StateError");
        inherited_manager->shutdown();
    }), 0);
    inherited_manager = nullptr;
    EXPECT_TRUE(exists_in_dev_shm(sl.name()));
    EXPECT_TRUE(smm.running());
    smm.shutdown();
    EXPECT_FALSE(exists_in_dev_shm(sl.name()));
}

// bpo-36867: a manager that shut down leaves the tracker nothing to complain about.
const mproc::test::RegisterRole manager_shuts_down_role("sl-manager-shuts-down", [] {
    mproc::SharedMemoryManager smm;
    smm.start();
    auto sl = smm.ShareableList(std::views::iota(0, 10));
    mproc::test::run_child([](mproc::ShareableList list) { list.set(0, 1); }, sl);
    smm.shutdown();
    return 0;
});

TEST(SharedMemoryManager, ShutdownLeavesTheResourceTrackerNothingToReport) {
    mproc::test::LeakCheck leaks;
    const auto run = mproc::test::run_self("sl-manager-shuts-down");
    EXPECT_EQ(run.exitcode, 0) << run.err;
    EXPECT_EQ(run.err, "");
}

// The owner is killed before shutdown(): the resource tracker unlinks the segments once the
// program is gone, with Python's warning.
const mproc::test::RegisterRole manager_killed_role("sl-manager-killed", [] {
    mproc::SharedMemoryManager smm;
    smm.start();
    auto sl = smm.ShareableList({"left behind"});
    std::printf("%s\n", sl.name().c_str());
    std::fflush(stdout);
    ::raise(SIGKILL);
    return 1;
});

TEST(SharedMemoryManager, SegmentsOfAKilledOwnerAreUnlinkedByTheResourceTracker) {
    mproc::test::LeakCheck leaks;
    const auto run = mproc::test::run_self("sl-manager-killed");
    EXPECT_EQ(run.exitcode, -SIGKILL);
    const std::string name = run.out.substr(0, run.out.find('\n'));
    ASSERT_FALSE(name.empty());
    // run_self returns once the tracker, which holds the program's stderr, has cleaned up.
    EXPECT_FALSE(exists_in_dev_shm(name));
    EXPECT_NE(run.err.find("leaked shared_memory objects"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(name), std::string::npos) << run.err;
}

}  // namespace
