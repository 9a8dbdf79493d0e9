#include "launch.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include <mproc/errors.hpp>

#include "os/fd_passing.hpp"
#include "os/shared_region.hpp"
#include "os/threads.hpp"
#include "resource_tracker.hpp"

namespace mproc::launch {
namespace {

// Names the bootstrap socket a spawned child inherits.
constexpr const char* bootstrap_variable = "MPROC_BOOTSTRAP_FD";
// How long a spawned child may take to reach mproc::init: its static initialization.
constexpr std::chrono::seconds handshake_timeout{60};
constexpr std::uint32_t bootstrap_magic = 0x6d70726f;  // "mpro"

struct BootstrapHeader {
    std::uint32_t magic;
    std::uint16_t entry;
    std::uint32_t fd_count;
    std::uint64_t payload_size;
};

const std::byte hello{'h'};

// --- Fork warning -------------------------------------------------------------------------------

std::atomic<bool> fork_warning_enabled = [] {
    const char* value = std::getenv("MPROC_FORK_WARNING");
    return !(value && std::strcmp(value, "0") == 0);
}();
std::atomic<bool> fork_warning_given{false};

void warn_if_threaded() {
    if (!fork_warning_enabled.load(std::memory_order_relaxed) || fork_warning_given.load(std::memory_order_relaxed))
        return;
    const int threads = os::thread_count() - os::internal_thread_count();
    if (threads <= 1 || fork_warning_given.exchange(true)) return;
    std::fprintf(stderr,
                 "mproc: warning: forking a process that runs %d threads. A lock another thread holds at "
                 "this moment (in malloc, stdio, a logger, your own code) stays locked forever in the "
                 "child, which may then deadlock. Use the forkserver or spawn start method "
                 "(mproc::set_start_method(\"forkserver\"), with mproc::init(argc, argv) first in main), "
                 "or silence this with mproc::set_fork_warning(false) or MPROC_FORK_WARNING=0.\n",
                 threads);
}

// --- Sending and receiving a bootstrap ----------------------------------------------------------

void send_bootstrap(int socket, const Bootstrap& bootstrap) {
    auto region = os::SharedRegion::create("mproc-bootstrap", std::max<std::size_t>(bootstrap.payload.size(), 1));
    std::memcpy(region.data(), bootstrap.payload.data(), bootstrap.payload.size());
    const BootstrapHeader header{bootstrap_magic, static_cast<std::uint16_t>(bootstrap.entry),
                                 static_cast<std::uint32_t>(bootstrap.fds.size()), bootstrap.payload.size()};
    // The resource tracker's channel, when this process has one, goes along: segments the child
    // creates are then tracked as this program's (see resource_tracker.hpp).
    const int header_fds[] = {region.fd(), detail::resource_tracker_channel()};
    os::send_message(socket, std::as_bytes(std::span(&header, 1)),
                     std::span(header_fds, header_fds[1] >= 0 ? 2 : 1));
    if (!bootstrap.fds.empty()) os::send_fds(socket, bootstrap.fds);
}

// Waits for the child's hello: proof that it took its bootstrap (under spawn: that it reached
// mproc::init). A signal handled meanwhile is not an answer.
void await_hello(int socket, os::ChildProcess& child, StartMethod method) {
    const auto deadline = std::chrono::steady_clock::now() + handshake_timeout;
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        pollfd fd{socket, POLLIN, 0};
        const int ready = ::poll(&fd, 1, static_cast<int>(std::max<long long>(left.count(), 0)));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
            timed_out = true;
            break;
        }
        std::byte reply{};
        const ssize_t received = ::recv(socket, &reply, 1, 0);
        if (received < 0 && errno == EINTR) continue;
        if (received == 1 && reply == hello) return;
        break;  // the other end closed: the child is gone
    }
    std::string what;
    if (timed_out) {
        child.signal(SIGKILL);
        what = "did not take its work within " + std::to_string(handshake_timeout.count()) + " s and was killed";
    } else {
        const auto code = child.wait();
        what = "exited (exit code " + std::to_string(code.value_or(0)) + ") before it took its work";
    }
    std::string message = "mproc: a child started by the " + std::string(to_string(method)) + " start method " + what;
    if (method == StartMethod::spawn)
        message += ". Under spawn, the program is run again and the child turns into a worker inside "
                   "mproc::init(argc, argv): call it first thing in main.";
    throw StartError(message);
}


