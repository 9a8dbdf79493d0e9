// mproc/errors.hpp: the exceptions mproc throws.
//
// Every error mproc raises derives from mproc::Error, itself a std::runtime_error, so one
// `catch (const mproc::Error&)` handles them all.
//
// An exception that escapes a task, an initializer or a Process target in another process comes
// back to the caller as follows:
//   - every class defined here (Error, StateError, OSError, SerializationError, RemoteError,
//     WorkerCrashed, StartError, TimeoutError, PoolClosed, PoolTerminated, CancelledError, OwnerDied,
//     Full, Empty, EOFError, BrokenBarrierError, BufferTooShort, AuthenticationError) and the
//     standard std::runtime_error, std::logic_error,
//     std::invalid_argument, std::out_of_range, std::domain_error, std::length_error,
//     std::range_error, std::overflow_error, std::underflow_error and std::bad_alloc are rethrown
//     with their exact type, their what() and their fields (OSError::code(), WorkerCrashed's pid,
//     exit code and task index, RemoteError's origin);
//   - anything else (your own exception types, `throw 42`) becomes mproc::RemoteError, which names
//     the original type and the process that threw it. A class derived from one of the above is
//     "anything else": only the exact type is recreated.
#pragma once

#include <mproc/detail/config.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace mproc {

namespace detail {
struct ErrorRebuilder;  // recreates errors thrown in another process (src/task.cpp)
}  // namespace detail

/// The base of every exception mproc throws: `catch (const mproc::Error&)` handles them all.
/// Python: the exceptions of multiprocessing have no common base; ProcessError comes closest.
/// Thread safety: an exception is an immutable value; a caught one may be read from any thread.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// An operation that is not valid in the object's current state: starting a process twice,
/// joining one that was never started, using an object after close(). Python: ValueError,
/// AssertionError or RuntimeError, depending on the case.
class StateError : public Error {
public:
    using Error::Error;
};

/// A system call failed. code() is the errno value. Python: OSError.
class OSError : public Error {
public:
    /// what() is `context` followed by the text of errno `code`.
    OSError(const std::string& context, int code);
    /// The errno value (Python: OSError.errno).
    int code() const noexcept { return code_; }

private:
    friend struct detail::ErrorRebuilder;
    OSError(int code, const std::string& what) : Error(what), code_(code) {}
    int code_;
};

/// A value could not be encoded or decoded: corrupt or truncated input, a message over a size
/// limit, or a type that failed to serialize at run time. Python: pickle.PicklingError and
/// pickle.UnpicklingError.
class SerializationError : public Error {
public:
    using Error::Error;
};

/// An exception of a type mproc cannot recreate, thrown in another process. type_name() is the
/// original (demangled) type, message() its what() (empty for a type that is not a
/// std::exception), pid() the process that threw it. what() says all three:
///   "MyError thrown in process 1234: disk full", or "int thrown in process 1234".
/// Python: multiprocessing.pool.RemoteTraceback, as the cause of the re-raised exception.
class RemoteError : public Error {
public:
    /// The error for an exception of type `type_name` with what() `message`, thrown in `pid`.
    RemoteError(std::string type_name, std::string message, int pid);
    /// The original exception's type, demangled.
    const std::string& type_name() const noexcept { return type_name_; }
    /// The original exception's what(); empty for a type that is not a std::exception.
    const std::string& message() const noexcept { return message_; }
    /// The process that threw it.
    int pid() const noexcept { return pid_; }

private:
    std::string type_name_;
    std::string message_;
    int pid_;
};

/// A worker process died while it was running a task (killed by a signal, or it called exit()).
/// Python: concurrent.futures' BrokenProcessPool comes closest (multiprocessing.Pool hangs).
class WorkerCrashed : public Error {
public:
    /// The error for worker `pid`, which ended with `exitcode` while running `task_index`.
    WorkerCrashed(int pid, int exitcode, std::optional<long> task_index);
    /// The pid of the worker that died.
    int pid() const noexcept { return pid_; }
    /// As Process::exitcode(): the exit status, or minus the signal number that killed it.
    int exitcode() const noexcept { return exitcode_; }
    /// Index of the failed task in its map/imap input, when it came from one.
    std::optional<long> task_index() const noexcept { return task_index_; }

private:
    int pid_;
    int exitcode_;
    std::optional<long> task_index_;
};

/// A child could not be started: under "spawn", typically because main() does not call
/// mproc::init(argc, argv) first, so the new process never turned into a worker. Python:
/// RuntimeError ("An attempt has been made to start a new process before ...").
class StartError : public Error {
public:
    using Error::Error;
};

/// A wait ran out of time, or a task ran past its per-task timeout. Python:
/// multiprocessing.TimeoutError.
class TimeoutError : public Error {
public:
    using Error::Error;
};

/// A task submitted to a Pool after close(), or an imap still reading its input when its pool
/// was destroyed. Python: ValueError("Pool not running").
class PoolClosed : public StateError {
public:
    using StateError::StateError;
};

/// A task of a Pool that was terminated before the task finished, or submitted after
/// terminate(). Python: the task is lost and get() waits forever.
class PoolTerminated : public Error {
public:
    using Error::Error;
};

/// The task was cancelled (Future::cancel, Future::terminate, AsyncResult::cancel, an executor's
/// shutdown with cancel_futures) before it produced a result. Python:
/// concurrent.futures.CancelledError.
class CancelledError : public Error {
public:
    using Error::Error;
};

/// The previous holder of a process-shared lock died while holding it. The lock now belongs to
/// the thread that caught this exception: the data it protects may be half-updated. Python has
/// no counterpart (its lock stays held forever).
class OwnerDied : public Error {
public:
    using Error::Error;
};

/// Queue::put_nowait, or put with a timeout, on a full bounded queue (Python's queue.Full).
class Full : public Error {
public:
    using Error::Error;
};

/// Queue::get_nowait, or get with a timeout, on an empty queue (Python's queue.Empty).
class Empty : public Error {
public:
    using Error::Error;
};

/// Connection::recv when nothing is left to read and every copy of the other end is closed.
/// Python: EOFError.
class EOFError : public Error {
public:
    using Error::Error;
};

/// Barrier::wait on a barrier that was aborted, reset while this process waited, timed out, or
/// whose action failed or died. Python: threading.BrokenBarrierError.
class BrokenBarrierError : public Error {
public:
    using Error::Error;
};

/// Connection::recv_bytes_into (mproc/connection.hpp) received a message that does not fit in the
/// buffer from the given offset. The message was consumed: message() holds it whole. Python:
/// multiprocessing.BufferTooShort, whose args[0] is the message.
class BufferTooShort : public Error {
public:
    /// The error `what`, carrying the received `message`.
    BufferTooShort(const std::string& what, std::vector<std::byte> message) : Error(what), message_(std::move(message)) {}
    /// The message that did not fit.
    const std::vector<std::byte>& message() const noexcept { return message_; }

private:
    std::vector<std::byte> message_;
};

/// The authkey handshake of a Listener or Client (mproc/connection.hpp) failed: the peer's key is
/// not ours, or it did not follow the protocol. Python: multiprocessing.AuthenticationError.
class AuthenticationError : public Error {
public:
    using Error::Error;
};

}  // namespace mproc
