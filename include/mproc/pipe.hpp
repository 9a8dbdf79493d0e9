// mproc/pipe.hpp: a two-way channel between processes (Python's multiprocessing.Pipe).
//
//   auto [parent_end, child_end] = mproc::Pipe<std::string>();   // Python: a, b = Pipe()
//   mproc::Process p([](mproc::Connection<std::string> c) { c.send(c.recv() + "!"); }, child_end);
//   p.start();
//   child_end.close();                // as in Python: this process keeps only its own end
//   parent_end.send("hi");
//   std::string reply = parent_end.recv();
//   if (parent_end.poll(100ms)) ...   // whether recv() would return without blocking
//
// Pipe<T>(duplex = true) returns two Connections; with duplex = false the first can only recv()
// and the second only send(). Items are any Transferable type; they travel through a ring in
// shared memory per direction (large items through a separate shared area), never through a
// socket. send() returns once the item is in shared memory; it blocks only when the ring is full.
//
// End of file, as in Python: once every copy of the other end is closed (by close(), by its
// handles being destroyed, or by its process exiting or being killed), recv() returns what is
// left and then throws mproc::EOFError, and send() throws OSError (EPIPE) when it would block. A
// waiting recv() notices within 50 ms, or within a quarter of the time it has waited, at most a
// second (so that an end idle for hours wakes about once a second, not twenty times).
// Note that a child forked while this process held both ends holds copies of both: close the end
// a process does not use, as in Python. A Connection received by a process started before the
// Pipe was created holds only that end.
//
// Like Python's, a Connection is meant to be used by one process (and thread) at a time per
// direction; it is nevertheless safe to share, messages being delivered whole and exactly once.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <mproc/detail/message_queue.hpp>
#include <mproc/detail/queue_readiness.hpp>
#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>
#include <mproc/queue.hpp>
#include <mproc/serialize.hpp>

namespace mproc {

template <class T>
class Connection;

template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(bool duplex = true, QueueOptions options = {});

namespace detail {

struct ConnectionLocal {
    SharedBlock block;
    MessageQueue incoming;  // empty when the end cannot receive
    MessageQueue outgoing;  // empty when the end cannot send
    PeerLink link;
    std::uint8_t end = 0;  // 0: the first Connection Pipe() returned, 1: the second
    bool readable = false;
    bool writable = false;
    bool closed = false;
};

inline bool peer_open(const void* context) {
    return static_cast<const ConnectionLocal*>(context)->link.peer_open();
}

// Which queue of the pipe's block carries which direction: the first end receives on queue 0,
// the second on queue 1.
void connection_setup(ConnectionLocal& local, SharedBlock block, PeerLink link, std::uint8_t end, bool duplex);
void encode_connection(Writer& out, const ConnectionLocal& local);
std::shared_ptr<ConnectionLocal> decode_connection(Reader& in);
std::pair<std::shared_ptr<ConnectionLocal>, std::shared_ptr<ConnectionLocal>> make_pipe(bool duplex,
                                                                                       const QueueOptions& options);

}  // namespace detail

/// One end of a Pipe. Python: multiprocessing.connection.Connection (send, recv, poll, close;
/// items are typed, so there is no send_bytes).
///
/// Errors: mproc::EOFError, OSError (EPIPE) and StateError as each method says;
/// mproc::SerializationError for an item that cannot be encoded.
///
/// Thread safety: as in Python, meant to be used by one thread of one process at a time per
/// direction; sharing it is nevertheless safe: any number of threads and processes may send and
/// recv at once, and each message is delivered whole and exactly once. close() must not run
/// while another thread of this process uses the end. Cost: a send or recv that need not wait
/// makes no system call; one that waits sleeps on a futex.
template <class T>
class Connection {
    static_assert((require_transferable<T>(), true));

public:
    /// Blocks while the ring towards the other end is full. OSError (EPIPE) if every copy of the
    /// other end is closed by then; StateError if this end is closed or cannot send. Python:
    /// send(obj).
    void send(const T& item) {
        auto& local = usable(local_ && local_->writable, "send");
        const auto status = detail::put_item(local.outgoing, item, std::nullopt, {&detail::peer_open, &local});
        if (status != detail::MessageQueue::Status::ok)
            throw OSError("Connection::send: the other end of the pipe is closed", EPIPE);
    }

