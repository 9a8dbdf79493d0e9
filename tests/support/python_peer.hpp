// A Python script run as a child process for the interop tests: its stdout read line by line, its
// stdin written, its exit code taken, every wait bounded by a guard against a hang.
//
// The Python is MPROC_TEST_PYTHON, or /usr/bin/python3 (Debian 12's: Python 3.11).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace mproc::test {

// A bound on every wait for the peer: only a guard against a hang, never reached when it works.
inline constexpr int python_hang_guard_ms = 60'000;

inline std::string python() {
    const char* chosen = std::getenv("MPROC_TEST_PYTHON");
    return chosen && *chosen ? chosen : "/usr/bin/python3";
}

inline bool python_available() { return ::access(python().c_str(), X_OK) == 0; }

#define MPROC_REQUIRE_PYTHON()                                                                               \
    do {                                                                                                     \
        if (!mproc::test::python_available()) GTEST_SKIP() << mproc::test::python() << " is not installed"; \
    } while (false)

class PythonPeer {
public:
    // Runs `python() script args...`.
    PythonPeer(const std::string& script, std::vector<std::string> args) {
        int out[2], in[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
        if (::pipe2(in, O_CLOEXEC) != 0) {
            ::close(out[0]);
            ::close(out[1]);
            throw std::runtime_error("pipe2");
        }
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        posix_spawn_file_actions_adddup2(&actions, in[0], 0);
        std::vector<std::string> argv_strings{python(), script};
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
            ::close(out_);
            ::close(in_);
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
        ::close(in_);
    }

    // The next line it prints (without the newline); empty at its end or after the hang guard.
    std::string read_line() {
        std::string line;
        for (;;) {
            pollfd entry{out_, POLLIN, 0};
            if (::poll(&entry, 1, python_hang_guard_ms) <= 0) return line;
            char c;
            if (::read(out_, &c, 1) != 1 || c == '\n') return line;
            line += c;
        }
    }

    // Sends a line to its stdin.
    void tell(const std::string& line) {
        const std::string text = line + "\n";
        EXPECT_EQ(::write(in_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    }

    // Its exit code (killed after the hang guard).
    int exit_code() {
        if (pid_ <= 0) return code_;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(python_hang_guard_ms);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) != pid_) {
            if (std::chrono::steady_clock::now() > deadline) ::kill(pid_, SIGKILL);
            ::poll(nullptr, 0, 10);  // waitpid has no timeout: check again shortly
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

}  // namespace mproc::test
