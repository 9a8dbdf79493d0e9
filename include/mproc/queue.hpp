// mproc/queue.hpp: process-safe FIFO queues (Python's multiprocessing.Queue, SimpleQueue and
// JoinableQueue).
//
//   mproc::Queue<std::string> q;                       // Python: q = Queue()
//   mproc::Process p([](mproc::Queue<std::string> q) { q.put("hello"); }, q);
//   p.start();
//   std::string s = q.get();                           // blocks until an item arrives
//   q.get(500ms);                                      // throws mproc::Empty after 0.5 s
//   mproc::Queue<int> bounded(10);                     // Python: Queue(maxsize=10)
//   bounded.put_nowait(1);                             // throws mproc::Full when full
//
// Items are any Transferable type (see mproc/serialize.hpp); they are encoded by put and decoded
// by get. Any number of processes may put and get at once: each item is delivered exactly once,
// in the order of the puts (FIFO across all producers, as one queue). Items travel through a ring
// in shared memory (1 MiB by default, QueueOptions::buffer_bytes); an item larger than a quarter
// of the ring goes through a separate shared area, one such item at a time, up to 16 GiB. Unlike
// Python, put() has no feeder thread: it returns once the item is in shared memory, and blocks
// while the queue is full (maxsize items, or the ring has no room).
//
// Items that hold shared objects (a Lock, a Value, another Queue) cannot be put: pass those to
// the Process or pool task instead (SerializationError).
//
// A Queue is a handle: copies, copies inherited by forked children and copies sent to another
// process all refer to the same queue; nothing is left behind once they are all gone. close()
// ends this process's use of the queue (its copies in this process then throw StateError); it
// does not affect other processes.
//
// Producers and consumers each take an internal lock of their own. If a process dies holding
// one (in the middle of a put, or of a get), the next put (or get) repairs the queue and throws
// mproc::OwnerDied without doing anything: only the dead process's own item may be lost;
// retrying works.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <mproc/detail/message_queue.hpp>
#include <mproc/detail/queue_readiness.hpp>
#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

namespace mproc {

/// Options of Queue, JoinableQueue and SimpleQueue (Python has none).
struct QueueOptions {
    /// Bytes of the shared ring that holds the items waiting in the queue (rounded up to a power
    /// of two, at least 1 KiB).
    std::size_t buffer_bytes = detail::MessageQueue::default_capacity;
    /// Bytes of the memory for large items (over a quarter of buffer_bytes) kept after such an
    /// item has gone through, so that the next one finds its pages faulted in (64 MiB by
    /// default). Less keeps less memory for as long as the queue lives.
    std::size_t spill_keep_bytes = detail::MessageQueue::default_spill_keep;
};

namespace detail {

// Per-thread buffers for encoding and decoding items, reused to avoid an allocation per item.
inline std::vector<std::byte>& item_buffer() {
    thread_local std::vector<std::byte> buffer;
    return buffer;
}
inline void trim_item_buffer(std::vector<std::byte>& buffer) {
    if (buffer.capacity() > (std::size_t{64} << 20)) std::vector<std::byte>().swap(buffer);
}

inline Writer::Storage grow_item_buffer(void* context, std::size_t, std::size_t needed) {
    auto& buffer = *static_cast<std::vector<std::byte>*>(context);
    buffer.resize(std::max(needed, buffer.size() * 2));  // keeps the bytes written so far
    return {buffer.data(), buffer.size()};
}

// Encodes into `buffer` (grown as needed, never shrunk here) and returns the bytes written.
template <class T>
std::span<const std::byte> encode_item(std::vector<std::byte>& buffer, const T& item) {
    if (buffer.size() < 256) buffer.resize(256);
    Writer out(Writer::Storage{buffer.data(), buffer.size()}, &grow_item_buffer, &buffer);
    mproc::encode(out, item);
    if (!out.fds().empty())
        throw SerializationError(
            "mproc: an item holding shared objects (a Lock, Value, Queue, ...) cannot be sent "
            "through a Queue or Pipe; pass the shared object to the Process or pool task instead");
    return {buffer.data(), out.size()};
}

// Puts `item` into `queue`: its bytes as they are where they are its encoding (mproc::encode),
// otherwise encoded into this thread's buffer first.
template <class T>
MessageQueue::Status put_item(MessageQueue& queue, const T& item, const Deadline& deadline, QueueWaitHook hook = {}) {
    if constexpr (trivially_transferable<T>) {
        return queue.put(std::as_bytes(std::span(&item, 1)), deadline, hook);
    } else {
        auto& buffer = item_buffer();
        const auto status = queue.put(encode_item(buffer, item), deadline, hook);
        trim_item_buffer(buffer);
        return status;
    }
}

// What every copy of one queue handle in this process shares.
struct QueueLocal {
    SharedBlock block;
    MessageQueue queue;
};

// The common part of Queue, SimpleQueue and JoinableQueue.
template <class T>
class QueueBase {
    static_assert((require_transferable<T>(), true));

public:
    explicit QueueBase(std::size_t maxsize, QueueOptions options) : local_(std::make_shared<QueueLocal>()) {
        local_->block =
            MessageQueue::create_block(ObjectKind::queue, 1, options.buffer_bytes, maxsize, options.spill_keep_bytes);
        local_->queue = MessageQueue::at(local_->block, 0);
    }

