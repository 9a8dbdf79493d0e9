#include "launch.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <string>

#include <mproc/errors.hpp>

#include "message_fds.hpp"
#include "os/fd_passing.hpp"
#include "os/io.hpp"
#include "os/memfd.hpp"
#include "os/poll.hpp"
#include "os/threads.hpp"
#include "os_error.hpp"
#include "resource_tracker.hpp"

namespace mproc::launch {
namespace {

// Names the bootstrap socket of a program started by spawn (see launch.hpp for its format).
constexpr const char* bootstrap_variable = "MPROC_BOOTSTRAP_FD";
// How long a spawned child may take to reach mproc::init: its static initialization.
constexpr std::chrono::seconds handshake_timeout{60};
constexpr std::uint32_t bootstrap_magic = 0x6d70726f;  // "mpro"
// No payload comes near this; a header that claims more is not one of ours.
constexpr std::uint64_t max_payload_size = std::uint64_t{1} << 40;
// A receive buffer one byte longer than a header: a longer message is not a bootstrap.
using HeaderBuffer = std::array<std::byte, sizeof(BootstrapHeader) + 1>;

const std::byte hello{'h'};

// The fork server is a spawned child whose entry is to serve forks (registered below).
constexpr Entry fork_server_entry{3};

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

Cookie random_cookie() {
    Cookie cookie;
    detail::or_throw(os::fill_random(cookie));
    return cookie;
}

void send_bootstrap(int socket, const Bootstrap& bootstrap, const Cookie& cookie) {
    const std::size_t size = std::max<std::size_t>(bootstrap.payload.size(), 1);
    auto region = detail::or_throw(os::MappedMemfd::create("mproc-bootstrap", size));
    if (!bootstrap.payload.empty()) std::memcpy(region.data(), bootstrap.payload.data(), bootstrap.payload.size());
    const auto header = make_bootstrap_header(bootstrap.entry, bootstrap.fds.size(), bootstrap.payload.size(), cookie);
    // The resource tracker's channel, when this process has one, goes along: segments the child
    // creates are then tracked as this program's (see resource_tracker.hpp).
    const int header_fds[] = {region.fd(), detail::resource_tracker_channel()};
    detail::send_message(socket, std::as_bytes(std::span(&header, 1)),
                         std::span(header_fds, header_fds[1] >= 0 ? 2 : 1));
    if (!bootstrap.fds.empty()) detail::send_fds(socket, bootstrap.fds);
}

// Waits for the child's hello: proof that it took its bootstrap (under spawn: that it reached
// mproc::init). A signal handled meanwhile is not an answer.
void await_hello(int socket, StartingChild& child) {
    const auto deadline = std::chrono::steady_clock::now() + handshake_timeout;
    bool timed_out = false;
    const auto ready = os::wait_until_readable(socket, deadline);
    if (ready && !ready.value()) {
        timed_out = true;
    } else {
        std::byte reply{};
        const auto received = os::receive_message(socket, {&reply, 1});
        if (received && received.value().size == 1 && reply == hello) return;
        // The other end closed: the child is gone.
    }
    std::string what;
    if (timed_out) {
        child.process.signal(SIGKILL);
        what = "did not take its work within " + std::to_string(handshake_timeout.count()) + " s and was killed";
    } else {
        const auto code = detail::or_throw(child.process.wait());
        what = "exited (exit code " + std::to_string(code.value_or(0)) + ") before it took its work";
    }
    const bool program_run_again = child.method == StartMethod::spawn || child.entry == fork_server_entry;
    std::string message = "mproc: " +
                          (child.entry == fork_server_entry
                               ? std::string("the fork server")
                               : "a child started by the " + std::string(to_string(child.method)) + " start method") +
                          " " + what;
    if (program_run_again)
        message += ". Under spawn and forkserver the program is run again, and turns into a worker (or the "
                   "fork server) inside mproc::init(argc, argv): call it first thing in main.";
    throw StartError(message);
}

// Whether this is a program started by spawn whose main() did not call mproc::init (which takes
// the variable out of the environment): the variable names a socket our parent made.
bool spawned_without_init() noexcept {
    const char* value = std::getenv(bootstrap_variable);
    if (!value) return false;
    const auto address = decode_bootstrap_address(value);
    return address && os::is_socket_pair_from_parent(address->fd);
}

[[noreturn]] void refuse_uninitialized_spawned_child() {
    std::fputs("mproc: this process was started by the spawn start method (or as the fork server), but "
               "main() did not call mproc::init(argc, argv) before starting processes. Call it first thing "
               "in main.\n",
               stderr);
    std::fflush(stderr);
    ::_exit(3);
}

// Whether the next message on `socket` is a bootstrap header carrying `cookie`. It is only looked
// at, not taken: run_bootstrap takes it, with its descriptors.
bool bootstrap_waiting(int socket, const Cookie& cookie) {
    HeaderBuffer buffer{};
    const auto size = os::peek_message(socket, buffer, handshake_timeout);
    return size == sizeof(BootstrapHeader) &&
           decode_bootstrap_header(std::span(buffer).first(sizeof(BootstrapHeader)), cookie).has_value();
}

[[noreturn]] void serve_forks(os::UniqueFd socket);

// Receives a bootstrap carrying `cookie` on `socket` and runs it, as a child started by `method`;
// returns the exit code. A fork server's entry does not return.
int run_bootstrap(int socket, const Cookie& cookie, StartMethod method) {
    std::optional<BootstrapHeader> header;
    std::vector<std::byte> payload;
    std::vector<os::UniqueFd> fds;
    try {
        HeaderBuffer buffer{};
        auto message = detail::receive_message(socket, buffer);
        header = decode_bootstrap_header(std::span(buffer).first(message.size), cookie);
        if (header && (message.fds.size() == 1 || message.fds.size() == 2)) {
            detail::adopt_resource_tracker(message.fds.size() == 2 ? std::move(message.fds[1]) : os::UniqueFd());
            if (header->payload_size) {
                const auto region = detail::or_throw(os::MappedMemfd::attach(std::move(message.fds[0]), 0));
                if (region.mapped_size() < header->payload_size) throw SerializationError("payload memfd too small");
                payload.assign(region.data(), region.data() + header->payload_size);
            }
            if (header->fd_count) fds = detail::receive_fds(socket, header->fd_count);
        } else {
            header.reset();
        }
    } catch (const Error&) {
        header.reset();
    }
    if (!header) {
        std::fputs("mproc: invalid bootstrap message\n", stderr);
        return 1;
    }
    // Only a registered entry runs; the parent learns of any other from the missing hello.
    const RegisteredEntry* entry = find_entry(static_cast<Entry>(header->entry));
    if (!entry) {
        std::fprintf(stderr, "mproc: unknown bootstrap entry %u\n", static_cast<unsigned>(header->entry));
        return 1;
    }
    (void)os::send_message(socket, {&hello, 1});
    keep_start_method(method);
    if (entry->socket == BootstrapSocket::pass)
        fds.emplace_back(socket);
    else
        detail::close_fd(socket);
    std::vector<int> raw;
    for (const auto& fd : fds) raw.push_back(fd.get());
    Reader in(payload, raw);
    return entry->run(in, fds);
}

// Starts a child that runs `work`: `start(socket, cookie)` starts the process, which inherits
// `socket`; the bootstrap is then sent over it.
template <class Start>
StartingChild start_bootstrapped(StartMethod method, const Bootstrap& work, Start&& start) {
    // As under fork, output buffered so far is the parent's to print, and printed before the child's.
    std::fflush(nullptr);
    const Cookie cookie = random_cookie();
    auto [ours, theirs] = detail::socket_pair();
    os::ChildProcess process = start(theirs.get(), cookie);
    theirs.reset();
    StartingChild starting{std::move(process), std::move(ours), method, work.entry};
    try {
        send_bootstrap(starting.confirmation.get(), work, cookie);
    } catch (const OSError&) {
        // EPIPE: the child is gone already (under spawn, a main() without mproc::init exits
        // before reading). Its hello never comes, and await_start says why as a StartError.
        await_start(starting);
        throw;
    }
    return starting;
}

// Runs this program again, which takes `work` inside mproc::init. `method` names the start method
// in errors: spawn, or forkserver for the fork server.
StartingChild start_spawned(StartMethod method, const Bootstrap& work, const os::ForkOptions& options) {
    return start_bootstrapped(method, work, [&](int socket, const Cookie& cookie) {
        return detail::or_throw(os::ChildProcess::exec_self(
            socket,
            std::string(bootstrap_variable) + "=" +
                encode_bootstrap_address({os::ChildProcess::inherited_fd_in_new_program, cookie}),
            options));
    });
}

// --- The fork server ----------------------------------------------------------------------------

enum class ServerOp : std::uint8_t { fork = 1, reap = 2 };

struct ServerRequest {
    ServerOp op;
    bool new_process_group;
    std::uint16_t reserved;
    std::int32_t pid;
    Cookie cookie;  // the bootstrap the child is to take carries it
};
static_assert(std::is_trivially_copyable_v<ServerRequest> && sizeof(ServerRequest) == 24,
              "ServerRequest is sent as bytes: keep it free of padding");

// Runs in the server: forks children on request and reaps them when asked, never on its own,
// so that a child's pid stays its own until the parent has its exit code.
[[noreturn]] void serve_forks(os::UniqueFd socket) {
    // Ctrl-C goes to the whole foreground group: the parent decides what it means, and its
    // children get their own default action back (below). The server holds nothing but its socket.
    os::set_signal_ignored(SIGINT, true);
    os::close_descriptors_except(socket.get());
    std::map<int, os::ChildProcess> children;
    for (;;) {
        ServerRequest request{};
        os::ReceivedMessage message;
        try {
            message = detail::receive_message(socket.get(), std::as_writable_bytes(std::span(&request, 1)));
        } catch (...) {
            ::_exit(1);
        }
        if (message.size == 0) ::_exit(0);  // the parent is gone
        if (message.size != sizeof request) ::_exit(1);
        std::int32_t reply = 0;
        if (request.op == ServerOp::fork && message.fds.size() == 1) {
            const int bootstrap_socket = message.fds[0].get();
            auto child = os::ChildProcess::fork(
                [&] {
                    // Not the server's socket, nor the pidfds of its siblings.
                    os::close_descriptors_except(bootstrap_socket);
                    os::set_signal_ignored(SIGINT, false);
                    return run_bootstrap(bootstrap_socket, request.cookie, StartMethod::forkserver);
                },
                {.new_process_group = request.new_process_group});
            if (child) {
                reply = child.value().pid();
                children.emplace(reply, std::move(child).value());
            } else {
                reply = -child.error().code;
            }
        } else if (request.op == ServerOp::reap) {
            auto found = children.find(request.pid);
            if (found != children.end()) {
                reply = detail::or_throw(found->second.wait()).value_or(0);
                children.erase(found);
            }
        }
        if (!os::send_message(socket.get(), std::as_bytes(std::span(&reply, 1)))) ::_exit(1);
    }
}

class ForkServer {
public:
    // The server of this process, started on first use. In a forked child, a new one.
    // A server that died (killed with its children) is replaced; the old object stays, since its
    // children's handles refer to it.
    static ForkServer& instance() {
        std::lock_guard lock(*instance_mutex);
        if (!current || current->server_.process.has_exited()) current = new ForkServer(current);
        return *current;
    }

