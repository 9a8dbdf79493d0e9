// A Manager's server process (serve.cpp) and how its owner tells it where to listen.
#pragma once

#include <cstdint>
#include <string>

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

// The server's Process target: listens at `where` with `authkey` (empty: none), tells `owner` its
// address (a value reply with a ServerAddress, or the exception that kept it from listening), then
// serves until `owner` sends anything or closes. Never returns.
[[noreturn]] void serve(connection::Connection owner, ServerAddress where, std::string authkey);

}  // namespace mproc::manager_server