    // Blocks while the queue is full.
    void put(const T& item) { (void)put_until(item, std::nullopt); }
    // Full if the queue stays full for `timeout`.
    template <class Rep, class Period>
    void put(const T& item, const std::chrono::duration<Rep, Period>& timeout) {
        if (!put_until(item, deadline_after(timeout))) throw Full("mproc::Queue::put: the queue is full");
    }
    // Full if the queue is full now.
    void put_nowait(const T& item) {
        if (!put_until(item, std::chrono::steady_clock::now())) throw Full("mproc::Queue::put_nowait: the queue is full");
    }

    // Blocks while the queue is empty.
    T get() { return *get_until(std::nullopt); }
    // Empty if nothing arrives within `timeout`.
    template <class Rep, class Period>
    T get(const std::chrono::duration<Rep, Period>& timeout) {
        auto item = get_until(deadline_after(timeout));
        if (!item) throw Empty("mproc::Queue::get: the queue is empty");
        return std::move(*item);
    }
    // Empty if nothing is there now.
    T get_nowait() {
        auto item = get_until(std::chrono::steady_clock::now());
        if (!item) throw Empty("mproc::Queue::get_nowait: the queue is empty");
        return std::move(*item);
    }

    // Items in the queue now (approximate while other processes use it, as in Python).
    std::size_t qsize() const { return queue().qsize(); }
    bool empty() const { return queue().qsize() == 0; }
    bool full() const { return queue().full(); }
    // 0: unbounded.
    std::size_t maxsize() const { return static_cast<std::size_t>(queue().maxsize()); }

    // Ends this process's use of the queue; other processes are not affected.
    void close() noexcept {
        if (local_) *local_ = QueueLocal{};
    }
    bool closed() const noexcept { return !local_ || !local_->queue; }

    // What mproc::connection::wait() watches.
    friend QueueReadiness wait_readiness(const QueueBase& queue) { return {&queue.queue()}; }

protected:
    QueueBase() = default;

    MessageQueue& queue() const {
        if (closed()) throw StateError("mproc::Queue: the queue is closed in this process");
        return local_->queue;
    }

    bool put_until(const T& item, const Deadline& deadline) {
        return put_item(queue(), item, deadline) == MessageQueue::Status::ok;
    }

    std::optional<T> get_until(const Deadline& deadline) {
        MessageQueue& q = queue();
        auto& buffer = item_buffer();
        if (q.get(buffer, deadline) != MessageQueue::Status::ok) return std::nullopt;
        std::optional<T> item(deserialize<T>(buffer));
        trim_item_buffer(buffer);
        return item;
    }

    void encode_handle(Writer& out) const {
        (void)queue();
        local_->block.encode(out);
    }
    void decode_handle(Reader& in) {
        auto block = SharedBlock::decode(in, 64);
        if (MessageQueue::check_block(block, ObjectKind::queue, "Queue") != 1) in.fail("a Queue holds one queue");
        local_ = std::make_shared<QueueLocal>();
        local_->queue = MessageQueue::at(block, 0);
        local_->block = std::move(block);
    }

