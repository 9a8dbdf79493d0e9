// What a process test must leave as it found it: the same open file descriptors, no zombie
// children, no live children, no new files in /dev/shm.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace mproc::test {

inline std::set<std::string> directory_entries(const std::string& path) {
    std::set<std::string> names;
    if (DIR* dir = ::opendir(path.c_str())) {
        while (dirent* entry = ::readdir(dir))
            if (entry->d_name[0] != '.') names.insert(entry->d_name);
        ::closedir(dir);
    }
    return names;
}

// The resident memory of process `pid` (this process by default), in bytes.
inline long resident_bytes(int pid = 0) {
    std::ifstream statm(pid == 0 ? std::string("/proc/self/statm") : "/proc/" + std::to_string(pid) + "/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
}

inline std::set<std::string> open_fds() {
    auto fds = directory_entries("/proc/self/fd");
    // opendir's own descriptor appears in the listing; it is closed again by now.
    std::erase_if(fds, [](const std::string& fd) {
        return ::access(("/proc/self/fd/" + fd).c_str(), F_OK) != 0;
    });
    return fds;
}

// The parent of a process, from /proc; -1 if it is gone.
inline int parent_of(int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return -1;
    const auto close = line.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream rest(line.substr(close + 2));
    char state;
    int ppid = -1;
    rest >> state >> ppid;
    return ppid;
}

struct ChildState {
    int pid;
    char state;
};

// Children of this process, from /proc (state 'Z' is a zombie).
inline std::vector<ChildState> children() {
    std::vector<ChildState> found;
    const std::string self = std::to_string(::getpid());
    for (const auto& task : directory_entries("/proc/self/task")) {
        std::ifstream list("/proc/self/task/" + task + "/children");
        int pid;
        while (list >> pid) {
            std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
            std::string line;
            std::getline(stat, line);
            const auto close = line.rfind(')');
            const char state = close == std::string::npos || close + 2 >= line.size() ? '?' : line[close + 2];
            found.push_back({pid, state});
        }
    }
    return found;
}

// Checks, in its destructor, that nothing leaked since its construction. Children get a moment
// to disappear: a killed child is gone only once its parent has reaped it.
class LeakCheck {
public:
    LeakCheck() : fds_(open_fds()), shm_(directory_entries("/dev/shm")) {
        // Children from before, such as the fork server, are not this test's.
        for (const auto& child : children()) earlier_children_.insert(child.pid);
    }
    ~LeakCheck() {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (!new_children().empty() && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        for (const auto& child : new_children())
            ADD_FAILURE() << "child " << child.pid << " left behind in state " << child.state;
        EXPECT_EQ(open_fds(), fds_) << "file descriptors leaked";
        EXPECT_EQ(new_shm_files(), std::set<std::string>{}) << "files left in /dev/shm";
    }

private:
    std::vector<ChildState> new_children() const {
        auto found = children();
        std::erase_if(found, [&](const ChildState& child) { return earlier_children_.contains(child.pid); });
        return found;
    }

    // Files that appeared in /dev/shm, but for those of OpenMPI jobs that tests running at the
    // same time may own, Python's named semaphores (mproc makes none; a Python program running
    // beside the tests makes and unlinks them), and those another program (not this process or
    // its descendants) holds open or mapped: a second copy of the test suite, say, making
    // segments of its own.
    std::set<std::string> new_shm_files() const {
        std::set<std::string> added;
        for (const auto& name : directory_entries("/dev/shm"))
            if (!shm_.contains(name) && !name.starts_with("vader_segment") && !name.starts_with("sem.mp-"))
                added.insert(name);
        if (!added.empty()) std::erase_if(added, [](const std::string& name) { return held_by_another_program(name); });
        return added;
    }

    static bool ours(int pid) {
        for (int hops = 0; pid > 1 && hops < 64; ++hops, pid = parent_of(pid))
            if (pid == ::getpid()) return true;
        return false;
    }

    static bool held_by_another_program(const std::string& name) {
        const std::string path = "/dev/shm/" + name;
        for (const auto& entry : directory_entries("/proc")) {
            if (entry.find_first_not_of("0123456789") != std::string::npos) continue;
            const int pid = std::stoi(entry);
            bool holds = false;
            std::ifstream maps("/proc/" + entry + "/maps");
            for (std::string line; !holds && std::getline(maps, line);) holds = line.find(path) != std::string::npos;
            for (const auto& fd : holds ? std::set<std::string>{} : directory_entries("/proc/" + entry + "/fd")) {
                char target[4096];
                const auto length = ::readlink(("/proc/" + entry + "/fd/" + fd).c_str(), target, sizeof target - 1);
                if (length > 0 && std::string(target, static_cast<std::size_t>(length)) == path) holds = true;
                if (holds) break;
            }
            if (holds && !ours(pid)) return true;
        }
        return false;
    }

    std::set<std::string> fds_;
    std::set<std::string> shm_;
    std::set<int> earlier_children_;
};

}  // namespace mproc::test
