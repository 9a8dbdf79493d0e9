// mproc::ShareableList against Python's multiprocessing.shared_memory.ShareableList
// (tests/python/shareable_list_peer.py): the same bytes for the same items, a list mproc created
// read and written by Python, and a list Python created read and written by mproc.
//
// The Python is MPROC_TEST_PYTHON, or /usr/bin/python3 (Debian 12's: Python 3.11, whose layout
// mproc writes).
#include <mproc/shareable_list.hpp>

#include <unistd.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "resource_tracker.hpp"
#include "support/leak_check.hpp"
#include "support/python_peer.hpp"

namespace {

using Item = mproc::ShareableList::Item;
using None = mproc::ShareableList::None;

mproc::Bytes bytes_of(std::string_view text) {
    const auto* data = reinterpret_cast<const std::byte*>(text.data());
    return {data, data + text.size()};
}

// The tracker starts with the first tracked segment and holds a descriptor of this process from
// then on: started before any test, it is not taken for a descriptor a test leaked.
class TrackerStartedFirst : public ::testing::Environment {
    void SetUp() override { mproc::detail::ensure_resource_tracker(); }
};
[[maybe_unused]] const auto* const tracker_started_first = ::testing::AddGlobalTestEnvironment(new TrackerStartedFirst);

// The value of the peer's next line, which must read "key: value".
std::string read(mproc::test::PythonPeer& peer, const std::string& key) {
    const std::string line = peer.read_line();
    EXPECT_EQ(line.rfind(key + ": ", 0), 0u) << "expected " << key << ", got: " << line;
    return line.size() > key.size() + 2 ? line.substr(key.size() + 2) : "";
}

// Python's repr of a str.
std::string quoted(const std::string& text) { return mproc::ShareableList::repr(Item(text)); }

// Byte for byte Python 3.11's layout: count, offsets, data, formats, back-transform codes.
TEST(ShareableListPython, SameItemsGiveTheSameBytesAsPython) {
    MPROC_REQUIRE_PYTHON();
    mproc::test::LeakCheck leaks;
    mproc::ShareableList list({"howdy", bytes_of("HoWdY"), -273.154, 100, None{}, true, 42, "", bytes_of({"ab\0", 3}),
                               "twelve chars", 0.1, false});
    mproc::test::PythonPeer peer(MPROC_TEST_SHAREABLE_LIST_PEER, {"layout"});
    const std::string python_bytes = read(peer, "bytes");
    EXPECT_EQ(peer.exit_code(), 0);
    static const char digits[] = "0123456789abcdef";
    std::string ours = "'";
    for (const std::byte byte : list.shm().buf()) {
        ours += digits[std::to_integer<unsigned>(byte) >> 4];
        ours += digits[std::to_integer<unsigned>(byte) & 15];
    }
    EXPECT_EQ(ours + "'", python_bytes);
    list.shm().close();
    list.shm().unlink();
}

// mproc creates, Python attaches by name, reads every type and writes every type; mproc sees it.
TEST(ShareableListPython, PythonReadsAndWritesAListMprocCreated) {
    MPROC_REQUIRE_PYTHON();
    mproc::test::LeakCheck leaks;
    mproc::ShareableList list({"fifteen chars..", 7, "", bytes_of("bytes"), -0.0, true, 3.5, "\xc3\xa9t\xc3\xa9"});
    EXPECT_EQ(list.format(), "16sq8s8sdxxxxxxx?d8s");
    {
        mproc::test::PythonPeer peer(MPROC_TEST_SHAREABLE_LIST_PEER, {"attach", list.name()});
        EXPECT_EQ(read(peer, "items"), "['fifteen chars..', 7, '', b'bytes', -0.0, True, 3.5, '\xc3\xa9t\xc3\xa9']");
        EXPECT_EQ(read(peer, "format"), "'16sq8s8sdxxxxxxx?d8s'");
        EXPECT_EQ(read(peer, "len"), "8");
        EXPECT_EQ(read(peer, "modified"),
                  "['from python', -9223372036854775808, b'\\x00\\x01\\xff', None, 0.1, False, '\xc3\xa9', "
                  "'\xc3\xa9t\xc3\xa9']");
        ASSERT_EQ(peer.exit_code(), 0);
    }
    EXPECT_EQ(list.get<std::string>(0), "from python");
    EXPECT_EQ(list.get<std::int64_t>(1), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(list[2], Item(bytes_of({"\0\1\xff", 3})));
    EXPECT_EQ(list[3], Item(None{}));
    EXPECT_EQ(list.get<double>(4), 0.1);
    EXPECT_EQ(list[5], Item(false));
    EXPECT_EQ(list.get<std::string>(6), "\xc3\xa9");
    EXPECT_EQ(list.get<std::string>(7), "\xc3\xa9t\xc3\xa9");
    EXPECT_EQ(list.format(), "16sq8sxxxxxx?xdxxxxxxx?8s8s");
    // The segment is still there, still ours: Python detached without unlinking it.
    list.shm().close();
    list.shm().unlink();
}

// Python creates, mproc attaches by name, reads every type and writes every type; Python sees it.
TEST(ShareableListPython, MprocReadsAndWritesAListPythonCreated) {
    MPROC_REQUIRE_PYTHON();
    mproc::test::LeakCheck leaks;
    mproc::test::PythonPeer peer(MPROC_TEST_SHAREABLE_LIST_PEER, {"create"});
    std::string name = read(peer, "name");
    ASSERT_GE(name.size(), 2u);
    name = name.substr(1, name.size() - 2);
    const std::string python_format = read(peer, "format");
    {
        mproc::ShareableList list(name);
        EXPECT_EQ(quoted(list.format()), python_format);
        EXPECT_EQ(list.size(), 11u);
        const std::vector<Item> expected{"howdy", bytes_of("HoWdY"), -273.154, 100, None{}, true, 42, "",
                                         mproc::Bytes{}, "encod\xc3\xa9s", 1e300};
        EXPECT_EQ(list.to_vector(), expected);
        // Python 3.11 sized the slot of "encodés" by its 7 characters: its 8 UTF-8 bytes just fit.
        EXPECT_EQ(list.slot_capacity(9), 8u);
        list.set(0, "HOWDY!!!");
        EXPECT_THROW(list.set(0, "HOWDY!!!!"), std::length_error);
        list.set(3, "str");
        list.set(4, 2.25);
        list.set(5, 7);
        list.set(8, bytes_of("12345678"));
        list.set(9, true);
        list.set(10, None{});
        peer.tell("written");
        EXPECT_EQ(read(peer, "items"), "['HOWDY!!!', b'HoWdY', -273.154, 'str', 2.25, 7, 42, '', b'12345678', True, None]");
        EXPECT_EQ(read(peer, "format"), quoted(list.format()));
        EXPECT_EQ(peer.exit_code(), 0);  // it unlinked the list
    }
    EXPECT_THROW((void)mproc::ShareableList(name), mproc::OSError);
}

}  // namespace
