// The client side of a Manager (internal to mproc): the connections a process keeps to a manager's
// server, and the state every proxy handle shares.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mproc/connection.hpp>
#include <mproc/detail/manager_wire.hpp>
#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

namespace mproc::detail::manager {

// A process's way to one manager: idle authenticated connections, taken by one call at a time
// (several threads call at once on connections of their own, so a call blocked at the server, as
// Lock::acquire, holds up no other). One per manager address and authkey in a process, shared by
// its proxies. After a fork, the child opens connections of its own. Defined in
// src/manager/client.cpp.
class Client {
public:
    // The Client of this process for the manager at `address`.
    static std::shared_ptr<Client> of(const connection::Address& address, const std::string& authkey);

    Client(connection::Address address, std::string authkey);

    // Sends `request` and returns the reply's bytes. EOFError when the manager cannot be reached
    // or goes away during the call ("the manager at ... is gone"); AuthenticationError for a
    // wrong authkey.
    std::vector<std::byte> round_trip(std::span<const std::byte> request);
    // Sends a request that gets no reply (decref); failures are ignored: the manager is gone, and
    // its objects with it.
    void send_without_reply(std::span<const std::byte> request) noexcept;
    // Connects (or takes an idle connection): the errors of round_trip when that fails.
    void check();

    const connection::Address& address() const noexcept { return address_; }
    const std::string& authkey() const noexcept { return authkey_; }

    // The calling thread's number, sent with each call (an RLock is held by a thread).
    static std::uint64_t caller_thread() noexcept;

    ~Client();

    struct Channel;  // one connection to the server: a socket, or rings in shared memory

private:
    std::unique_ptr<Channel> take();
    void give_back(std::unique_ptr<Channel> channel);

    connection::Address address_;
    std::string authkey_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<Channel>> idle_;
    int pid_ = 0;  // the process the idle connections belong to
};

// Runs a request and decodes its reply as an R (or throws the exception it carries).
template <class R>
R run(Client& client, std::span<const std::byte> request) {
    const std::vector<std::byte> reply = client.round_trip(request);
    Reader in(reply);
    if constexpr (std::is_void_v<R>) {
        unpack_reply<void>(in);
    } else {
        R result = unpack_reply<R>(in);
        if (!in.at_end()) in.fail("bytes left after the manager's reply");
        return result;
    }
}

// What the copies of one proxy share: the object's id and type, and the reference this process
// holds at the server (released when the last copy goes). A proxy decoded in another process, or
// inherited through fork, takes its own reference on first use. Defined in src/manager/client.cpp.
class ProxyCore {
public:
    // `holds_reference`: the object was just created by this process, which holds its reference.
    ProxyCore(std::shared_ptr<Client> client, ObjectId id, std::string type, bool holds_reference);
    ProxyCore(const ProxyCore&) = delete;
    ProxyCore& operator=(const ProxyCore&) = delete;
    ~ProxyCore();

    // Calls `method` with `args` (encoded as the exact types the served method takes).
    template <class R, class... Args>
    R call(std::string_view method, const Args&... args) {
        ensure_reference();
        std::vector<std::byte> request;
        Writer out(request);
        encode_call_head(out, Client::caller_thread(), id_, type_, method);
        (encode(out, args), ...);
        return run<R>(*client_, request);
    }

    Client& client() const noexcept { return *client_; }
    ObjectId id() const noexcept { return id_; }
    const std::string& type() const noexcept { return type_; }
    // Takes this process's reference to the object, unless it holds one.
    void ensure_reference();

private:

    std::shared_ptr<Client> client_;
    ObjectId id_;
    std::string type_;
    std::mutex mutex_;
    int reference_pid_ = 0;  // the process holding a reference through this core; 0: none
};

// Creates an object of the served type `type` at the manager, from `init`; returns its core.
// With a name: the object of that name, created from `init` by the first such call.
template <class Init>
std::shared_ptr<ProxyCore> create(const std::shared_ptr<Client>& client, const std::string& type, const Init& init,
                                  const std::string& name = {}) {
    std::vector<std::byte> request;
    Writer out(request);
    if (name.empty())
        encode_create_head(out, Client::caller_thread(), type);
    else
        encode_share_head(out, Client::caller_thread(), type, name);
    encode(out, init);
    const auto id = run<ObjectId>(*client, request);
    return std::make_shared<ProxyCore>(client, id, type, true);
}

// A proxy crosses to another process as the manager's address, its authkey, the object's id and
// type: the receiver connects on first use. Defined in src/manager/client.cpp.
void encode_proxy(Writer& out, const ProxyCore& core);
std::shared_ptr<ProxyCore> decode_proxy(Reader& in);

}  // namespace mproc::detail::manager
