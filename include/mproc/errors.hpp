// mproc/errors.hpp: the exceptions mproc throws.
//
// Every error mproc raises derives from mproc::Error, itself a std::runtime_error, so one
// `catch (const mproc::Error&)` handles them all.
//
// An exception that escapes a task, an initializer or a Process target in another process comes
// back to the caller as follows:
//   - every class defined here (Error, StateError, OSError, SerializationError, RemoteError,
//     WorkerCrashed, StartError, TimeoutError, PoolClosed, PoolTerminated, OwnerDied, Full, Empty,
//     EOFError, BrokenBarrierError) and the standard std::runtime_error, std::logic_error,
//     std::invalid_argument, std::out_of_range, std::domain_error, std::length_error,
//     std::range_error, std::overflow_error, std::underflow_error and std::bad_alloc are rethrown
//     with their exact type, their what() and their fields (OSError::code(), WorkerCrashed's pid,
//     exit code and task index, RemoteError's origin);
//   - anything else (your own exception types, `throw 42`) becomes mproc::RemoteError, which names
//     the original type and the process that threw it. A class derived from one of the above is
//     "anything else": only the exact type is recreated.
#pragma once

#include <mproc/detail/config.hpp>

#include <optional>
#include <stdexcept>
#include <string>

namespace mproc {

namespace detail {
struct ErrorRebuilder;  // recreates errors thrown in another process (src/task.cpp)
}  // namespace detail

class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// An operation that is not valid in the object's current state: starting a process twice,
// joining one that was never started, using an object after close().
class StateError : public Error {
public:
    using Error::Error;
};

// A system call failed. code() is the errno value.
class OSError : public Error {
public:
    OSError(const std::string& context, int code);
    int code() const noexcept { return code_; }

private:
    friend struct detail::ErrorRebuilder;
    OSError(int code, const std::string& what) : Error(what), code_(code) {}
    int code_;
};

// A value could not be encoded or decoded: corrupt or truncated input, a message over a size
// limit, or a type that failed to serialize at run time.
class SerializationError : public Error {
public:
    using Error::Error;
};

// An exception of a type mproc cannot recreate, thrown in another process. type_name() is the
// original (demangled) type, message() its what() (empty for a type that is not a
// std::exception), pid() the process that threw it. what() says all three:
//   "MyError thrown in process 1234: disk full", or "int thrown in process 1234".
class RemoteError : public Error {
public:
    RemoteError(std::string type_name, std::string message, int pid);
    const std::string& type_name() const noexcept { return type_name_; }
    const std::string& message() const noexcept { return message_; }
    int pid() const noexcept { return pid_; }

private:
    std::string type_name_;
    std::string message_;
    int pid_;
};

// A worker process died while it was running a task (killed by a signal, or it called exit()).
class WorkerCrashed : public Error {
public:
    WorkerCrashed(int pid, int exitcode, std::optional<long> task_index);
    int pid() const noexcept { return pid_; }
    // As Process::exitcode(): the exit status, or minus the signal number that killed it.
    int exitcode() const noexcept { return exitcode_; }
    // Index of the failed task in its map/imap input, when it came from one.
    std::optional<long> task_index() const noexcept { return task_index_; }

private:
    int pid_;
    int exitcode_;
    std::optional<long> task_index_;
};

// A child could not be started: under "spawn", typically because main() does not call
// mproc::init(argc, argv) first, so the new process never turned into a worker.
class StartError : public Error {
public:
    using Error::Error;
};

// A wait ran out of time, or a task ran past its per-task timeout.
class TimeoutError : public Error {
public:
    using Error::Error;
};

class PoolClosed : public StateError {
public:
    using StateError::StateError;
};

class PoolTerminated : public Error {
public:
    using Error::Error;
};

// The previous holder of a process-shared lock died while holding it. The lock now belongs to
// the thread that caught this exception: the data it protects may be half-updated.
class OwnerDied : public Error {
public:
    using Error::Error;
};

// Queue::put_nowait, or put with a timeout, on a full bounded queue (Python's queue.Full).
class Full : public Error {
public:
    using Error::Error;
};

// Queue::get_nowait, or get with a timeout, on an empty queue (Python's queue.Empty).
class Empty : public Error {
public:
    using Error::Error;
};

// Connection::recv when nothing is left to read and every copy of the other end is closed.
class EOFError : public Error {
public:
    using Error::Error;
};

// Barrier::wait on a barrier that was aborted, reset while this process waited, timed out, or
// whose action failed or died.
class BrokenBarrierError : public Error {
public:
    using Error::Error;
};

}  // namespace mproc
