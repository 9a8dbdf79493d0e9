// mproc/connection.hpp: connections over sockets between any two programs, Python's
// multiprocessing.connection (namespace mproc::connection).
//
//   using namespace mproc::connection;
//   Listener listener("/tmp/app.sock", {.authkey = "secret"});   // Python: Listener(address, authkey=...)
//   Connection c = listener.accept();                            // after the authkey handshake
//   Connection d = Client("/tmp/app.sock", {.authkey = "secret"});  // in another program
//   d.send_bytes("hello");                                       // Python: d.send_bytes(b"hello")
//   std::vector<std::byte> message = c.recv_bytes();
//   c.send(std::vector<int>{1, 2, 3});                           // typed, mproc's own encoding
//   auto numbers = d.recv<std::vector<int>>();
//   auto ready = wait({&c, &d}, 1s);                             // Python: connection.wait([c, d], 1)
//
// Addresses (Address), as Python's: a string is a Unix socket, a path in the file system or, when
// it starts with '\0', an abstract name (write it as std::string("\0name", 5) or "\0name"s); a
// host and a port, {"127.0.0.1", 6000}, is TCP over IPv4 (Python's ('127.0.0.1', 6000)).
//
// Wire format: Python's. Every message is a 4-byte big-endian length and the bytes (a length of
// -1 and an 8-byte length for messages over 2^31 - 1 bytes), and the authkey handshake is Python's
// challenge and response: an mproc program and a Python program speak to each other through
// send_bytes/recv_bytes. send/recv of typed values use mproc's encoding (serialize.hpp), not pickle:
// they are for mproc programs on both ends.
//
// Security: with an authkey, both ends prove they know it (HMAC-SHA256 over a fresh random
// challenge each way) before accept() or Client() return, and nothing from the peer is decoded
// before that. The traffic itself is neither encrypted nor authenticated afterwards: see
// docs/connection.md. TCP without an authkey is refused unless you pass `no_authkey`.
//
// wait() takes, as Python's multiprocessing.connection.wait, socket Connections,
// Process::sentinel() and raw descriptors, and also the typed Pipe's mproc::Connection<T> and
// mproc's Queues (Python: a Queue's _reader), which have no descriptor: it watches each of those
// from a thread of its own for the length of the call (see wait()).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <mproc/detail/queue_readiness.hpp>
#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

namespace mproc::connection {

/// The kind of socket an Address names. Python: the family strings 'AF_UNIX' and 'AF_INET'.
enum class Family {
    unix_socket,  ///< AF_UNIX: a path in the file system, or an abstract name
    tcp,          ///< AF_INET: TCP over IPv4
};

/// Where a Listener listens and a Client connects. Python: a str (AF_UNIX) or a (host, port)
/// tuple (AF_INET). Thread safety: a value. Cost: a string.
class Address {
public:
    /// A Unix socket: a path, or an abstract name when `path` starts with '\0' (Linux only, never
    /// in the file system). Python: Listener('/tmp/app.sock'), Listener('\0app').
    Address(std::string path) : path_(std::move(path)) {}
    /// As Address(std::string). Note that a literal "\0name" is empty as a const char*: write
    /// "\0name"s or std::string("\0name", 5) for an abstract name.
    Address(const char* path) : path_(path) {}
    /// TCP over IPv4: a host name or numeric address, and a port (0: any free port, for a
    /// Listener; address() then tells which). StateError for a port outside 0..65535.
    /// Python: ('127.0.0.1', 6000).
    Address(std::string host, int port);

    /// Python: address_type(address).
    Family family() const noexcept { return family_; }
    /// Whether this Unix address is an abstract name (starts with '\0').
    bool abstract() const noexcept { return family_ == Family::unix_socket && !path_.empty() && path_[0] == '\0'; }
    /// The Unix socket's path or abstract name; empty for TCP (and for an unnamed Unix peer).
    const std::string& path() const noexcept { return path_; }
    /// The TCP host; empty for Unix.
    const std::string& host() const noexcept { return host_; }
    /// The TCP port; 0 for Unix.
    std::uint16_t port() const noexcept { return port_; }
    /// For messages: the path ("@name" for an abstract name, '\0' shown as '@'), or "host:port".
    std::string to_string() const;

