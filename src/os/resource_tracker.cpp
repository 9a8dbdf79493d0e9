#include "os/resource_tracker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "os/child_process.hpp"
#include "os/syscall.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {
namespace {

// Everything below runs in the tracker, a copy of a program that may have been running threads
// when it forked: system calls and plain memory only (no malloc, no stdio, no locks).

void write_error(std::string_view text) noexcept {
    while (!text.empty()) {
        const ssize_t written = ::write(STDERR_FILENO, text.data(), text.size());
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return;
        text.remove_prefix(static_cast<std::size_t>(written));
    }
}

void write_number(unsigned long number) noexcept {
    char digits[24];
    std::size_t start = sizeof digits;
    do {
        digits[--start] = static_cast<char>('0' + number % 10);
        number /= 10;
    } while (number != 0);
    write_error({digits + start, sizeof digits - start});
}

bool valid_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= tracked_name_max && name.find('/') == std::string_view::npos &&
           name.find('\0') == std::string_view::npos;
}

// The registered names, in anonymous memory that grows by remapping.
class Registry {
public:
    void add(std::string_view name) noexcept {
        if (find(name) != count_) return;  // registered twice (a set, as Python's)
        if (count_ == capacity_ && !grow()) {
            write_error("mproc: resource_tracker: out of memory; not tracking \"");
            write_error(name);
            write_error("\"\n");
            return;
        }
        entries_[count_].length = static_cast<unsigned char>(name.size());
        std::memcpy(entries_[count_].name, name.data(), name.size());
        ++count_;
    }

    void remove(std::string_view name) noexcept {
        const std::size_t index = find(name);
        if (index == count_) return;
        entries_[index] = entries_[--count_];
    }

    // Unlinks every segment still registered, saying so on stderr as Python does.
    void clean_up() const noexcept {
        if (count_ == 0) return;
        write_error("mproc: resource_tracker: There appear to be ");
        write_number(count_);
        write_error(" leaked shared_memory objects to clean up at shutdown:");
        for (std::size_t i = 0; i < count_; ++i) {
            write_error(" ");
            write_error(name(i));
        }
        write_error("\n");
        for (std::size_t i = 0; i < count_; ++i) {
            static constexpr std::string_view directory = "/dev/shm/";
            char path[directory.size() + tracked_name_max + 1];
            std::memcpy(path, directory.data(), directory.size());
            std::memcpy(path + directory.size(), entries_[i].name, entries_[i].length);
            path[directory.size() + entries_[i].length] = '\0';
            // Already gone (unlinked by a process that did not say so) is no error.
            if (::unlink(path) != 0 && errno != ENOENT) {
                const int error = errno;
                write_error("mproc: resource_tracker: cannot unlink \"");
                write_error(name(i));
                write_error("\": errno ");
                write_number(static_cast<unsigned long>(error));
                write_error("\n");
            }
        }
    }

private:
    struct Entry {
        unsigned char length;
        char name[tracked_name_max];
    };
    static_assert(tracked_name_max <= 255, "Entry::length holds a name's length");

    std::string_view name(std::size_t i) const noexcept { return {entries_[i].name, entries_[i].length}; }

    std::size_t find(std::string_view name) const noexcept {
        std::size_t i = 0;
        while (i < count_ && this->name(i) != name) ++i;
        return i;
    }