[[noreturn]] void refuse_uninitialized_spawned_child() {
    std::fputs("mproc: this process was started by the spawn start method, but main() did not call "
               "mproc::init(argc, argv) before starting processes. Call it first thing in main.\n",
               stderr);
    std::fflush(stderr);
    ::_exit(3);
}

// --- The fork server ----------------------------------------------------------------------------

enum class ServerOp : std::uint8_t { fork = 1, reap = 2 };

struct ServerRequest {
    ServerOp op;
    bool new_process_group;
    std::int32_t pid;
};

// Runs in the server: forks children on request and reaps them when asked, never on its own,
// so that a child's pid stays its own until the parent has its exit code.
[[noreturn]] void serve_forks(os::UniqueFd socket) {
    // Ctrl-C goes to the whole foreground group: the parent decides what it means, and its
    // children get their own default action back (below). The server holds nothing but its socket.
    ::signal(SIGINT, SIG_IGN);
    os::close_descriptors_except(socket.get());
    std::map<int, os::ChildProcess> children;
    for (;;) {
        ServerRequest request{};
        os::ReceivedMessage message;
        try {
            message = os::receive_message(socket.get(), std::as_writable_bytes(std::span(&request, 1)));
        } catch (...) {
            ::_exit(1);
        }
        if (message.size == 0) ::_exit(0);  // the parent is gone
        std::int32_t reply = 0;
        if (request.op == ServerOp::fork && message.fds.size() == 1) {
            const int bootstrap_socket = message.fds[0].get();
            try {
                auto child = os::ChildProcess::fork(
                    [&] {
                        // Not the server's socket, nor the pidfds of its siblings.
                        os::close_descriptors_except(bootstrap_socket);
                        ::signal(SIGINT, SIG_DFL);
                        return run_bootstrap(bootstrap_socket);
                    },
                    {.new_process_group = request.new_process_group});
                reply = child.pid();
                children.emplace(reply, std::move(child));
            } catch (const OSError& error) {
                reply = -error.code();
            }
        } else if (request.op == ServerOp::reap) {
            auto found = children.find(request.pid);
            if (found != children.end()) {
                reply = found->second.wait().value_or(0);
                children.erase(found);
            }
        }
        if (::send(socket.get(), &reply, sizeof reply, MSG_NOSIGNAL) != sizeof reply) ::_exit(1);
    }
}

class ForkServer {
public:
    // The server of this process, started on first use. In a forked child, a new one.
    // A server that died (killed with its children) is replaced; the old object stays, since its
    // children's handles refer to it.
    static ForkServer& instance() {
        std::lock_guard lock(*instance_mutex);
        if (!current || current->server_.has_exited()) current = new ForkServer(current);
        return *current;
    }

    os::ChildProcess start(int bootstrap_socket, bool new_process_group) {
        const std::int32_t pid = request({ServerOp::fork, new_process_group, 0}, bootstrap_socket);
        if (pid < 0) throw OSError("fork (in the fork server)", -pid);
        return os::ChildProcess::adopt(pid, new_process_group, [this](int child) {
            try {
                return request({ServerOp::reap, false, child}, -1);
            } catch (const Error&) {
                // The server is gone, and the kernel killed its children with it.
                return -SIGKILL;
            }
        });
    }

private:
    explicit ForkServer(ForkServer* previous) : previous_(previous) {
        warn_if_threaded();
        auto [ours, theirs] = os::socket_pair();
        const int parent_end = ours.get();
        const int server_end = theirs.get();
        server_ = os::ChildProcess::fork([parent_end, server_end] {
            ::close(parent_end);
            serve_forks(os::UniqueFd(server_end));
            return 0;
        });
        socket_ = std::move(ours);
    }

    std::int32_t request(const ServerRequest& request, int fd) {
        std::lock_guard lock(mutex_);
        std::int32_t reply = 0;
        std::size_t received = 0;
        try {
            os::send_message(socket_.get(), std::as_bytes(std::span(&request, 1)),
                             fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>());
            received = os::receive_message(socket_.get(), std::as_writable_bytes(std::span(&reply, 1))).size;
        } catch (const OSError&) {
            // EPIPE or ECONNRESET: as an end of file.
        }
        if (received != sizeof reply) throw StartError("mproc: the fork server is gone");
        return reply;
    }

