// The manager's wire format (internal to mproc): the requests a proxy sends to a Manager's server
// and the replies it gets, over an authenticated mproc::connection::Connection. This file is the
// one home of that format; the server (src/manager/) and the proxies (manager_proxy.hpp) both
// use it.
//
// A request is one message:
//   hello   op, client token                 first on every connection: who the client is
//   create  op, caller, type name, the object's initial value
//   share   op, caller, type name, object name, the initial value: the object of that name,
//           created by the first such request (from its initial value) and kept by the server
//   call    op, caller, object id, type name, method name, the arguments
//   incref  op, object id                    the client holds one more reference
//   decref  op, object id                    one less (no reply: sent from destructors)
//   shutdown op                              the server ends once it has replied
//   channel op                               on a Unix socket: the reply is followed by a
//                                            message carrying a Pipe end (mproc/pipe.hpp), over
//                                            which every later request and reply of this
//                                            connection travels, each as a std::vector<std::byte>
// and every request but decref gets one reply: ReplyStatus::value and the result (for create,
// the new object's id), or ReplyStatus::exception and the exception (detail/task.hpp's format).
//
// The client token names a client process (a random number each process draws), the caller a
// thread of it: a Lock is held by a client, an RLock by a caller. Objects are named by their
// type's registered name and their methods by name, never by code addresses, so that a remote
// manager may be another program built from the same sources.
//
// The server decodes requests only after the authkey handshake, refuses messages over
// max_request_bytes before reading them, and answers a malformed request with an exception
// reply (decode_request throws SerializationError), never by crashing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <mproc/serialize.hpp>

namespace mproc::detail::manager {

enum class Op : std::uint8_t {
    hello = 1,
    create = 2,
    call = 3,
    incref = 4,
    decref = 5,
    share = 6,
    shutdown = 7,
    channel = 8,
};

using ObjectId = std::uint64_t;

// The longest request the server reads, and the longest reply a proxy reads.
inline constexpr std::size_t max_request_bytes = std::size_t{256} << 20;
inline constexpr std::size_t max_reply_bytes = std::size_t{1} << 30;
// Type and method names are short; a longer one is malformed.
inline constexpr std::size_t max_name_bytes = 512;

// A decoded request. `arguments` points into the message it was decoded from.
struct Request {
    Op op{};
    std::uint64_t token = 0;  // hello
    std::uint64_t thread = 0; // create, call
    ObjectId id = 0;          // call, incref, decref
    std::string type;         // create, share, call
    std::string name;         // share
    std::string method;       // call
    std::span<const std::byte> arguments;  // create and share (the initial value), call
};

inline void encode_name(Writer& out, std::string_view name) {
    out.write_value(static_cast<std::uint64_t>(name.size()));
    out.write(name.data(), name.size());
}

inline std::string decode_name(Reader& in) {
    const std::size_t size = in.read_length(1);
    if (size == 0 || size > max_name_bytes) in.fail("a type, object or method name of " + std::to_string(size) + " bytes");
    const auto bytes = in.take(size);
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

inline void encode_hello(Writer& out, std::uint64_t token) {
    out.write_value(Op::hello);
    out.write_value(token);
}

// The head of a create request; the initial value is encoded after it.
inline void encode_create_head(Writer& out, std::uint64_t thread, std::string_view type) {
    out.write_value(Op::create);
    out.write_value(thread);
    encode_name(out, type);
}

// The head of a share request; the initial value is encoded after it.
inline void encode_share_head(Writer& out, std::uint64_t thread, std::string_view type, std::string_view name) {
    out.write_value(Op::share);
    out.write_value(thread);
    encode_name(out, type);
    encode_name(out, name);
}

// The head of a call request; the arguments are encoded after it.
inline void encode_call_head(Writer& out, std::uint64_t thread, ObjectId id, std::string_view type,
                             std::string_view method) {
    out.write_value(Op::call);
    out.write_value(thread);
    out.write_value(id);
    encode_name(out, type);
    encode_name(out, method);
}

inline void encode_reference(Writer& out, Op op, ObjectId id) {
    out.write_value(op);
    out.write_value(id);
}

// Decodes a request; SerializationError if `bytes` are not one.
inline Request decode_request(std::span<const std::byte> bytes) {
    Reader in(bytes);
    Request request;
    request.op = in.read_value<Op>();
    switch (request.op) {
        case Op::hello: request.token = in.read_value<std::uint64_t>(); break;
        case Op::create:
            request.thread = in.read_value<std::uint64_t>();
            request.type = decode_name(in);
            request.arguments = in.take(in.remaining());
            break;
        case Op::share:
            request.thread = in.read_value<std::uint64_t>();
            request.type = decode_name(in);
            request.name = decode_name(in);
            request.arguments = in.take(in.remaining());
            break;
        case Op::call:
            request.thread = in.read_value<std::uint64_t>();
            request.id = in.read_value<ObjectId>();
            request.type = decode_name(in);
            request.method = decode_name(in);
            request.arguments = in.take(in.remaining());
            break;
        case Op::incref:
        case Op::decref: request.id = in.read_value<ObjectId>(); break;
        case Op::shutdown:
        case Op::channel: break;
        default: in.fail("unknown manager request " + std::to_string(static_cast<unsigned>(request.op)));
    }
    if (!in.at_end()) in.fail("bytes left after the manager request");
    return request;
}

}  // namespace mproc::detail::manager
