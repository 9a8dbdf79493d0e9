// The client side of a Manager: connections to its server, shared by the proxies of a process, and
// the references proxies hold (see detail/manager_client.hpp).
#include <mproc/detail/manager_client.hpp>

#include <array>
#include <cstring>
#include <map>
#include <optional>

#include <mproc/pipe.hpp>

#include "manager/link.hpp"
#include "os/child_process.hpp"
#include "os/io.hpp"
#include "os/process_ids.hpp"
#include "os_error.hpp"

namespace mproc::detail::manager {
namespace {

// This process's client token: drawn again in a forked child, which is another client.
std::uint64_t client_token() {
    static std::mutex mutex;
    static int token_pid = 0;
    static std::uint64_t token = 0;
    std::lock_guard lock(mutex);
    if (token_pid != os::this_process_id()) {
        std::array<std::byte, sizeof token> random;
        or_throw(os::fill_random(random), "getrandom for a manager client's token");
        std::memcpy(&token, random.data(), sizeof token);
        token_pid = os::this_process_id();
    }
    return token;
}

[[noreturn]] void throw_gone(const connection::Address& address, const std::exception& why) {
    throw EOFError("mproc: the manager at " + address.to_string() + " is gone (" + why.what() + ")");
}

}  // namespace

std::shared_ptr<Client> Client::of(const connection::Address& address, const std::string& authkey) {
    static std::mutex mutex;
    static std::map<std::string, std::weak_ptr<Client>> clients;
    std::string key = address.to_string();
    key.push_back('\0');
    key += authkey;
    std::lock_guard lock(mutex);
    auto& slot = clients[key];
    if (auto client = slot.lock()) return client;
    auto client = std::make_shared<Client>(address, authkey);
    slot = client;
    return client;
}

// One connection to the server (link.hpp). On a Unix socket (the server is on this host), it asks
// for a Pipe (Op::channel) after its hello; over TCP it stays a socket.
//
// Every channel of the process, idle or in use by a call, is on one list, and a forked child
// closes its copies of them all at once, as Python drops its manager connections after a fork. A
// child that never uses the manager must not keep its parent's connections open: the server would
// not see the parent die, and what the parent held (a Lock) would stay held until the child ends.
struct Client::Channel {
    Link link;  // changed only under channels_mutex, which a fork waits for: a child never closes
                // a half-assigned connection

    Channel();
    ~Channel();
    Channel(const Channel&) = delete;
    Channel& operator=(const Channel&) = delete;

    void send(std::span<const std::byte> request) { link.send(request); }
    std::vector<std::byte> receive() { return link.receive(max_reply_bytes); }
    void use_socket(connection::Connection connected);
    void use_ring(Link::Ring received);

