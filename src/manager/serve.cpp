// A Manager's server process: listens, and serves each connection on a thread of its own, as
// Python's. It ends when its owner says so, or dies (a Process never outlives its parent).
#include "manager/serve.hpp"

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>
#include <vector>

#include <mproc/detail/task.hpp>

#include "manager/server.hpp"
#include "manager/sync_objects.hpp"

namespace mproc::manager_server {
namespace {

void serve_connection(const std::shared_ptr<Objects>& objects, connection::Connection connection) {
    Objects::Session session;
    // A client sends nothing while it waits for a reply: anything readable then is its end.
    session.gone = [&connection] { return connection.poll(); };
    for (;;) {
        std::vector<std::byte> request;
        try {
            request = connection.recv_bytes(detail::manager::max_request_bytes);
        } catch (...) {
            break;  // the client is gone, or sent more than a request may hold
        }
        std::vector<std::byte> reply;
        Writer out(reply);
        if (!objects->handle(session, request, out)) continue;
        try {
            connection.send_bytes(reply);
        } catch (...) {
            break;
        }
    }
    objects->closed(session);
}

}  // namespace

void serve(connection::Connection owner, ServerAddress where, std::string authkey) {
    register_sync_objects();
    std::vector<std::byte> ready;
    Writer out(ready);
    std::unique_ptr<connection::Listener> listener;
    try {
        connection::ListenerOptions options;
        options.backlog = 128;
        if (authkey.empty())
            options.authkey = connection::no_authkey;
        else
            options.authkey = authkey;
        if (where.place.empty() && !where.tcp) {
            listener = std::make_unique<connection::Listener>(std::move(options));
        } else {
            listener = std::make_unique<connection::Listener>(to_address(where), std::move(options));
        }
        out.write_value(detail::ReplyStatus::value);
        encode(out, from_address(listener->address()));
    } catch (...) {
        out.truncate(0);
        detail::encode_current_exception(out);
        owner.send_bytes(ready);
        std::_Exit(1);
    }
    owner.send_bytes(ready);

    auto objects = std::make_shared<Objects>();
    std::thread([&listener, objects] {
        for (;;) {
            connection::Connection connection;
            try {
                connection = listener->accept();
            } catch (const AuthenticationError&) {
                continue;  // a client without the key: refused, the others go on
            } catch (const Error&) {
                continue;  // a client gone during its handshake
            }
            std::thread(serve_connection, objects, std::move(connection)).detach();
        }
    }).detach();

    try {
        (void)owner.recv_bytes();  // shutdown, or the owner's end closed
    } catch (...) {
    }
    const connection::Address& address = listener->address();
    if (address.family() == connection::Family::unix_socket && !address.abstract()) {
        std::error_code ignored;
        std::filesystem::remove(address.path(), ignored);
    }
    // Threads still serve connections: leave without running destructors under them.
    std::_Exit(0);
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
