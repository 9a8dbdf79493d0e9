// Runs this test binary again in a given role (see reexec.hpp), feeding it stdin and collecting
// its stdout, stderr and exit code. Deliberately written with raw POSIX calls, independent of
// the library under test.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace mproc::test {

struct RunResult {
    int exitcode = -1;  // as Python reports it: minus the signal number when killed
    std::string out;
    std::string err;
};

inline RunResult run_self(const std::string& role, const std::string& input = {}) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return {};
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        const std::string arg = "--role=" + role;
        char* argv[] = {const_cast<char*>("self"), const_cast<char*>(arg.c_str()), nullptr};
        ::execv("/proc/self/exe", argv);
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    RunResult result;
    std::size_t written = 0;
    if (input.empty()) ::close(in[1]);
    pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {input.empty() ? -1 : in[1], POLLOUT, 0}};
    int open_outputs = 2;
    while (open_outputs > 0) {
        if (::poll(fds, 3, -1) < 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
            char buffer[65536];
            const ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0) {
                (i == 0 ? result.out : result.err).append(buffer, static_cast<std::size_t>(n));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_outputs;
            }
        }
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR))) {
            const ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (n <= 0 || written == input.size()) {
                ::close(in[1]);
                fds[2].fd = -1;
            }
        }
    }
    if (fds[2].fd >= 0) ::close(in[1]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.exitcode = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return result;
}

}  // namespace mproc::test
