// What mproc::connection::wait() needs of an object that has no descriptor to poll (internal to
// mproc): a typed Pipe end (mproc::Connection<T>) or a Queue, which pass items through a queue in
// shared memory and sleep on futexes. Such an object provides, as a friend found by
// argument-dependent lookup, `detail::QueueReadiness wait_readiness(const Object&)`.
#pragma once

namespace mproc::detail {

class MessageQueue;

struct QueueReadiness {
    // The queue its reads take from.
    MessageQueue* queue = nullptr;
    // Whether waiting still makes sense (a Pipe: its other end is open); none: always. When it
    // says no, the object counts as ready: a read would not block (it would raise EOFError).
    bool (*keep_waiting)(const void* context) = nullptr;
    const void* context = nullptr;

    friend bool operator==(const QueueReadiness&, const QueueReadiness&) = default;
};

}  // namespace mproc::detail