    bool grow() noexcept {
        const std::size_t capacity = capacity_ == 0 ? 64 : capacity_ * 2;
        void* memory =
            ::mmap(nullptr, capacity * sizeof(Entry), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (memory == MAP_FAILED) return false;
        auto* entries = static_cast<Entry*>(memory);
        if (count_ != 0) std::memcpy(entries, entries_, count_ * sizeof(Entry));
        if (entries_) ::munmap(entries_, capacity_ * sizeof(Entry));
        entries_ = entries;
        capacity_ = capacity;
        return true;
    }

    Entry* entries_ = nullptr;
    std::size_t count_ = 0;
    std::size_t capacity_ = 0;
};

[[noreturn]] void run_tracker(int socket) noexcept {
    // Its own session: a signal to the program's process group (Ctrl-C, a pool killing a worker's
    // group, a job control kill) does not reach it, nor a terminal hangup.
    ::setsid();
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (int signal = 1; signal < NSIG; ++signal) {
        // As Python's tracker: SIGINT and SIGTERM do not stop it. SIGPIPE: a closed stderr must
        // not kill it before it cleaned up. Every other signal gets its default action back:
        // the program's handlers are no code to run here.
        const bool ignored = signal == SIGINT || signal == SIGTERM || signal == SIGPIPE;
        ::sigaction(signal, ignored ? &ignore : &default_action, nullptr);
    }
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);

    // Keep the socket and stderr only: the program's pipes, sockets and files must not stay open
    // in here (a reader waiting for their end would wait for the whole program).
    auto kept = duplicate_fd_cloexec(socket, STDERR_FILENO + 1);
    if (!kept) ::_exit(1);
    const int channel = kept.value().release();
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int standard : {STDIN_FILENO, STDOUT_FILENO}) {
        if (null >= 0) ::dup2(null, standard);
        else ::close(standard);
    }
    if (socket == STDERR_FILENO) ::close(STDERR_FILENO);  // the program had no stderr
    close_descriptors_except(channel);
    ::prctl(PR_SET_NAME, "mproc-tracker", 0, 0, 0);

    Registry registry;
    char record[1 + tracked_name_max + 1];  // one byte more: a longer record shows as too long
    for (;;) {
        const ssize_t size = ::recv(channel, record, sizeof record, 0);
        if (size < 0 && errno == EINTR) continue;
        if (size <= 0) break;  // every holder of the other end is gone
        if (size < 2) continue;
        const std::string_view name(record + 1, static_cast<std::size_t>(size) - 1);
        if (!valid_name(name)) continue;
        if (record[0] == static_cast<char>(TrackerRecord::register_segment)) registry.add(name);
        else if (record[0] == static_cast<char>(TrackerRecord::unregister_segment)) registry.remove(name);
    }
    registry.clean_up();
    ::_exit(0);
}

}  // namespace

int start_resource_tracker(UniqueFd& channel) noexcept {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ends) != 0) return errno;
    UniqueFd ours(ends[0]);
    UniqueFd theirs(ends[1]);
    // No handler of the program may run in the new processes before the tracker resets them.
    sigset_t all, previous;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous);
    // fork() (not a raw clone) so that glibc and sanitizers see a fork; the intermediate process
    // then starts the tracker with _Fork(), which runs no fork handlers, and exits at once: the
    // tracker is reparented, and is never this program's child.
    const pid_t intermediate = ::fork();
    if (intermediate == 0) {
        const pid_t tracker = ::_Fork();
        if (tracker == 0) run_tracker(theirs.get());
        ::_exit(tracker > 0 ? 0 : 1);
    }
    int error = intermediate < 0 ? errno : 0;
    if (intermediate > 0) {
        int status = 0;
        const auto waited = sys_call("waitpid", [&] { return ::waitpid(intermediate, &status, 0); });
        // ECHILD: reaped by someone else (SIGCHLD ignored); it exited all the same.
        if (waited && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) error = EAGAIN;
    }
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (error != 0) return error;
    channel = std::move(ours);
    return 0;
}

int send_to_resource_tracker(int channel, TrackerRecord record, std::string_view name) noexcept {
    if (!valid_name(name)) return EINVAL;
    char message[1 + tracked_name_max];
    message[0] = static_cast<char>(record);
    std::memcpy(message + 1, name.data(), name.size());
    const auto sent = sys_call("send", [&] { return ::send(channel, message, 1 + name.size(), MSG_NOSIGNAL); });
    return sent ? 0 : sent.error().code;
}

}  // namespace mproc::os
