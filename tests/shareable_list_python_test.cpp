// mproc::ShareableList against Python's multiprocessing.shared_memory.ShareableList
// (tests/python/shareable_list_peer.py): the same bytes for the same items, a list mproc created
// read and written by Python, and a list Python created read and written by mproc.
//
// The Python is MPROC_TEST_PYTHON, or /usr/bin/python3 (Debian 12's: Python 3.11, whose layout
// mproc writes).
#include <mproc/shareable_list.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "resource_tracker.hpp"
#include "support/leak_check.hpp"

extern char** environ;

namespace {

using Item = mproc::ShareableList::Item;
using None = mproc::ShareableList::None;

// A bound on every wait for the peer: only a guard against a hang, never reached when it works.
constexpr int hang_guard_ms = 60'000;

std::string python() {
    const char* chosen = std::getenv("MPROC_TEST_PYTHON");
    return chosen && *chosen ? chosen : "/usr/bin/python3";
}

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

// The Python peer as a child process: its stdin written, its stdout read line by line.
class PythonPeer {
public:
    explicit PythonPeer(std::vector<std::string> args) {
        int out[2], in[2];
        if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        std::vector<std::string> argv_strings{python(), MPROC_TEST_SHAREABLE_LIST_PEER};
        argv_strings.insert(argv_strings.end(), args.begin(), args.end());
        std::vector<char*> argv;
        for (auto& arg : argv_strings) argv.push_back(arg.data());
        argv.push_back(nullptr);
        const int spawned = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        ::close(out[1]);
        ::close(in[0]);
        out_ = out[0];
        in_ = in[1];
        if (spawned != 0) {
            pid_ = -1;
            throw std::runtime_error("cannot start " + python());
        }
    }
    PythonPeer(const PythonPeer&) = delete;
    PythonPeer& operator=(const PythonPeer&) = delete;
    ~PythonPeer() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            (void)exit_code();
        }
        ::close(out_);
        if (in_ >= 0) ::close(in_);
    }

    // The value of the next line, which must read "key: value"; empty at its end or on a hang.
    std::string read(const std::string& key) {
        std::string line;
        for (;;) {
            pollfd entry{out_, POLLIN, 0};
            if (::poll(&entry, 1, hang_guard_ms) <= 0) break;
            char c;
            if (::read(out_, &c, 1) != 1 || c == '\n') break;
            line += c;
        }
        EXPECT_EQ(line.rfind(key + ": ", 0), 0u) << "expected " << key << ", got: " << line;
        return line.size() > key.size() + 2 ? line.substr(key.size() + 2) : "";
    }

    // Sends a line to its stdin.
    void tell(const std::string& line) {
        const std::string text = line + "\n";
        EXPECT_EQ(::write(in_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    }

    // Its exit code (killed after the hang guard).
    int exit_code() {
        if (pid_ <= 0) return code_;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(hang_guard_ms);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) != pid_) {
            if (std::chrono::steady_clock::now() > deadline) ::kill(pid_, SIGKILL);
            ::poll(nullptr, 0, 10);
        }
        pid_ = -1;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
        return code_;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
    int in_ = -1;
    int code_ = -1000;
};

// Python's repr of a str.
std::string quoted(const std::string& text) { return mproc::ShareableList::repr(Item(text)); }

#define REQUIRE_PYTHON()                                                                          \
    do {                                                                                          \
        if (::access(python().c_str(), X_OK) != 0) GTEST_SKIP() << python() << " is not installed"; \
    } while (false)

// Byte for byte Python 3.11's layout: count, offsets, data, formats, back-transform codes.
TEST(ShareableListPython, SameItemsGiveTheSameBytesAsPython) {
    REQUIRE_PYTHON();
    mproc::test::LeakCheck leaks;
    mproc::ShareableList list({"howdy", bytes_of("HoWdY"), -273.154, 100, None{}, true, 42, "", bytes_of({"ab\0", 3}),
                               "twelve chars", 0.1, false});
    PythonPeer peer({"layout"});
    const std::string python_bytes = peer.read("bytes");
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
    REQUIRE_PYTHON();
    mproc::test::LeakCheck leaks;
    mproc::ShareableList list({"fifteen chars..", 7, "", bytes_of("bytes"), -0.0, true, 3.5, "\xc3\xa9t\xc3\xa9"});
    EXPECT_EQ(list.format(), "16sq8s8sdxxxxxxx?d8s");
    {
        PythonPeer peer({"attach", list.name()});
        EXPECT_EQ(peer.read("items"), "['fifteen chars..', 7, '', b'bytes', -0.0, True, 3.5, '\xc3\xa9t\xc3\xa9']");
        EXPECT_EQ(peer.read("format"), "'16sq8s8sdxxxxxxx?d8s'");
        EXPECT_EQ(peer.read("len"), "8");
        EXPECT_EQ(peer.read("modified"),
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
    REQUIRE_PYTHON();
    mproc::test::LeakCheck leaks;
    PythonPeer peer({"create"});
    std::string name = peer.read("name");
    ASSERT_GE(name.size(), 2u);
    name = name.substr(1, name.size() - 2);
    const std::string python_format = peer.read("format");
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
        EXPECT_EQ(peer.read("items"), "['HOWDY!!!', b'HoWdY', -273.154, 'str', 2.25, 7, 42, '', b'12345678', True, None]");
        EXPECT_EQ(peer.read("format"), quoted(list.format()));
        EXPECT_EQ(peer.exit_code(), 0);  // it unlinked the list
    }
    EXPECT_THROW((void)mproc::ShareableList(name), mproc::OSError);
}

}  // namespace
