// mproc's logger (include/mproc/log.hpp). Formatted by hand: a line is a prefix and a message,
// which needs no formatting library.
#include <mproc/log.hpp>

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>

#include <mproc/errors.hpp>
#include <mproc/process.hpp>

#include "os/io.hpp"

namespace mproc {
namespace {

using Handler = std::function<void(const LogRecord&)>;

std::atomic<int> threshold{static_cast<int>(LogLevel::off)};

struct Sink {
    std::mutex mutex;
    std::FILE* stream = nullptr;  // nullptr: stderr
    std::FILE* owned = nullptr;   // what log_to_file opened
    std::string path;             // log_to_file's, for workers started by spawn or forkserver
    std::shared_ptr<const Handler> handler;
};

Sink& sink() {
    static Sink* self = new Sink;  // never destroyed: workers and exit handlers log late
    return *self;
}

// Set once in a worker as it starts, before it has threads; empty: current_process().name.
std::string& process_name_override() {
    static std::string* name = new std::string;
    return *name;
}

// Read as the program starts, before it has threads, so that a bad value can be taken out of the
// environment: every worker started by spawn (a new program) would otherwise warn again.
[[maybe_unused]] const bool environment_read = [] {
    const char* value = std::getenv("MPROC_LOG");
    if (!value || !*value) return true;
    if (const auto level = parse_log_level(value)) {
        threshold.store(static_cast<int>(*level));
        return true;
    }
    std::fprintf(stderr, "mproc: ignoring MPROC_LOG=%s (expected debug, info, warning, error or off)\n", value);
    ::unsetenv("MPROC_LOG");
    return true;
}();

void close_owned(Sink& s) {
    if (s.owned) std::fclose(s.owned);
    s.owned = nullptr;
}

std::string describe_exit(int exitcode) {
    if (exitcode >= 0) return "exit code " + std::to_string(exitcode);
    const int number = -exitcode;
    const char* abbreviation = ::sigabbrev_np(number);
    return "killed by signal " + std::to_string(number) + (abbreviation ? std::string(" (SIG") + abbreviation + ")" : "");
}

}  // namespace

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::debug: return "DEBUG";
        case LogLevel::info: return "INFO";
        case LogLevel::warning: return "WARNING";
        case LogLevel::error: return "ERROR";
        case LogLevel::off: return "OFF";
    }
    return "?";
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "debug") return LogLevel::debug;
    if (lower == "info") return LogLevel::info;
    if (lower == "warning" || lower == "warn") return LogLevel::warning;
    if (lower == "error") return LogLevel::error;
    if (lower == "off") return LogLevel::off;
    return std::nullopt;
}

void set_log_level(LogLevel level) { threshold.store(static_cast<int>(level), std::memory_order_relaxed); }

LogLevel get_log_level() { return static_cast<LogLevel>(threshold.load(std::memory_order_relaxed)); }

bool log_enabled(LogLevel level) {
    return level != LogLevel::off && static_cast<int>(level) >= threshold.load(std::memory_order_relaxed);
}

void log_to(std::FILE* stream) {
    auto& s = sink();
    std::lock_guard lock(s.mutex);
    close_owned(s);
    s.stream = stream;
    s.path.clear();
    s.handler.reset();
}

void log_to_stderr(LogLevel level) {
    log_to(nullptr);
    set_log_level(level);
}

void log_to_file(const std::string& path) {
    auto fd = os::open_for_append(path.c_str());
    if (!fd) throw OSError("mproc::log_to_file: cannot open " + path, fd.error().code);
    std::FILE* file = ::fdopen(fd.value().get(), "a");
    if (!file) {
        const int error = errno;  // before the message's allocation can change it
        throw OSError("mproc::log_to_file: cannot open " + path, error);
    }
    fd.value().release();  // closed with the stream
    auto& s = sink();
    std::lock_guard lock(s.mutex);
    close_owned(s);
    s.stream = s.owned = file;
    s.path = path;
    s.handler.reset();
}

void set_log_handler(std::function<void(const LogRecord&)> handler) {
    auto& s = sink();
    std::lock_guard lock(s.mutex);
    s.handler = handler ? std::make_shared<const Handler>(std::move(handler)) : nullptr;
}

void log(LogLevel level, std::string_view message) {
    if (!log_enabled(level)) return;
    const int pid = static_cast<int>(::getpid());
    const std::string name =
        process_name_override().empty() ? current_process().name : process_name_override();
    auto& s = sink();
    std::unique_lock lock(s.mutex);
    if (s.handler) {
        const auto handler = s.handler;
        lock.unlock();
        (*handler)(LogRecord{level, name, pid, message});
        return;
    }
    std::string line;
    line.reserve(name.size() + message.size() + 32);
    line.append("[").append(to_string(level)).append("/").append(name).append(" pid ").append(std::to_string(pid));
    line.append("] ").append(message).append("\n");
    std::FILE* out = s.stream ? s.stream : stderr;
    // One write for the whole line, so that lines from several processes do not interleave.
    std::fwrite(line.data(), 1, line.size(), out);
    std::fflush(out);
}

namespace detail {

std::string next_pool_worker_name(StartMethod method) {
    static std::atomic<int> count{0};
    const char* kind = method == StartMethod::fork ? "Fork" : method == StartMethod::spawn ? "Spawn" : "ForkServer";
    return std::string(kind) + "PoolWorker-" + std::to_string(count.fetch_add(1) + 1);
}

void set_log_process_name(std::string name) {
    new (&sink().mutex) std::mutex;  // a lock held by another thread at the fork stays held forever
    process_name_override() = std::move(name);
}

std::string worker_log_settings(const std::string& worker_name) {
    auto& s = sink();
    std::lock_guard lock(s.mutex);
    // The path last: only it may contain a newline.
    return std::to_string(threshold.load()) + '\n' + worker_name + '\n' + s.path;
}

void adopt_worker_log_settings(const std::string& settings) {
    const auto first = settings.find('\n');
    const auto second = settings.find('\n', first + 1);
    if (first == std::string::npos || second == std::string::npos) return;
    set_log_process_name(settings.substr(first + 1, second - first - 1));
    threshold.store(std::atoi(settings.substr(0, first).c_str()));
    const std::string path = settings.substr(second + 1);
    if (path.empty()) return;
    try {
        log_to_file(path);
    } catch (const Error&) {
        // The worker logs to stderr instead; its tasks matter more than its log.
    }
}

void log_worker_exit(const std::string& name, int pid, int exitcode, bool expected) {
    if (expected)
        log_parts(LogLevel::debug, "worker ", name, " (pid ", pid, ") exited: ", describe_exit(exitcode));
    else
        log_parts(LogLevel::warning, "worker ", name, " (pid ", pid, ") died: ", describe_exit(exitcode));
}

}  // namespace detail
}  // namespace mproc
