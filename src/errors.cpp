#include <mproc/errors.hpp>

#include <signal.h>

#include <cstring>

namespace mproc {

OSError::OSError(const std::string& context, int code)
    : Error("mproc: " + context + ": " + std::strerror(code)), code_(code) {}

namespace {
std::string describe_remote(const std::string& type_name, const std::string& message, int pid) {
    std::string text = type_name + " thrown in process " + std::to_string(pid);
    return message.empty() ? text : text + ": " + message;
}
}  // namespace

RemoteError::RemoteError(std::string type_name, std::string message, int pid)
    : Error(describe_remote(type_name, message, pid)),
      type_name_(std::move(type_name)), message_(std::move(message)), pid_(pid) {}

namespace {
std::string describe_crash(int pid, int exitcode, std::optional<long> task_index) {
    std::string text = "mproc: worker process " + std::to_string(pid);
    if (exitcode < 0) {
        // Wider than int: the fields may come from another process's reply, INT_MIN included.
        const long long number = -static_cast<long long>(exitcode);
        text += " was killed by signal " + std::to_string(number);
        if (number < NSIG) text += std::string(" (") + strsignal(static_cast<int>(number)) + ")";
    } else {
        text += " exited with status " + std::to_string(exitcode);
    }
    text += task_index ? " while running task " + std::to_string(*task_index) : " while running a task";
    return text;
}
}  // namespace

WorkerCrashed::WorkerCrashed(int pid, int exitcode, std::optional<long> task_index)
    : Error(describe_crash(pid, exitcode, task_index)),
      pid_(pid), exitcode_(exitcode), task_index_(task_index) {}

}  // namespace mproc