    os::ChildProcess start(int bootstrap_socket, bool new_process_group, const Cookie& cookie) {
        const std::int32_t pid = request({ServerOp::fork, new_process_group, 0, 0, cookie}, bootstrap_socket);
        if (pid < 0) throw OSError("fork (in the fork server)", -pid);
        return detail::or_throw(os::ChildProcess::adopt(pid, new_process_group, [this](int child) {
            try {
                return request({ServerOp::reap, false, 0, child, {}}, -1);
            } catch (const Error&) {
                // The server is gone, and the kernel killed its children with it.
                return -SIGKILL;
            }
        }));
    }

private:
    // The server is this program run again, as spawn runs it, that turns into the server inside
    // mproc::init: never a fork of this process, which may run threads by now, and the same
    // program state whenever it starts. Its socket is the one it took its bootstrap on; its
    // hello is awaited with the first request, so that starting it does not wait for the exec.
    explicit ForkServer(ForkServer* previous)
        : server_(start_spawned(StartMethod::forkserver, Bootstrap{fork_server_entry, {}, {}, {}}, {})),
          previous_(previous) {}

    std::int32_t request(const ServerRequest& request, int fd) {
        std::lock_guard lock(mutex_);
        const int socket = server_.confirmation.get();
        if (!confirmed_) {
            await_hello(socket, server_);
            confirmed_ = true;
        }
        std::int32_t reply = 0;
        std::size_t received = 0;
        try {
            detail::send_message(socket, std::as_bytes(std::span(&request, 1)),
                                 fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>());
            received = detail::receive_message(socket, std::as_writable_bytes(std::span(&reply, 1))).size;
        } catch (const OSError&) {
            // EPIPE or ECONNRESET: as an end of file.
        }
        if (received != sizeof reply) throw StartError("mproc: the fork server is gone");
        return reply;
    }