    std::shared_ptr<QueueLocal> local_;
};

}  // namespace detail

/// Python's multiprocessing.Queue: maxsize 0 means unbounded (up to the ring's room).
///
/// Its operations, shared with JoinableQueue (see the top of this file):
/// - `put(item)` blocks while the queue is full. Python: put(item).
/// - `put(item, timeout)` throws mproc::Full if the queue stays full for `timeout`; `put_nowait(item)`
///   if it is full now. Python: put(item, timeout=t), put_nowait(item).
/// - `get()` blocks while the queue is empty. Python: get().
/// - `get(timeout)` throws mproc::Empty if nothing arrives within `timeout`; `get_nowait()` if
///   nothing is there now. Python: get(timeout=t), get_nowait().
/// - `qsize()`, `empty()`, `full()`: approximate while other processes use the queue, as in
///   Python. `maxsize()`: 0 means unbounded.
/// - `close()` ends this process's use of the queue (other processes are not affected);
///   `closed()` tells. Python: close().
///
/// Errors: every operation but close() and closed() throws mproc::StateError on a queue closed
/// in this process; put throws mproc::SerializationError for an item that cannot be encoded;
/// put or get throws mproc::OwnerDied once, after a process died in the middle of one.
///
/// Thread safety: any number of threads, in any number of processes, may put and get at once
/// through one handle or its copies. close() must not run while another thread of this process
/// uses the queue. Cost: a put or get that needs no wait takes a lock in shared memory with no
/// system call on the uncontended path, and copies the encoded item once; a blocked put or get
/// sleeps on a futex.
template <class T>
class Queue : public detail::QueueBase<T> {
public:
    /// A new queue holding at most `maxsize` items (0: as many as the ring holds). Python:
    /// Queue(maxsize). Throws mproc::OSError if the shared memory cannot be made.
    explicit Queue(std::size_t maxsize = 0, QueueOptions options = {}) : detail::QueueBase<T>(maxsize, options) {}

private:
    struct Decoding {};
    explicit Queue(Decoding) {}
    friend struct Codec<Queue<T>>;
};

/// Python's multiprocessing.JoinableQueue: every put() adds an unfinished task; task_done(), called
/// by a consumer once it has processed an item it got, removes one; join() waits until none is
/// left. A consumer that dies before calling task_done() leaves its task unfinished, as in Python.
///
/// It offers every operation of Queue (put, get, their timeouts, qsize, close...), with the same
/// errors.
/// Thread safety: as Queue's; task_done() and join() may be called from any thread of any
/// process too.
template <class T>
class JoinableQueue : public detail::QueueBase<T> {
public:
    /// As Queue(maxsize, options). Python: JoinableQueue(maxsize).
    explicit JoinableQueue(std::size_t maxsize = 0, QueueOptions options = {})
        : detail::QueueBase<T>(maxsize, options) {}

    /// Marks one item taken by get() as processed. Python: task_done() (which raises ValueError).
    /// StateError if called more times than items were taken (by any process).
    void task_done() { this->queue().task_done(); }
    /// Waits until every item put has been marked done by task_done(). Python: join().
    void join() { (void)this->queue().join(std::nullopt); }
    /// False if tasks are still unfinished after `timeout`. Python has no timeout here.
    template <class Rep, class Period>
    bool join(const std::chrono::duration<Rep, Period>& timeout) {
        return this->queue().join(detail::deadline_after(timeout));
    }

private:
    struct Decoding {};
    explicit JoinableQueue(Decoding) {}
    friend struct Codec<JoinableQueue<T>>;
};

/// Python's multiprocessing.SimpleQueue: unbounded, put/get/empty/close only.
///
/// Errors: as Queue's.
/// Thread safety: as Queue's: any number of threads and processes at once; close() must not run
/// while another thread of this process uses it.
template <class T>
class SimpleQueue : private detail::QueueBase<T> {
    using Base = detail::QueueBase<T>;

public:
    /// A new, unbounded queue. Python: SimpleQueue().
    explicit SimpleQueue(QueueOptions options = {}) : Base(0, options) {}
    /// Adds an item; blocks only while the ring has no room. Python: put(item).
    void put(const T& item) { Base::put(item); }
    /// Takes the oldest item; blocks while there is none. Python: get().
    T get() { return Base::get(); }
    using Base::close;
    using Base::closed;
    using Base::empty;

    // What mproc::connection::wait() watches (the base's is private here).
    friend detail::QueueReadiness wait_readiness(const SimpleQueue& queue) { return {&queue.queue()}; }

private:
    struct Decoding {};
    explicit SimpleQueue(Decoding) {}
    friend struct Codec<SimpleQueue<T>>;
};

template <class T>
struct Codec<Queue<T>> {
    static void encode(Writer& out, const Queue<T>& queue) { queue.encode_handle(out); }
    static Queue<T> decode(Reader& in) {
        Queue<T> queue{typename Queue<T>::Decoding{}};
        queue.decode_handle(in);
        return queue;
    }
};

template <class T>
struct Codec<JoinableQueue<T>> {
    static void encode(Writer& out, const JoinableQueue<T>& queue) { queue.encode_handle(out); }
    static JoinableQueue<T> decode(Reader& in) {
        JoinableQueue<T> queue{typename JoinableQueue<T>::Decoding{}};
        queue.decode_handle(in);
        return queue;
    }
};

template <class T>
struct Codec<SimpleQueue<T>> {
    static void encode(Writer& out, const SimpleQueue<T>& queue) { queue.encode_handle(out); }
    static SimpleQueue<T> decode(Reader& in) {
        SimpleQueue<T> queue{typename SimpleQueue<T>::Decoding{}};
        queue.decode_handle(in);
        return queue;
    }
};

}  // namespace mproc
