// A Manager's server process: listens, and serves each connection on a thread of its own, as
// Python's. It ends when its owner says so or dies (a Process never outlives its parent), or when
// a client asks it to (Manager::shutdown_server).
#include "manager/serve.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include <mproc/detail/task.hpp>
#include <mproc/pipe.hpp>

#include "connection/connection_state.hpp"
#include "manager/link.hpp"
#include "manager/server.hpp"
#include "manager/sync_objects.hpp"

namespace mproc::manager_server {
namespace {

// Ends the server's process: its socket file removed, its output flushed. Threads may still be
// serving connections: leave without running destructors under them.
[[noreturn]] void end_serving(const connection::Address& address) {
    if (address.family() == connection::Family::unix_socket && !address.abstract()) {
        std::error_code ignored;
        std::filesystem::remove(address.path(), ignored);
    }
    std::fflush(nullptr);
    std::_Exit(0);
}

// One client connection (link.hpp): a socket, or the Pipe the client asked for once it has.
class ServedChannel {
public:
    explicit ServedChannel(connection::Connection socket) { link_.use_socket(std::move(socket)); }

    // The next request; throws when the client is gone or sent more than a request may hold.
    std::vector<std::byte> receive() { return link_.receive(detail::manager::max_request_bytes); }
    void send(std::span<const std::byte> reply) { link_.send(reply); }
    // A client sends nothing while it waits for a reply: anything to read then is its end.
    bool client_gone() { return link_.poll(); }
    // Answers the client's Op::channel with `reply`, then moves the connection to a new Pipe whose
    // other end goes to the client over the socket. Where no Pipe can be made (shared memory
    // refused, as under a memory limit) or none can be sent (TCP carries no descriptors), or the
    // connection is on its rings already, the answer is an error and the connection stays.
    void move_to_ring(std::span<const std::byte> reply) {
        std::optional<std::pair<Ring, Ring>> pipe;
        try {
            if (link_.ring || !connection::detail::ConnectionAccess::state(link_.socket).can_pass_fds)
                throw StateError("mproc::Manager: this connection cannot move to shared-memory rings");
            pipe = mproc::Pipe<std::vector<std::byte>>(true, {.buffer_bytes = ring_bytes, .spill_keep_bytes = spill_keep});
        } catch (const std::exception&) {
            std::vector<std::byte> refusal;
            Writer out(refusal);
            detail::encode_current_exception(out);
            send(refusal);
            return;
        }
        link_.socket.send_bytes(reply);
        link_.socket.send(pipe->second);
        pipe->second.close();
        link_.use_ring(std::move(pipe->first));
    }

private:
    using Ring = detail::manager::Link::Ring;
    // Most requests and replies are a few dozen bytes; a larger one travels beside the ring, whose
    // memory is kept up to spill_keep for the next one: a server has a connection per client
    // thread, each would otherwise keep what its largest message took.
    static constexpr std::size_t ring_bytes = 64 * 1024;
    static constexpr std::size_t spill_keep = 1 << 20;
    detail::manager::Link link_;
};

void serve_connection(const std::shared_ptr<Objects>& objects, connection::Connection connection,
                      const connection::Address& address) {
    ServedChannel channel(std::move(connection));
    Objects::Session session;
    session.gone = [&channel] { return channel.client_gone(); };
    for (;;) {
        std::vector<std::byte> request;
        try {
            request = channel.receive();
        } catch (...) {
            break;  // the client is gone, or sent more than a request may hold
        }
        std::vector<std::byte> reply;
        Writer out(reply);
        if (!objects->handle(session, request, out)) continue;
        try {
            if (session.channel_asked) {
                session.channel_asked = false;
                channel.move_to_ring(reply);
            } else {
                channel.send(reply);
            }
        } catch (...) {
            break;
        }
        if (session.shutdown_asked) end_serving(address);
    }
    objects->closed(session);
}

}  // namespace

std::unique_ptr<connection::Listener> listen(const ServerAddress& where, const std::string& authkey) {
    connection::ListenerOptions options;
    options.backlog = 128;
    if (authkey.empty())
        options.authkey = connection::no_authkey;
    else
        options.authkey = authkey;
    if (where.place.empty() && !where.tcp) return std::make_unique<connection::Listener>(std::move(options));
    return std::make_unique<connection::Listener>(to_address(where), std::move(options));
}

void serve_forever(connection::Listener& listener) {
    register_sync_objects();
    auto objects = std::make_shared<Objects>();
    for (;;) {
        connection::Connection connection;
        try {
            connection = listener.accept();
        } catch (const AuthenticationError&) {
            continue;  // a client without the key: refused, the others go on
        } catch (const Error&) {
            continue;  // a client gone during its handshake
        }
        std::thread(serve_connection, objects, std::move(connection), std::cref(listener.address())).detach();
    }
}

void serve(connection::Connection owner, ServerAddress where, std::string authkey, std::vector<std::byte> initializer) {
    std::vector<std::byte> ready;
    Writer out(ready);
    out.write_value(false);  // the initializer did not throw
    if (!initializer.empty()) {
        Reader call(initializer);
        std::vector<std::byte> reply;
        Writer reply_out(reply);
        detail::run_packed_call(call, reply_out);
        if (Reader status(reply); status.read_value<detail::ReplyStatus>() != detail::ReplyStatus::value) {
            out.truncate(0);
            out.write_value(true);
            out.write(reply.data(), reply.size());
            owner.send_bytes(ready);
            std::_Exit(1);
        }
    }
    std::unique_ptr<connection::Listener> listener;
    try {
        listener = listen(where, authkey);
        out.write_value(detail::ReplyStatus::value);
        encode(out, from_address(listener->address()));
    } catch (...) {
        out.truncate(sizeof(bool));
        detail::encode_current_exception(out);
        owner.send_bytes(ready);
        std::_Exit(1);
    }
    owner.send_bytes(ready);

    std::thread([&listener] { serve_forever(*listener); }).detach();

    try {
        (void)owner.recv_bytes();  // shutdown, or the owner's end closed
    } catch (...) {
    }
    end_serving(listener->address());
}

connection::Address to_address(const ServerAddress& where) {
    if (where.tcp) return connection::Address(where.place, where.port);
    return connection::Address(where.place);
}

ServerAddress from_address(const connection::Address& address) {
    if (address.family() == connection::Family::tcp) return {true, address.host(), address.port()};
    return {false, address.path(), 0};
}

}  // namespace mproc::manager_server
