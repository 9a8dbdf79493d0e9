// A Manager's server process (serve.cpp) and how its owner tells it where to listen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <mproc/connection.hpp>

namespace mproc::manager_server {

// An address, as it travels to the server process and back.
struct ServerAddress {
    bool tcp = false;
    std::string place;  // the path or abstract name; the host for TCP; empty: one of its own
    std::uint16_t port = 0;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(tcp, place, port);
    }
};
connection::Address to_address(const ServerAddress& where);
ServerAddress from_address(const connection::Address& address);

// A listener at `where` (no place: an abstract Unix name of its own) with `authkey` (empty:
// none), for the server. Throws what keeps it from listening.
std::unique_ptr<connection::Listener> listen(const ServerAddress& where, const std::string& authkey);

// Serves every client of `listener`, each connection on a thread of its own, in the calling
// thread. Never returns.
[[noreturn]] void serve_forever(connection::Listener& listener);

// The server's Process target: runs `initializer` (a packed mproc::Call; empty: none), listens at
// `where` with `authkey`, tells `owner` (a bool, whether the initializer threw, then a reply: a
// value with the ServerAddress it listens at, or the exception that stopped it), then serves
// until `owner` sends anything or closes. Never returns.
[[noreturn]] void serve(connection::Connection owner, ServerAddress where, std::string authkey,
                        std::vector<std::byte> initializer);

}  // namespace mproc::manager_server