    // Never destroyed: children may be started and reaped while the program exits. A forked
    // child closes its copy of the parent's socket and starts its own server if it needs one;
    // it gets a new mutex too, since it may have been forked with this one held.
    static inline ForkServer* current = nullptr;
    static inline std::mutex* instance_mutex = new std::mutex;
    static void forget_in_child();
    static inline const bool reset_in_children = (os::at_fork_child(&ForkServer::forget_in_child), true);

    std::mutex mutex_;
    StartingChild server_;  // its confirmation socket is the server's socket
    bool confirmed_ = false;
    // A server that died, kept (and reachable) for its children's handles.
    [[maybe_unused]] ForkServer* previous_;
};

void ForkServer::forget_in_child() {
    if (current) current->server_.confirmation.reset();
    current = nullptr;
    instance_mutex = new std::mutex;
}

// The fork server's entry: its bootstrap carries nothing but the socket it serves on.
int serve_forks_on_bootstrap_socket(Reader&, std::vector<os::UniqueFd>& fds) { serve_forks(std::move(fds.back())); }
const EntryRegistration fork_server_registration(fork_server_entry, "fork server", &serve_forks_on_bootstrap_socket,
                                                 BootstrapSocket::pass);

}  // namespace

// --- The wire format ----------------------------------------------------------------------------

std::string encode_bootstrap_address(const BootstrapAddress& address) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string text = std::to_string(address.fd) + ":";
    for (const std::byte b : address.cookie) {
        text += digits[std::to_integer<unsigned>(b) >> 4];
        text += digits[std::to_integer<unsigned>(b) & 15];
    }
    return text;
}