    friend bool operator==(const Address&, const Address&) = default;

private:
    Family family_ = Family::unix_socket;
    std::string path_;
    std::string host_;
    std::uint16_t port_ = 0;
};

/// Explicitly no authentication, where mproc would otherwise refuse (TCP): see Authkey.
struct NoAuthkey {
    explicit constexpr NoAuthkey() = default;
};
/// Pass as `.authkey = mproc::connection::no_authkey` to use TCP without authentication.
inline constexpr NoAuthkey no_authkey{};

/// The secret both ends of a connection must share. Python: the authkey bytes argument.
///   - not given (the default): Unix sockets connect without authentication, as in Python; TCP is
///     refused (StateError), since anyone who can reach the port could connect;
///   - a key (any bytes, not empty): the handshake runs, and a peer without the key gets
///     AuthenticationError on both sides;
///   - no_authkey: no authentication, also over TCP.
/// An empty key is StateError (Python's Listener would take b'' as "no authentication" while its
/// Client would not). Thread safety: a value. Cost: a string.
class Authkey {
public:
    /// Not given: see above.
    Authkey() = default;
    /// Explicitly none: no handshake, also over TCP.
    Authkey(NoAuthkey) : state_(State::none) {}
    /// A key: its bytes. StateError if empty.
    Authkey(std::string key);
    /// As Authkey(std::string).
    Authkey(const char* key) : Authkey(std::string(key)) {}
    /// As Authkey(std::string), from raw bytes.
    Authkey(std::span<const std::byte> key) : Authkey(std::string(reinterpret_cast<const char*>(key.data()), key.size())) {}

    /// Whether a key was given (the handshake runs).
    bool has_key() const noexcept { return state_ == State::key; }
    /// Whether no_authkey was given.
    bool explicitly_none() const noexcept { return state_ == State::none; }
    /// The key's bytes; empty without one.
    std::span<const std::byte> bytes() const noexcept { return std::as_bytes(std::span(key_)); }

private:
    enum class State { unset, none, key };
    State state_ = State::unset;
    std::string key_;
};

class Connection;

namespace detail {
// A message received with the descriptors that came beside it (closed on destruction).
struct ReceivedFrame {
    std::vector<std::byte> bytes;
    std::vector<int> fds;
    ReceivedFrame() = default;
    ReceivedFrame(ReceivedFrame&& other) noexcept : bytes(std::move(other.bytes)), fds(std::move(other.fds)) {
        other.fds.clear();
    }
    ReceivedFrame& operator=(ReceivedFrame&&) = delete;
    ~ReceivedFrame() {
        for (int fd : fds) mproc::detail::close_fd(fd);
    }
};
struct ConnectionState;   // defined by the library
struct ConnectionAccess;  // how the library makes Connections
}  // namespace detail

/// A connection over a stream socket: one end of what Listener::accept(), Client() or Pipe()
/// made. Python: multiprocessing.connection.Connection.
///
/// A Connection is a handle: copies share the same socket, and close() closes it for all of them
/// (in this process). It can be sent through another Connection over a Unix socket, or passed to
/// a Process or a Pool task: the receiver gets its own descriptor of the same socket, as Python's
/// reduction does. (mproc's typed Pipe and Queue refuse items that hold descriptors, this one too.)
///
/// Errors: OSError for a failed system call, a closed connection (EBADF, as Python's "handle is
/// closed"), a direction this end cannot use (EBADF), a message longer than a maxlength
/// (EMSGSIZE, after which the connection is closed, as Python), a peer gone in the middle of a
/// message (ECONNRESET) or while sending (EPIPE); EOFError when the peer closed it and no message is
/// left; SerializationError for a typed value that cannot be encoded or decoded.
///
/// Thread safety: one thread may send while another receives; threads that send at once (or
/// receive at once) take turns, each message whole. close() must not run while another thread
/// uses the connection. Cost: a message is one system call to send, its length and bytes gathered
/// (more when it is larger than the socket's buffer), and two to receive (its length, then its
/// bytes); nothing is buffered in the process.
class Connection {
public:
    /// A closed connection (every method but closed() and close() throws OSError).
    Connection() = default;

    /// Takes ownership of `fd`, a connected stream socket (Python: Connection(handle, readable,
    /// writable)). OSError (ENOTSOCK) if it is not a socket; StateError if neither direction is
    /// asked for.
    static Connection from_fd(int fd, bool readable = true, bool writable = true);

    /// Sends bytes [offset, offset + size) of `buffer` (size: the rest) as one message. StateError
    /// if the range is outside the buffer. Blocks while the socket's buffer is full. Python:
    /// send_bytes(buf, offset, size).
    void send_bytes(std::span<const std::byte> buffer, std::size_t offset = 0,
                    std::optional<std::size_t> size = std::nullopt);
    /// As send_bytes(std::as_bytes(std::span(text))).
    void send_bytes(std::string_view text) { send_bytes(std::as_bytes(std::span(text.data(), text.size()))); }

