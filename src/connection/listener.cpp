// Listener and Client (mproc/connection.hpp): sockets from src/os/socket, and the authkey
// handshake (connection/handshake.hpp) run over the new Connection before it is handed out.
#include <mproc/connection.hpp>

#include <unistd.h>

#include <array>
#include <mutex>

#include "connection/connection_state.hpp"
#include "connection/handshake.hpp"
#include "os/io.hpp"
#include "os/socket.hpp"
#include "os_error.hpp"

namespace mproc::connection {

namespace {

using detail::ConnectionAccess;

// The handshake speaks through the Connection's own framing.
class ConnectionChannel final : public handshake::Channel {
public:
    explicit ConnectionChannel(Connection& connection) : connection_(connection) {}
    void send(std::span<const std::byte> message) override { connection_.send_bytes(message); }
    std::vector<std::byte> receive(std::size_t maxlength) override { return connection_.recv_bytes(maxlength); }

private:
    Connection& connection_;
};

enum class Role { server, client };

// Runs the handshake when there is a key: the server (Listener) challenges first, then answers
// the client's challenge; the client does the opposite. A connection that fails it is closed.
Connection authenticated(Connection connection, const Authkey& authkey, Role role) {
    if (!authkey.has_key()) return connection;
    ConnectionChannel channel(connection);
    try {
        if (role == Role::server) handshake::deliver_challenge(channel, authkey.bytes());
        handshake::answer_challenge(channel, authkey.bytes());
        if (role == Role::client) handshake::deliver_challenge(channel, authkey.bytes());
    } catch (...) {
        connection.close();
        throw;
    }
    return connection;
}

Family family_of(const Address& address, std::optional<Family> family, const char* who) {
    if (family && *family != address.family())
        throw StateError(std::string("mproc::connection::") + who + ": the family does not match the address " +
                         address.to_string());
    return address.family();
}

// TCP is reachable by anyone who can reach the port: without a key, only an explicit opt-out.
void check_authkey_policy(Family family, const Authkey& authkey, const char* who) {
    if (family == Family::tcp && !authkey.has_key() && !authkey.explicitly_none())
        throw StateError(std::string("mproc::connection::") + who +
                         ": TCP without an authkey lets anyone who can reach the port connect; give "
                         ".authkey = \"...\", or .authkey = mproc::connection::no_authkey to accept that");
}

Address address_of(const os::SocketAddress& address) {
    if (address.is_unix) return Address(address.path);
    return Address(address.host, address.port);
}

// An abstract name no one else uses: nothing to remove afterwards, nothing left after a crash.
std::string arbitrary_unix_name() {
    std::array<std::byte, 8> random;
    mproc::detail::or_throw(os::fill_random(random), "getrandom for a Listener's name");
    std::string name("\0mproc-listener-", 16);
    name += std::to_string(::getpid()) + "-";
    static constexpr char hex[] = "0123456789abcdef";
    for (std::byte b : random) {
        name += hex[static_cast<unsigned>(b) >> 4];
        name += hex[static_cast<unsigned>(b) & 15];
    }
    return name;
}

}  // namespace

struct Listener::State {
    os::UniqueFd socket;
    Address address = Address(std::string());
    Authkey authkey;
    std::optional<Address> last_accepted;
    std::mutex mutex;  // last_accepted
    bool remove_file = false;  // a Unix path we bound
    pid_t creator = ::getpid();
};

Listener::Listener(Address address, ListenerOptions options) : state_(std::make_unique<State>()) {
    const Family family = family_of(address, options.family, "Listener");
    check_authkey_policy(family, options.authkey, "Listener");
    const int backlog = std::max(options.backlog, 0);
    auto& state = *state_;
    if (family == Family::unix_socket) {
        state.socket = mproc::detail::or_throw(os::listen_unix(address.path(), backlog),
                                               "mproc::connection::Listener at " + address.to_string());
        state.remove_file = !address.abstract();
        state.address = std::move(address);
    } else {
        state.socket = mproc::detail::or_throw(os::listen_tcp(address.host(), address.port(), backlog),
                                               "mproc::connection::Listener at " + address.to_string());
        const auto bound = mproc::detail::or_throw(os::local_address(state.socket.get()), "mproc::connection::Listener");
        state.address = Address(address.host(), bound.port);
    }
    state.authkey = std::move(options.authkey);
}

namespace {
Address arbitrary_address(std::optional<Family> family) {
    if (family.value_or(Family::unix_socket) == Family::tcp) return Address("127.0.0.1", 0);
    return Address(arbitrary_unix_name());
}
}  // namespace

Listener::Listener(ListenerOptions options) : Listener(arbitrary_address(options.family), std::move(options)) {}

Listener::Listener(Listener&&) noexcept = default;
Listener& Listener::operator=(Listener&& other) noexcept {
    if (this != &other) {
        close();
        state_ = std::move(other.state_);
    }
    return *this;
}
Listener::~Listener() { close(); }

Connection Listener::accept() {
    if (closed()) throw OSError("mproc::connection::Listener::accept: listener is closed", EBADF);
    auto& state = *state_;
    auto [socket, peer] = mproc::detail::or_throw(os::accept_connection(state.socket.get()),
                                                  "mproc::connection::Listener::accept");
    {
        std::lock_guard lock(state.mutex);
        state.last_accepted = address_of(peer);
    }
    return authenticated(ConnectionAccess::adopt(std::move(socket), true, true), state.authkey, Role::server);
}

void Listener::close() noexcept {
    if (!state_ || !state_->socket) return;
    state_->socket.reset();
    // Only the creator removes the file, as Python's Finalize: a forked copy must not pull the
    // socket from under the process that listens on it.
    if (state_->remove_file && state_->creator == ::getpid()) (void)os::unlink_path(state_->address.path());
}

bool Listener::closed() const noexcept { return !state_ || !state_->socket; }

const Address& Listener::address() const noexcept { return state_->address; }

std::optional<Address> Listener::last_accepted() const {
    std::lock_guard lock(state_->mutex);
    return state_->last_accepted;
}

Connection Client(const Address& address, ClientOptions options) {
    const Family family = family_of(address, options.family, "Client");
    check_authkey_policy(family, options.authkey, "Client");
    auto socket = family == Family::unix_socket
                      ? mproc::detail::or_throw(os::connect_unix(address.path()),
                                                "mproc::connection::Client to " + address.to_string())
                      : mproc::detail::or_throw(os::connect_tcp(address.host(), address.port()),
                                                "mproc::connection::Client to " + address.to_string());
    return authenticated(ConnectionAccess::adopt(std::move(socket), true, true), options.authkey, Role::client);
}

}  // namespace mproc::connection
