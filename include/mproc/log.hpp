#pragma once
// Logging of mproc's own events, as Python's multiprocessing.get_logger() and log_to_stderr().
//
// Off by default. On with one call, `mproc::log_to_stderr(mproc::LogLevel::info)`, or with the
// environment variable MPROC_LOG=debug|info|warning|error|off (read when the program starts; a
// value that is none of these is ignored, with one warning on stderr).
//
// What mproc logs, from the pool's thread in the parent:
//   info     a worker started ("worker ForkPoolWorker-3 (pid 1234) started"); the pool closing;
//            the pool terminating
//   warning  a worker died unexpectedly, with its pid and exit code or signal
//            ("worker ForkPoolWorker-3 (pid 1234) died: killed by signal 11 (SIGSEGV)"); a task
//            timed out and its worker is killed
//   debug    a worker exited as expected (maxtasksperchild, close, terminate, a timeout)
// A replaced worker shows as its exit followed by its successor's start.
//
// Each line reads "[LEVEL/process pid N] message", as Python's "[LEVEL/process] message":
// "[WARNING/MainProcess pid 99] worker ForkPoolWorker-3 (pid 1234) died: ...". Code running in
// a pool worker can write through the same logger (mproc::log_info(...)) and its lines carry the
// worker's name and pid: "[INFO/SpawnPoolWorker-2 pid 1240] loaded 3 files". Only lines written
// through these functions are tagged; what a worker prints itself goes out untouched.
//
// Workers started by fork inherit every setting. Workers started by spawn or forkserver inherit
// the level and log_to_file's path; a stream given to log_to() or a handler stays in the parent
// (their workers write to stderr instead).

#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include <mproc/start_method.hpp>

namespace mproc {

/// Python's logging levels, with the same numbers.
enum class LogLevel { debug = 10, info = 20, warning = 30, error = 40, off = 100 };

/// "DEBUG", "INFO", "WARNING", "ERROR", "OFF".
std::string_view to_string(LogLevel level);
/// The level named, in any case ("info", "WARNING"; also "warn"), or nothing.
std::optional<LogLevel> parse_log_level(std::string_view name);

/// Python's log_to_stderr(level): records at `level` and above go to stderr.
void log_to_stderr(LogLevel level = LogLevel::info);
/// Python's get_logger().setLevel(level). LogLevel::off turns logging off.
void set_log_level(LogLevel level);
/// Python: get_logger().getEffectiveLevel().
LogLevel get_log_level();
/// Whether a record at `level` would be written.
bool log_enabled(LogLevel level);

/// Records go to this stream (mproc neither buffers nor closes it); nullptr: stderr.
void log_to(std::FILE* stream);
/// Records are appended to this file (opened in append mode, so that lines written by several
/// processes at once stay whole). Throws mproc::OSError if it cannot be opened.
void log_to_file(const std::string& path);

/// A record as a handler receives it.
struct LogRecord {
    LogLevel level;  ///< the record's level
    std::string_view process;  ///< "MainProcess", "ForkPoolWorker-3", "Process-1"
    int pid;  ///< the pid of the process that logged it
    std::string_view message;  ///< the text, without the "[LEVEL/process pid N]" prefix
};
/// Records go to `handler` instead of a stream; an empty one: back to the stream. It runs on the
/// thread that logs, mproc's pool thread included, with mproc's locks held: it must not call into
/// mproc, nor block for long.
void set_log_handler(std::function<void(const LogRecord&)> handler);

/// Writes a record at `level`, tagged with this process's name and pid. Python:
/// get_logger().log(level, msg).
///
/// Thread safety: every function of this header may be called from any thread; records written at
/// once by several threads or processes come out as whole lines.
void log(LogLevel level, std::string_view message);
/// log(LogLevel::debug, message). Python: get_logger().debug(msg).
inline void log_debug(std::string_view message) { log(LogLevel::debug, message); }
/// log(LogLevel::info, message). Python: get_logger().info(msg).
inline void log_info(std::string_view message) { log(LogLevel::info, message); }
/// log(LogLevel::warning, message). Python: get_logger().warning(msg).
inline void log_warning(std::string_view message) { log(LogLevel::warning, message); }
/// log(LogLevel::error, message). Python: get_logger().error(msg).
inline void log_error(std::string_view message) { log(LogLevel::error, message); }

namespace detail {

inline void append_log_part(std::string& message, std::string_view part) { message += part; }
template <class Number>
    requires std::is_arithmetic_v<Number>
void append_log_part(std::string& message, Number part) {
    message += std::to_string(part);
}
// Logs the parts (text and numbers) as one message; nothing is formatted when the level is off.
template <class... Parts>
void log_parts(LogLevel level, const Parts&... parts) {
    if (!log_enabled(level)) return;
    std::string message;
    (append_log_part(message, parts), ...);
    log(level, message);
}

// The name a new pool worker is given, as Python's "ForkPoolWorker-3".
std::string next_pool_worker_name(StartMethod method);
// In a pool worker just started, before it starts threads: the name it logs under. Also resets
// the logger's lock, which another thread of the parent may have held when it forked.
void set_log_process_name(std::string name);
// What a worker started by spawn or forkserver needs to log as the parent does, and takes.
std::string worker_log_settings(const std::string& worker_name);
void adopt_worker_log_settings(const std::string& settings);
// A worker's exit: "died" with its exit code or signal (warning) unless `expected` (debug).
void log_worker_exit(const std::string& name, int pid, int exitcode, bool expected);

}  // namespace detail
}  // namespace mproc