    /// Waits for the next message and returns its bytes. A message longer than `maxlength` is
    /// OSError (EMSGSIZE) and closes the connection, as Python's. EOFError if the peer closed the
    /// connection before a message began. Memory grows with the bytes actually received, never
    /// with what the length prefix announces. Python: recv_bytes(maxlength).
    std::vector<std::byte> recv_bytes(std::optional<std::size_t> maxlength = std::nullopt);

    /// Receives the next message into `buffer` from `offset` and returns its size. A message that
    /// does not fit is consumed and thrown as BufferTooShort, which holds it whole. StateError
    /// for an offset past the end of the buffer. Python: recv_bytes_into(buffer, offset).
    std::size_t recv_bytes_into(std::span<std::byte> buffer, std::size_t offset = 0);

    /// Sends a value in mproc's encoding (serialize.hpp), with the descriptors of shared objects
    /// (a Value, a Queue, another Connection) beside it. Over TCP, descriptors cannot travel:
    /// SerializationError. Python: send(obj) (with pickle).
    template <class T>
    void send(const T& value) {
        static_assert((require_transferable<T>(), true));
        std::vector<std::byte> bytes;
        Writer out(bytes);
        mproc::encode(out, value);
        send_encoded(bytes, out.fds());
    }

    /// Receives a value sent by send<T>: the same type, from an mproc program.
    /// SerializationError if the message is not a whole T. Python: recv().
    template <class T>
    T recv() {
        static_assert((require_transferable<T>(), true));
        detail::ReceivedFrame frame = receive_encoded();
        Reader in(frame.bytes, frame.fds);
        T value = mproc::decode<T>(in);
        if (!in.at_end()) in.fail("bytes left after the value");
        return value;
    }

    /// Whether a message (or the end of the connection) can be read without blocking, waiting up
    /// to `timeout` for one (0: just look). Python: poll(timeout).
    [[nodiscard]] bool poll(std::chrono::duration<double> timeout = std::chrono::duration<double>::zero());
    /// Waits for as long as it takes (Python's poll(None)); returns true.
    bool poll_forever();

    /// The socket's descriptor, for select/poll of your own; owned by the Connection. OSError if
    /// closed. Python: fileno().
    int fileno() const;
    /// Closes the socket (for every copy of this handle in this process). Python: close().
    void close() noexcept;
    /// Python: closed.
    bool closed() const noexcept;
    /// Python: readable.
    bool readable() const noexcept;
    /// Python: writable.
    bool writable() const noexcept;

private:
    explicit Connection(std::shared_ptr<detail::ConnectionState> state) : state_(std::move(state)) {}
    void send_encoded(std::span<const std::byte> bytes, std::span<const int> fds);
    detail::ReceivedFrame receive_encoded();
    // The state of an open end that can receive; OSError (EBADF) otherwise.
    detail::ConnectionState& readable_state() const;

    std::shared_ptr<detail::ConnectionState> state_;

    friend struct detail::ConnectionAccess;
};

/// Options of a Listener. Python: Listener(address, family, backlog, authkey).
struct ListenerOptions {
    /// Checked against the address; for Listener(options) without one, the kind of address to
    /// make up (default Unix).
    std::optional<Family> family = std::nullopt;
    /// Connections the kernel queues before accept() (Python's default is 1).
    int backlog = 1;
    /// See Authkey.
    Authkey authkey = {};
};

/// A socket listening for Clients. Python: multiprocessing.connection.Listener.
///
/// Errors: OSError when the address cannot be bound (EADDRINUSE if a file is already there) or
/// accept() fails; AuthenticationError from accept() when the client fails the handshake (that
/// connection is closed, the Listener goes on); StateError for TCP without an authkey.
/// Thread safety: accept() may be called from several threads at once; close() must not run
/// while another thread uses the Listener. Cost: one socket.
class Listener {
public:
    /// Listens at `address`. Python: Listener(address, family, backlog, authkey).
    explicit Listener(Address address, ListenerOptions options = {});
    /// Listens at an address of its own: an abstract Unix name (Python makes a path in a
    /// temporary directory; an abstract name leaves nothing behind), or 127.0.0.1 on a free port
    /// for Family::tcp. Python: Listener().
    explicit Listener(ListenerOptions options = {});
    /// Moves the socket; the moved-from Listener may only be destroyed or assigned to.
    Listener(Listener&&) noexcept;
    /// Closes this Listener's socket, then takes the other's.
    Listener& operator=(Listener&&) noexcept;
    /// Closes the socket, as close().
    ~Listener();