    Channel* previous = nullptr;  // the list of every channel, under channels_mutex
    Channel* next = nullptr;
};

namespace {

std::mutex channels_mutex;  // constant-initialized: usable from any static initializer
Client::Channel* first_channel = nullptr;

const bool channels_closed_in_forked_children = [] {
    os::hold_across_fork([] { channels_mutex.lock(); }, [] { channels_mutex.unlock(); });
    // Closing only drops this process's copies: no shared state is written.
    os::at_fork_child([] {
        for (Client::Channel* channel = first_channel; channel; channel = channel->next) channel->link.close();
    });
    return true;
}();

}  // namespace

Client::Channel::Channel() {
    std::lock_guard lock(channels_mutex);
    next = first_channel;
    if (next) next->previous = this;
    first_channel = this;
}

Client::Channel::~Channel() {
    std::lock_guard lock(channels_mutex);
    (previous ? previous->next : first_channel) = next;
    if (next) next->previous = previous;
}

void Client::Channel::use_socket(connection::Connection connected) {
    std::lock_guard lock(channels_mutex);
    link.use_socket(std::move(connected));
}

void Client::Channel::use_ring(Link::Ring received) {
    std::lock_guard lock(channels_mutex);
    link.use_ring(std::move(received));
}

Client::Client(connection::Address address, std::string authkey)
    : address_(std::move(address)), authkey_(std::move(authkey)) {}

Client::~Client() = default;

std::uint64_t Client::caller_thread() noexcept { return static_cast<std::uint64_t>(os::this_thread_id()); }

std::unique_ptr<Client::Channel> Client::take() {
    {
        std::lock_guard lock(mutex_);
        if (pid_ != os::this_process_id()) {
            // Inherited through fork: the parent's, whose copies the fork closed (see Channel).
            idle_.clear();
            pid_ = os::this_process_id();
        }
        if (!idle_.empty()) {
            std::unique_ptr<Channel> channel = std::move(idle_.back());
            idle_.pop_back();
            return channel;
        }
    }
    connection::ClientOptions options;
    options.family = address_.family();
    if (authkey_.empty())
        options.authkey = connection::no_authkey;
    else
        options.authkey = authkey_;
    auto channel = std::make_unique<Channel>();
    try {
        channel->use_socket(connection::Client(address_, std::move(options)));
        const auto ask = [&channel](auto encode_request) {
            std::vector<std::byte> request;
            Writer out(request);
            encode_request(out);
            channel->send(request);
            return channel->receive();
        };
        const std::vector<std::byte> welcome = ask([](Writer& out) { encode_hello(out, client_token()); });
        Reader welcome_in(welcome);
        unpack_reply<void>(welcome_in);
        if (address_.family() == connection::Family::unix_socket) {
            // A lost connection is an error here (below); a refusal in the reply is not: the
            // server could not make a Pipe, and the connection stays a socket.
            const std::vector<std::byte> answer = ask([](Writer& out) { out.write_value(Op::channel); });
            bool ring_offered = true;
            try {
                Reader in(answer);
                unpack_reply<void>(in);
            } catch (const Error&) {
                ring_offered = false;
            }
            if (ring_offered) channel->use_ring(channel->link.socket.recv<Link::Ring>());
        }
    } catch (const AuthenticationError&) {
        throw;
    } catch (const Error& e) {
        throw_gone(address_, e);
    }
    return channel;
}

void Client::give_back(std::unique_ptr<Channel> channel) {
    std::lock_guard lock(mutex_);
    if (pid_ == os::this_process_id()) idle_.push_back(std::move(channel));
}

std::vector<std::byte> Client::round_trip(std::span<const std::byte> request) {
    std::unique_ptr<Channel> channel = take();
    std::vector<std::byte> reply;
    try {
        channel->send(request);
        reply = channel->receive();
    } catch (const OSError& e) {
        throw_gone(address_, e);
    } catch (const EOFError& e) {
        throw_gone(address_, e);
    }
    give_back(std::move(channel));
    return reply;
}

void Client::check() { give_back(take()); }

void Client::send_without_reply(std::span<const std::byte> request) noexcept {
    try {
        std::unique_ptr<Channel> channel = take();
        channel->send(request);
        give_back(std::move(channel));
    } catch (...) {
        // The manager is gone: nothing is left to release.
    }
}

ProxyCore::ProxyCore(std::shared_ptr<Client> client, ObjectId id, std::string type, bool holds_reference)
    : client_(std::move(client)), id_(id), type_(std::move(type)),
      reference_pid_(holds_reference ? os::this_process_id() : 0) {}

ProxyCore::~ProxyCore() {
    if (reference_pid_ != os::this_process_id()) return;
    std::vector<std::byte> request;
    Writer out(request);
    encode_reference(out, Op::decref, id_);
    client_->send_without_reply(request);
}

void ProxyCore::ensure_reference() {
    std::lock_guard lock(mutex_);
    if (reference_pid_ == os::this_process_id()) return;
    std::vector<std::byte> request;
    Writer out(request);
    encode_reference(out, Op::incref, id_);
    run<void>(*client_, request);
    reference_pid_ = os::this_process_id();
}

void encode_proxy(Writer& out, const ProxyCore& core) {
    const connection::Address& address = core.client().address();
    out.write_value(static_cast<std::uint8_t>(address.family()));
    encode(out, address.family() == connection::Family::tcp ? address.host() : address.path());
    out.write_value(address.port());
    encode(out, core.client().authkey());
    out.write_value(core.id());
    encode(out, core.type());
}

std::shared_ptr<ProxyCore> decode_proxy(Reader& in) {
    const auto family = in.read_value<std::uint8_t>();
    auto place = decode<std::string>(in);
    const auto port = in.read_value<std::uint16_t>();
    auto authkey = decode<std::string>(in);
    const auto id = in.read_value<ObjectId>();
    auto type = decode<std::string>(in);
    if (family > static_cast<std::uint8_t>(connection::Family::tcp)) in.fail("a manager proxy's address family");
    connection::Address address = family == static_cast<std::uint8_t>(connection::Family::tcp)
                                      ? connection::Address(std::move(place), port)
                                      : connection::Address(std::move(place));
    auto core = std::make_shared<ProxyCore>(Client::of(address, authkey), id, std::move(type), false);
    // Take the reference now, as Python does on unpickling: the sender may drop its own soon
    // (a proxy stored in a managed container is decoded by the server, which then holds one).
    // If the manager cannot be reached now, the first call says so.
    try {
        core->ensure_reference();
    } catch (const Error&) {
    }
    return core;
}

}  // namespace mproc::detail::manager