    // Never destroyed: children may be started and reaped while the program exits. A forked
    // child closes its copy of the parent's socket and starts its own server if it needs one;
    // it gets a new mutex too, since the server itself is forked with this one held.
    static inline ForkServer* current = nullptr;
    static inline std::mutex* instance_mutex = new std::mutex;
    static void forget_in_child();
    static inline const bool reset_in_children = (os::at_fork_child(&ForkServer::forget_in_child), true);

    std::mutex mutex_;
    os::UniqueFd socket_;
    os::ChildProcess server_;
    // A server that died, kept (and reachable) for its children's handles.
    [[maybe_unused]] ForkServer* previous_;
};

void ForkServer::forget_in_child() {
    if (current) current->socket_.reset();
    current = nullptr;
    instance_mutex = new std::mutex;
}

}  // namespace

// --- Starting children --------------------------------------------------------------------------

os::ChildProcess start_child(StartMethod method, const std::function<int()>& body,
                             const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options) {
    auto child = begin_child(method, body, bootstrap, options);
    await_start(child);
    return std::move(child.process);
}

void await_start(StartingChild& child) {
    if (!child.confirmation) return;
    await_hello(child.confirmation.get(), child.process, child.method);
    child.confirmation.reset();
}

StartingChild begin_child(StartMethod method, const std::function<int()>& body,
                          const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options) {
    if (std::getenv(bootstrap_variable)) refuse_uninitialized_spawned_child();
    if (method == StartMethod::fork) {
        warn_if_threaded();
        return {os::ChildProcess::fork(body, options), {}, method};
    }
    const Bootstrap work = bootstrap();
    // As under fork, output buffered so far is the parent's to print, and printed before the child's.
    std::fflush(nullptr);
    auto [ours, theirs] = os::socket_pair();
    os::ChildProcess child =
        method == StartMethod::spawn
            ? os::ChildProcess::exec_self(theirs.get(), std::string(bootstrap_variable) + "=" + std::to_string(theirs.get()),
                                          options)
            : ForkServer::instance().start(theirs.get(), options.new_process_group);
    theirs.reset();
    StartingChild starting{std::move(child), std::move(ours), method};
    try {
        send_bootstrap(starting.confirmation.get(), work);
    } catch (const OSError&) {
        // EPIPE: the child is gone already (under spawn, a main() without mproc::init exits
        // before reading). Its hello never comes, and await_start says why as a StartError.
        await_start(starting);
        throw;
    }
    return starting;
}

int run_bootstrap(int socket) {
    BootstrapHeader header{};
    auto message = os::receive_message(socket, std::as_writable_bytes(std::span(&header, 1)));
    if (message.size != sizeof header || header.magic != bootstrap_magic || message.fds.empty() ||
        message.fds.size() > 2) {
        std::fputs("mproc: invalid bootstrap message\n", stderr);
        return 1;
    }
    detail::adopt_resource_tracker(message.fds.size() == 2 ? std::move(message.fds[1]) : os::UniqueFd());
    std::vector<std::byte> payload(header.payload_size);
    if (!payload.empty()) {
        auto region = os::SharedRegion::attach(std::move(message.fds[0]), payload.size());
        std::memcpy(payload.data(), region.data(), payload.size());
    }
    std::vector<os::UniqueFd> fds;
    if (header.fd_count) fds = os::receive_fds(socket, header.fd_count);
    ::send(socket, &hello, 1, MSG_NOSIGNAL);
    ::close(socket);
    std::vector<int> raw;
    for (const auto& fd : fds) raw.push_back(fd.get());
    Reader in(payload, raw);
    switch (static_cast<Entry>(header.entry)) {
        case Entry::pool_worker: return run_pool_worker(in, fds);
        case Entry::process: return run_process(in, fds);
    }
    std::fputs("mproc: unknown bootstrap entry\n", stderr);
    return 1;
}

void serve_if_spawned() {
    const char* value = std::getenv(bootstrap_variable);
    if (!value) return;
    const int socket = std::atoi(value);
    ::unsetenv(bootstrap_variable);
    const int code = run_bootstrap(socket);
    std::fflush(nullptr);
    std::exit(code);
}

void prepare(StartMethod method) {
    if (method == StartMethod::forkserver) ForkServer::instance();
}

}  // namespace mproc::launch

namespace mproc {

void set_fork_warning(bool enabled) noexcept { launch::fork_warning_enabled.store(enabled); }

}  // namespace mproc