    /// Waits for the next client, runs the authkey handshake when there is a key (the Listener
    /// challenges first, then answers the client's challenge), and returns the connection.
    /// OSError if closed. Python: accept().
    Connection accept();
    /// Closes the socket and removes its file (a Unix path; only in the process that created the
    /// Listener, as Python). Python: close().
    void close() noexcept;
    /// Whether close() was called.
    bool closed() const noexcept;
    /// Where it listens (a TCP port 0 replaced by the port chosen). Python: address.
    const Address& address() const noexcept;
    /// The peer address of the last accepted connection (for Unix sockets usually an empty
    /// path: clients are unnamed). Python: last_accepted.
    std::optional<Address> last_accepted() const;

private:
    struct State;
    std::unique_ptr<State> state_;
};

/// Options of Client(). Python: Client(address, family, authkey).
struct ClientOptions {
    /// Checked against the address.
    std::optional<Family> family = std::nullopt;
    /// See Authkey.
    Authkey authkey = {};
};

/// Connects to the Listener at `address`; with a key, answers its challenge, then challenges it.
/// OSError when nobody listens there (ECONNREFUSED, ENOENT); AuthenticationError when either side
/// rejects the other; StateError for TCP without an authkey. Python: Client(address, family,
/// authkey).
Connection Client(const Address& address, ClientOptions options = {});

/// Two connected Connections over a Unix socket pair; with duplex = false, the first can only
/// receive and the second only send. Python: multiprocessing.connection.Pipe(duplex) (which
/// mproc::Pipe<T>, in pipe.hpp, outdoes for typed items between processes of one program).
std::pair<Connection, Connection> Pipe(bool duplex = true);

/// What wait() watches: a Connection, a descriptor (Process::sentinel(), a socket of your own),
/// or a typed Pipe end or Queue. Compares equal to what it was made from, so `ready[i] == &c`
/// tells which one is ready.
class Waitable {
public:
    /// A Connection (it must stay alive and open during the wait). OSError if it is closed.
    Waitable(const Connection* connection);
    /// A descriptor: readable means ready (Process::sentinel(): the process ended).
    Waitable(int fd) noexcept : fd_(fd) {}
    /// A typed Pipe end (mproc::Connection<T>) or a Queue, SimpleQueue or JoinableQueue: ready
    /// when recv() or get() would not block (an item is there; for a Pipe end, also when the
    /// other end is closed: recv() would throw EOFError). It must stay alive and open during the
    /// wait; StateError if it is closed (or is the sending end of a one-way Pipe). Python: a
    /// Connection of multiprocessing.Pipe(), queue._reader.
    template <class Object>
        requires requires(const Object& object) {
            { wait_readiness(object) } -> std::same_as<mproc::detail::QueueReadiness>;
        }
    Waitable(const Object* object) : object_(object), queue_(wait_readiness(*object)) {}

    /// The Connection, or nullptr for a descriptor.
    const Connection* connection() const noexcept { return connection_; }
    /// The descriptor watched; -1 for a typed Pipe end or a Queue.
    int fileno() const noexcept { return fd_; }
    /// The queue watched for a typed Pipe end or a Queue (internal to mproc).
    const mproc::detail::QueueReadiness& queue() const noexcept { return queue_; }

    friend bool operator==(const Waitable&, const Waitable&) = default;

private:
    const Connection* connection_ = nullptr;
    int fd_ = -1;
    const void* object_ = nullptr;  // a typed Pipe end or a Queue
    mproc::detail::QueueReadiness queue_;
};

/// Waits until at least one of `objects` is ready, or `timeout` passes (none: forever); returns
/// the ready ones, in their order in `objects` (empty on timeout). A Connection is ready when a
/// message, or the end of the connection, can be read; a descriptor when it is readable or hung
/// up; a typed Pipe end or a Queue as its Waitable constructor says. OSError for a closed
/// Connection or an invalid descriptor. Python: multiprocessing.connection.wait(object_list,
/// timeout). Thread safety: any thread. Cost: one ppoll over all the descriptors; with typed
/// Pipe ends or Queues, a look at each first and, when none of them is ready, a thread per
/// typed Pipe end or Queue sleeping on its futex for the length of the wait (tens of
/// microseconds to start; their put() and send() are not slowed).
std::vector<Waitable> wait(const std::vector<Waitable>& objects,
                           std::optional<std::chrono::duration<double>> timeout = std::nullopt);

}  // namespace mproc::connection

namespace mproc {

/// A Connection travels as a duplicate of its descriptor (Writer::attach_fd) and its directions.
template <>
struct Codec<connection::Connection> {
    static void encode(Writer& out, const connection::Connection& connection);
    static connection::Connection decode(Reader& in);
};

}  // namespace mproc
