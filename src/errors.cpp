#include <mproc/errors.hpp>

#include <cstring>

namespace mproc {

OSError::OSError(const std::string& context, int code)
    : Error("mproc: " + context + ": " + std::strerror(code)), code_(code) {}

RemoteError::RemoteError(std::string type_name, const std::string& what, int pid)
    : Error(what), type_name_(std::move(type_name)), pid_(pid) {}

namespace {
std::string describe_crash(int pid, int exitcode, std::optional<long> task_index) {
    std::string text = "mproc: worker process " + std::to_string(pid);
    if (exitcode < 0)
        text += " was killed by signal " + std::to_string(-exitcode) + " (" + strsignal(-exitcode) + ")";
    else
        text += " exited with status " + std::to_string(exitcode);
    text += task_index ? " while running task " + std::to_string(*task_index) : " while running a task";
    return text;
}
}  // namespace

WorkerCrashed::WorkerCrashed(int pid, int exitcode, std::optional<long> task_index)
    : Error(describe_crash(pid, exitcode, task_index)),
      pid_(pid), exitcode_(exitcode), task_index_(task_index) {}

}  // namespace mproc
