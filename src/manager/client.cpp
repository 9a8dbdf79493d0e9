// The client side of a Manager: connections to its server, shared by the proxies of a process, and
// the references proxies hold (see detail/manager_client.hpp).
#include <mproc/detail/manager_client.hpp>

#include <array>
#include <cstring>
#include <map>

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

Client::Client(connection::Address address, std::string authkey)
    : address_(std::move(address)), authkey_(std::move(authkey)) {}

std::uint64_t Client::caller_thread() noexcept { return static_cast<std::uint64_t>(os::this_thread_id()); }

connection::Connection Client::take() {
    {
        std::lock_guard lock(mutex_);
        if (pid_ != os::this_process_id()) {
            // Inherited through fork: the parent's. Closing our copies leaves its sockets open.
            idle_.clear();
            pid_ = os::this_process_id();
        }
        if (!idle_.empty()) {
            connection::Connection connection = std::move(idle_.back());
            idle_.pop_back();
            return connection;
        }
    }
    connection::ClientOptions options;
    options.family = address_.family();
    if (authkey_.empty())
        options.authkey = connection::no_authkey;
    else
        options.authkey = authkey_;
    connection::Connection connection;
    try {
        connection = connection::Client(address_, std::move(options));
        std::vector<std::byte> hello;
        Writer out(hello);
        encode_hello(out, client_token());
        connection.send_bytes(hello);
        const std::vector<std::byte> reply = connection.recv_bytes(max_reply_bytes);
        Reader in(reply);
        unpack_reply<void>(in);
    } catch (const AuthenticationError&) {
        throw;
    } catch (const OSError& e) {
        throw_gone(address_, e);
    } catch (const EOFError& e) {
        throw_gone(address_, e);
    }
    return connection;
}

void Client::give_back(connection::Connection connection) {
    std::lock_guard lock(mutex_);
    if (pid_ == os::this_process_id()) idle_.push_back(std::move(connection));
}

std::vector<std::byte> Client::round_trip(std::span<const std::byte> request) {
    connection::Connection connection = take();
    std::vector<std::byte> reply;
    try {
        connection.send_bytes(request);
        reply = connection.recv_bytes(max_reply_bytes);
    } catch (const OSError& e) {
        throw_gone(address_, e);
    } catch (const EOFError& e) {
        throw_gone(address_, e);
    }
    give_back(std::move(connection));
    return reply;
}

void Client::check() { give_back(take()); }

void Client::send_without_reply(std::span<const std::byte> request) noexcept {
    try {
        connection::Connection connection = take();
        connection.send_bytes(request);
        give_back(std::move(connection));
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