    /// Blocks until an item arrives. EOFError once nothing is left and every copy of the other end
    /// is closed. StateError if this end is closed or cannot receive. Python: recv().
    T recv() {
        auto& local = usable(local_ && local_->readable, "recv");
        auto& buffer = detail::item_buffer();
        if (local.incoming.get(buffer, std::nullopt, {&detail::peer_open, &local}) != detail::MessageQueue::Status::ok)
            throw EOFError("mproc::Connection::recv: the other end of the pipe is closed and nothing is left to read");
        T item = deserialize<T>(buffer);
        detail::trim_item_buffer(buffer);
        return item;
    }

    /// Whether recv() would return (an item, or EOFError) without blocking. Python: poll().
    [[nodiscard]] bool poll() { return poll_until(std::chrono::steady_clock::now()); }
    /// As poll(), waiting up to `timeout` for an item. Python: poll(timeout).
    template <class Rep, class Period>
    [[nodiscard]] bool poll(const std::chrono::duration<Rep, Period>& timeout) {
        return poll_until(detail::deadline_after(timeout));
    }
    /// Waits for as long as it takes (Python's poll(None)).
    bool poll_forever() { return poll_until(std::nullopt); }

    /// Closes this process's copy of this end (every copy of this handle in this process).
    /// Python: close().
    void close() noexcept {
        if (!local_) return;
        *local_ = detail::ConnectionLocal();
        local_->closed = true;
    }
    /// Whether this end is closed in this process. Python: closed.
    bool closed() const noexcept { return !local_ || local_->closed; }
    /// Whether this end can recv(). Python: readable.
    bool readable() const noexcept { return local_ && local_->readable; }
    /// Whether this end can send(). Python: writable.
    bool writable() const noexcept { return local_ && local_->writable; }

private:
    Connection() = default;
    explicit Connection(std::shared_ptr<detail::ConnectionLocal> local) : local_(std::move(local)) {}

    detail::ConnectionLocal& usable(bool allowed, const char* operation) const {
        if (closed()) throw StateError(std::string("mproc::Connection::") + operation + ": the connection is closed");
        if (!allowed)
            throw StateError(std::string("mproc::Connection::") + operation + ": this end of a one-way pipe cannot " +
                             operation);
        return *local_;
    }

    // What mproc::connection::wait() watches.
    friend detail::QueueReadiness wait_readiness(const Connection& connection) {
        auto& local = connection.usable(connection.local_ && connection.local_->readable, "wait");
        return {&local.incoming, &detail::peer_open, &local};
    }

    bool poll_until(const detail::Deadline& deadline) {
        auto& local = usable(local_ && local_->readable, "poll");
        const auto status = local.incoming.wait_readable(deadline, {&detail::peer_open, &local});
        return status != detail::MessageQueue::Status::timed_out;
    }

    std::shared_ptr<detail::ConnectionLocal> local_;

    friend std::pair<Connection<T>, Connection<T>> Pipe<T>(bool, QueueOptions);
    friend struct Codec<Connection<T>>;
};

/// Two connected ends; see the top of this file. Python: multiprocessing.Pipe(duplex). Throws
/// mproc::OSError if the shared memory cannot be made. Cost: one shared-memory block holding a
/// ring per direction (QueueOptions::buffer_bytes each).
template <class T>
std::pair<Connection<T>, Connection<T>> Pipe(bool duplex, QueueOptions options) {
    auto [first, second] = detail::make_pipe(duplex, options);
    return {Connection<T>(std::move(first)), Connection<T>(std::move(second))};
}

template <class T>
struct Codec<Connection<T>> {
    static void encode(Writer& out, const Connection<T>& connection) {
        if (connection.closed()) throw SerializationError("mproc: cannot send a closed Connection");
        detail::encode_connection(out, *connection.local_);
    }
    static Connection<T> decode(Reader& in) { return Connection<T>(detail::decode_connection(in)); }
};

}  // namespace mproc
