// A Manager's server: the objects it holds and what it does with each request (server.cpp), and
// the loop that serves connections, one thread per connection as Python's (serve.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <mproc/detail/manager_served.hpp>
#include <mproc/detail/manager_wire.hpp>
#include <mproc/serialize.hpp>

namespace mproc::manager_server {

using detail::manager::ObjectId;
using detail::manager::ServedType;

// What the server holds: objects by id, and for each client process the references it holds and
// how many connections it has open. Thread safety: any thread (one per connection).
class Objects {
public:
    // `allow`: which requests may run on an object of a registered type: `op` is create, share or
    // call (all when empty; the fuzzer refuses the calls that can block, as a lock's acquire).
    using Allow = std::function<bool(const ServedType& type, detail::manager::Op op)>;
    explicit Objects(Allow allow = {}) : allow_(std::move(allow)) {}

    // One connection's side of the conversation: its client, once it has said hello.
    struct Session {
        std::uint64_t client = 0;
        bool greeted = false;
        std::function<bool()> gone;  // whether the connection has closed (for calls that block)
        bool shutdown_asked = false;  // the server is to end once the reply has gone
        bool channel_asked = false;   // the connection moves to a Pipe once the reply has gone
    };

    // Handles one request of `session`; returns whether it gets a reply, written to `reply`.
    // Never throws: a malformed or failing request gets an exception reply.
    bool handle(Session& session, std::span<const std::byte> request, Writer& reply);
    // A connection of `session` closed: when it was its client's last, the client's references
    // are dropped and what it held is released (client_gone).
    void closed(const Session& session);

    // How many objects are alive (for tests).
    std::size_t size() const;

private:
    struct Entry {
        std::shared_ptr<void> object;
        const ServedType* type = nullptr;
        std::mutex calls;  // one call at a time, for a serialized type
        std::uint64_t references = 0;
    };
    struct ClientRecord {
        int connections = 0;
        std::unordered_map<ObjectId, std::uint64_t> references;
    };

    void run(Session& session, const detail::manager::Request& request, Writer& reply);
    std::shared_ptr<Entry> find(ObjectId id) const;
    std::shared_ptr<Entry> find_held(ObjectId id) const;  // with mutex_ held
    // Drops `count` references to `id`; with its last, moves the object to `dropped`, to be
    // destroyed once mutex_ is released (an object holding proxies sends decrefs to this server).
    // Called with mutex_ held.
    void drop_references(ObjectId id, std::uint64_t count, std::vector<std::shared_ptr<Entry>>& dropped);

    Allow allow_;
    mutable std::mutex mutex_;
    std::unordered_map<ObjectId, std::shared_ptr<Entry>> entries_;
    std::unordered_map<std::uint64_t, ClientRecord> clients_;
    ObjectId next_id_ = 1;
    // Objects asked for by name (Manager::named): each holds one reference of the server's own,
    // so that it lives as long as the server, as the object of a Python manager's registered
    // callable does.
    std::unordered_map<std::string, ObjectId> names_;
};

}  // namespace mproc::manager_server