std::optional<BootstrapAddress> decode_bootstrap_address(std::string_view text) noexcept {
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon > 10) return std::nullopt;
    const std::string_view number = text.substr(0, colon), hex = text.substr(colon + 1);
    // Decimal digits only, without a sign or a leading zero: one spelling per descriptor.
    if (number.size() > 1 && number[0] == '0') return std::nullopt;
    std::int64_t fd = 0;
    for (const char c : number) {
        if (c < '0' || c > '9') return std::nullopt;
        fd = fd * 10 + (c - '0');
    }
    if (fd > std::numeric_limits<int>::max() || hex.size() != 2 * sizeof(Cookie)) return std::nullopt;
    BootstrapAddress address{static_cast<int>(fd), {}};
    const auto value_of = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < address.cookie.size(); ++i) {
        const int high = value_of(hex[2 * i]), low = value_of(hex[2 * i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        address.cookie[i] = static_cast<std::byte>(high * 16 + low);
    }
    return address;
}

BootstrapHeader make_bootstrap_header(Entry entry, std::size_t fd_count, std::size_t payload_size,
                                      const Cookie& cookie) noexcept {
    return {bootstrap_magic, static_cast<std::uint16_t>(entry), 0, static_cast<std::uint32_t>(fd_count), 0,
            payload_size, cookie};
}

std::optional<BootstrapHeader> decode_bootstrap_header(std::span<const std::byte> bytes,
                                                       const Cookie& expected) noexcept {
    if (bytes.size() != sizeof(BootstrapHeader)) return std::nullopt;
    BootstrapHeader header;
    std::memcpy(&header, bytes.data(), sizeof header);
    if (header.magic != bootstrap_magic || header.entry == 0 || header.reserved != 0 || header.reserved2 != 0 ||
        header.fd_count > os::max_fds_per_message || header.payload_size > max_payload_size ||
        header.cookie != expected)
        return std::nullopt;
    return header;
}

// --- Starting children --------------------------------------------------------------------------

os::ChildProcess start_child(StartMethod method, const std::function<int()>& body,
                             const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options) {
    auto child = begin_child(method, body, bootstrap, options);
    await_start(child);
    return std::move(child.process);
}

void await_start(StartingChild& child) {
    if (!child.confirmation) return;
    await_hello(child.confirmation.get(), child);
    child.confirmation.reset();
}

StartingChild begin_child(StartMethod method, const std::function<int()>& body,
                          const std::function<Bootstrap()>& bootstrap, const os::ForkOptions& options) {
    if (spawned_without_init()) refuse_uninitialized_spawned_child();
    if (method == StartMethod::fork) {
        warn_if_threaded();
        auto child = detail::or_throw(os::ChildProcess::fork(
            [&body] {
                keep_start_method(StartMethod::fork);
                return body();
            },
            options));
        return {std::move(child), {}, method};
    }
    const Bootstrap work = bootstrap();
    if (method == StartMethod::spawn) return start_spawned(method, work, options);
    return start_bootstrapped(method, work, [&](int socket, const Cookie& cookie) {
        return ForkServer::instance().start(socket, options.new_process_group, cookie);
    });
}

void serve_if_spawned() {
    const char* value = std::getenv(bootstrap_variable);
    if (!value) return;
    const auto address = decode_bootstrap_address(value);
    // Out of the environment whatever it was: this process's own children are not its launcher's.
    ::unsetenv(bootstrap_variable);
    // A child started by spawn dies with its parent, as a forked one does; posix_spawn ran none of
    // our code before the exec, so it asks for that here. The pair's maker (the parent that spawned
    // us) may have died before: then we are another process's child, and nobody would kill us.
    // (A maker still alive but not our parent is a stray variable's: refused below.)
    const auto maker = address ? os::socket_pair_maker(address->fd) : std::nullopt;
    int parent_death_signal = 0;
    if (maker) {
        parent_death_signal = os::die_with_parent();
        if (*maker != ::getppid() && os::has_exited(*maker)) {
            std::fputs("mproc: the process that started this one is gone\n", stderr);
            ::_exit(1);
        }
    }
    const char* refusal = nullptr;
    if (!address)
        refusal = "it is not a value mproc sets";
    else if (!maker || *maker != ::getppid())
        refusal = "the descriptor it names is not a socket that this process's parent made";
    else if (!bootstrap_waiting(address->fd, address->cookie))
        refusal = "no bootstrap carrying its cookie arrived on that socket";
    if (refusal) {
        if (maker) os::restore_parent_death_signal(parent_death_signal);
        std::fprintf(stderr, "mproc: ignoring the environment variable %s (%s)\n", bootstrap_variable, refusal);
        return;
    }
    const int code = run_bootstrap(address->fd, address->cookie, StartMethod::spawn);
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
