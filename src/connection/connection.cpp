// mproc::connection::Connection (mproc/connection.hpp): Python's framing (connection/wire.hpp)
// over a stream socket, with descriptors beside typed values on Unix sockets.
#include <mproc/connection.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>

#include "connection/connection_state.hpp"
#include "connection/wire.hpp"
#include "os/fd_passing.hpp"
#include "os/poll.hpp"
#include "os/socket.hpp"
#include "os/cpu.hpp"
#include "os_error.hpp"

namespace mproc::connection {

namespace {

[[noreturn]] void throw_closed() { throw OSError("mproc::connection::Connection: handle is closed", EBADF); }

// A Connection's peer often answers within microseconds: the other end of a ping-pong, the next
// step of a handshake. Such an answer is met awake by a short spin of non-blocking receives before
// the blocking one, instead of paying this CPU's wake-up from a sleep in the kernel, some 20-40 us
// each way on virtual machines (Python pays it every time).
//
// How long a thread spins adapts to how soon its answers come. It is bounded by time, not by
// looks, since each look is a system call whose cost grows with the machine's load. A wait whose
// answer came within `soon` of its start (spun or slept) doubles the next spin, since a longer spin
// would have caught it, or did; a later one halves it. `soon` is longer than the longest spin: an
// answer from a peer that slept includes the peer's own wake-up, which ends once both ends spin.
class ReceiveSpin {
public:
    static constexpr std::chrono::nanoseconds shortest{1'000};
    static constexpr std::chrono::nanoseconds longest{50'000};
    static constexpr std::chrono::nanoseconds soon{150'000};

    std::chrono::nanoseconds length() const noexcept { return length_; }
    void answered(std::chrono::nanoseconds after) noexcept {
        length_ = after < soon ? std::min(length_ * 2, longest) : std::max(length_ / 2, shortest);
    }

private:
    std::chrono::nanoseconds length_ = shortest;
};
thread_local ReceiveSpin receive_spin;

// Pauses between two looks at the socket: a look costs far more than a pause.
constexpr int pauses_between_looks = 8;

os::Result<os::ReceivedMessage> receive_soon(int socket, std::span<std::byte> out, os::Descriptors descriptors) {
    using Clock = std::chrono::steady_clock;
    const auto look = [&] { return os::receive_message(socket, out, os::WhenEmpty::fail, descriptors); };
    const auto arrived = [](const os::Result<os::ReceivedMessage>& received) {
        return received || received.error().code != EAGAIN;
    };
    if (auto received = look(); arrived(received)) return received;  // there already: nothing to learn
    const auto began = Clock::now();
    if (os::spinning_helps()) {
        do {
            for (int i = 0; i < pauses_between_looks; ++i) os::spin_pause();
            if (auto received = look(); arrived(received)) {
                receive_spin.answered(Clock::now() - began);
                return received;
            }
        } while (Clock::now() - began < receive_spin.length());
    }
    auto received = os::receive_message(socket, out, os::WhenEmpty::wait, descriptors);
    receive_spin.answered(Clock::now() - began);
    return received;
}

// A wire Source over the socket. Descriptors come with a message's first byte (send_all attaches
// them to its first system call): a Source that takes them (`fds` set) asks for them on its first
// read, kept until the message is decoded (or closed with it), and reads the rest plainly. One for
// bytes alone (recv_bytes) leaves any the peer sent to the kernel, which closes them.
//
// On a read-ahead connection (no descriptors there), a read smaller than the ReadAhead takes what
// the socket holds into it, and later reads are served from it first.
struct SocketSource {
    int socket;
    std::vector<int>* fds = nullptr;
    bool fds_lost = false;
    detail::ReadAhead* ahead = nullptr;

    std::size_t read_some(std::span<std::byte> out) {
        if (!ahead) return read_socket(out);
        if (ahead->empty()) {
            if (out.size() >= detail::ReadAhead::capacity) return read_socket(out);
            ahead->begin = ahead->end = 0;  // emptied first: a failed read leaves nothing stale
            ahead->end = read_socket(ahead->bytes);
        }
        return ahead->take(out);
    }

    std::size_t read_socket(std::span<std::byte> out) {
        const auto descriptors = fds ? os::Descriptors::take : os::Descriptors::drop;
        auto received = mproc::detail::or_throw(receive_soon(socket, out, descriptors), "mproc::connection: recvmsg");
        if (fds) {
            for (auto& fd : received.fds) fds->push_back(fd.release());
            if (received.truncated) fds_lost = true;
            if (received.size > 0) fds = nullptr;  // the message's first bytes: its descriptors came with them
        }
        return received.size;
    }
};

// A message's header then its bytes, gathered into each system call: a small message is one
// segment on the wire (no Nagle delay, as Python's concatenation of small messages), and the
// reader is woken once per message, not once for the header and again for the bytes.
void send_all(int socket, std::span<const std::byte> header, std::span<const std::byte> bytes,
              std::span<const int> fds) {
    while (!header.empty() || !bytes.empty()) {
        const std::size_t sent =
            mproc::detail::or_throw(os::send_some(socket, header, bytes, fds), "mproc::connection: send");
        const std::size_t of_header = std::min(sent, header.size());
        header = header.subspan(of_header);
        bytes = bytes.subspan(sent - of_header);
        fds = {};  // they went with the first byte
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Addresses and keys.

Address::Address(std::string host, int port) : family_(Family::tcp), host_(std::move(host)) {
    if (port < 0 || port > 65535)
        throw StateError("mproc::connection::Address: port " + std::to_string(port) + " is outside 0..65535");
    port_ = static_cast<std::uint16_t>(port);
}

std::string Address::to_string() const {
    if (family_ == Family::tcp) return host_ + ":" + std::to_string(port_);
    if (abstract()) return "@" + path_.substr(1);
    return path_;
}

Authkey::Authkey(std::string key) : state_(State::key), key_(std::move(key)) {
    if (key_.empty())
        throw StateError("mproc::connection: an empty authkey; give a non-empty key, or no_authkey for none");
}

// ---------------------------------------------------------------------------------------------
// Connection.

namespace detail {

Connection ConnectionAccess::adopt(os::UniqueFd socket, bool readable, bool writable) {
    if (!readable && !writable)
        throw StateError("mproc::connection::Connection: at least one of readable and writable must be true");
    auto state = std::make_shared<ConnectionState>();
    state->can_pass_fds = mproc::detail::or_throw(os::is_unix_socket(socket.get()), "mproc::connection::Connection");
    state->socket = std::move(socket);
    state->readable = readable;
    state->writable = writable;
    return Connection(std::move(state));
}

void ConnectionAccess::read_ahead(Connection& connection) {
    auto& state = *connection.state_;
    std::lock_guard lock(state.receiving);
    if (!state.can_pass_fds && !state.ahead) state.ahead = std::make_unique<ReadAhead>();
}

bool ConnectionAccess::holds_read_ahead(const Connection& connection) noexcept {
    if (!connection.state_) return false;
    auto& state = *connection.state_;
    const std::unique_lock lock(state.receiving, std::try_to_lock);
    return lock.owns_lock() && state.ahead && !state.ahead->empty();
}

}  // namespace detail

using detail::ConnectionAccess;

Connection Connection::from_fd(int fd, bool readable, bool writable) {
    if (fd < 0) throw OSError("mproc::connection::Connection::from_fd: invalid descriptor", EBADF);
    // Checked before taking ownership: a descriptor that is refused stays the caller's.
    mproc::detail::or_throw(os::is_unix_socket(fd), "mproc::connection::Connection::from_fd");
    return ConnectionAccess::adopt(os::UniqueFd(fd), readable, writable);
}

void Connection::send_bytes(std::span<const std::byte> buffer, std::size_t offset, std::optional<std::size_t> size) {
    if (offset > buffer.size()) throw StateError("mproc::connection::Connection::send_bytes: buffer length < offset");
    const std::size_t count = size.value_or(buffer.size() - offset);
    if (count > buffer.size() - offset)
        throw StateError("mproc::connection::Connection::send_bytes: buffer length < offset + size");
    send_encoded(buffer.subspan(offset, count), {});
}

void Connection::send_encoded(std::span<const std::byte> bytes, std::span<const int> fds) {
    if (closed()) throw_closed();
    auto& state = *state_;
    if (!state.writable) throw OSError("mproc::connection::Connection: connection is read-only", EBADF);
    if (!fds.empty() && !state.can_pass_fds)
        throw SerializationError("mproc::connection::Connection::send: shared objects and Connections travel as "
                                 "descriptors, which only a Unix socket can carry, not TCP");
    if (fds.size() > os::max_fds_per_message)
        throw SerializationError("mproc::connection::Connection::send: a message may carry at most " +
                                 std::to_string(os::max_fds_per_message) + " descriptors");
    const auto header = wire::encode_header(bytes.size());
    std::lock_guard lock(state.sending);
    send_all(state.socket.get(), header.view(), bytes, fds);
}

detail::ConnectionState& Connection::readable_state() const {
    if (closed()) throw_closed();
    if (!state_->readable) throw OSError("mproc::connection::Connection: connection is write-only", EBADF);
    return *state_;
}

detail::ReceivedFrame Connection::receive_encoded() {
    auto& state = readable_state();
    detail::ReceivedFrame frame;
    {
        std::lock_guard lock(state.receiving);
        SocketSource source{state.socket.get(), &frame.fds, false, state.ahead.get()};
        frame.bytes = wire::read_message(source, std::nullopt);
        if (source.fds_lost)
            throw SerializationError("mproc::connection::Connection::recv: descriptors sent with the message were lost "
                                     "(more than this process may receive at once)");
    }
    return frame;
}

std::vector<std::byte> Connection::recv_bytes(std::optional<std::size_t> maxlength) {
    auto& state = readable_state();
    // Descriptors a peer sent beside bytes are not ours to keep: the kernel closes them.
    std::unique_lock lock(state.receiving);
    SocketSource source{state.socket.get(), nullptr, false, state.ahead.get()};
    try {
        return wire::read_message(source, maxlength);
    } catch (const OSError& e) {
        // A message too long for the caller cannot be skipped: the stream is lost, as in Python.
        if (e.code() == EMSGSIZE) {
            lock.unlock();
            close();
        }
        throw;
    }
}

std::size_t Connection::recv_bytes_into(std::span<std::byte> buffer, std::size_t offset) {
    if (offset > buffer.size()) throw StateError("mproc::connection::Connection::recv_bytes_into: offset too large");
    auto& state = readable_state();
    std::lock_guard lock(state.receiving);
    // Descriptors sent beside the bytes: closed by the kernel.
    SocketSource source{state.socket.get(), nullptr, false, state.ahead.get()};
    const std::uint64_t size = wire::read_header(source);
    if (size <= buffer.size() - offset) {
        // It fits: straight into the caller's buffer, no copy.
        wire::read_exact(source, buffer.subspan(offset, static_cast<std::size_t>(size)), true);
        return static_cast<std::size_t>(size);
    }
    auto message = wire::read_payload(source, size);
    throw BufferTooShort("mproc::connection::Connection::recv_bytes_into: a message of " +
                             std::to_string(size) + " bytes does not fit in the " +
                             std::to_string(buffer.size() - offset) + " bytes left in the buffer",
                         std::move(message));
}

bool Connection::poll(std::chrono::duration<double> timeout) {
    const int socket = readable_state().socket.get();
    if (ConnectionAccess::holds_read_ahead(*this)) return true;
    const auto left = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::max(timeout, std::chrono::duration<double>::zero()));
    return mproc::detail::or_throw(os::wait_until_readable(socket, std::chrono::steady_clock::now() + left),
                                   "mproc::connection::Connection::poll");
}

bool Connection::poll_forever() {
    const int socket = readable_state().socket.get();
    if (ConnectionAccess::holds_read_ahead(*this)) return true;
    return mproc::detail::or_throw(os::wait_until_readable(socket, std::nullopt), "mproc::connection::Connection::poll");
}

int Connection::fileno() const {
    if (closed()) throw_closed();
    return state_->socket.get();
}

void Connection::close() noexcept {
    if (state_) state_->socket.reset();
}

bool Connection::closed() const noexcept { return !state_ || !state_->socket; }
bool Connection::readable() const noexcept { return !closed() && state_->readable; }
bool Connection::writable() const noexcept { return !closed() && state_->writable; }

std::pair<Connection, Connection> Pipe(bool duplex) {
    auto [first, second] = mproc::detail::or_throw(os::stream_socket_pair(), "mproc::connection::Pipe");
    if (duplex)
        return {ConnectionAccess::adopt(std::move(first), true, true),
                ConnectionAccess::adopt(std::move(second), true, true)};
    // One way, as Python's os.pipe(): the reader cannot send, the writer cannot receive.
    mproc::detail::or_throw(os::shut_down(first.get(), false), "mproc::connection::Pipe");
    mproc::detail::or_throw(os::shut_down(second.get(), true), "mproc::connection::Pipe");
    return {ConnectionAccess::adopt(std::move(first), true, false), ConnectionAccess::adopt(std::move(second), false, true)};
}

}  // namespace mproc::connection

namespace mproc {

void Codec<connection::Connection>::encode(Writer& out, const connection::Connection& connection) {
    if (connection.closed()) throw SerializationError("mproc: cannot send a closed mproc::connection::Connection");
    out.write_value(out.attach_fd(connection.fileno()));
    const auto directions = static_cast<std::uint8_t>((connection.readable() ? 1 : 0) | (connection.writable() ? 2 : 0));
    out.write_value(directions);
}

connection::Connection Codec<connection::Connection>::decode(Reader& in) {
    const int borrowed = in.fd(in.read_value<std::uint32_t>());
    const auto directions = in.read_value<std::uint8_t>();
    if (directions == 0 || directions > 3) in.fail("invalid Connection directions");
    auto copy = detail::or_throw(os::duplicate_fd_cloexec(borrowed), "fcntl(F_DUPFD_CLOEXEC) of a received Connection");
    return connection::detail::ConnectionAccess::adopt(std::move(copy), (directions & 1) != 0, (directions & 2) != 0);
}

}  // namespace mproc
