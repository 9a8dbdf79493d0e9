// mproc::connection::wait (mproc/connection.hpp): one ppoll over every object's descriptor. Typed
// Pipe ends and Queues have none: each is watched, while the ppoll waits, by a thread sleeping on
// its futex, which bumps an eventfd in the ppoll's set when the queue becomes readable.
#include <mproc/connection.hpp>

#include <atomic>
#include <thread>

#include <mproc/detail/message_queue.hpp>

#include "connection/connection_state.hpp"
#include "os/event_fd.hpp"
#include "os/poll.hpp"
#include "os_error.hpp"

namespace mproc::connection {
namespace {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;
using mproc::detail::MessageQueue;
using mproc::detail::QueueReadiness;

// Whether a read of `object` would not block: an item is there, or its hook gives up (a Pipe
// whose other end is closed: recv() would throw EOFError).
bool readable_now(const QueueReadiness& object) {
    return object.queue->wait_readable(std::chrono::steady_clock::now(), {object.keep_waiting, object.context}) !=
           MessageQueue::Status::timed_out;
}

// The threads that watch the typed Pipe ends and Queues of one wait(); stopped and joined when
// it returns (or throws).
class Watchers {
public:
    explicit Watchers(const os::EventFd& ready) : ready_(ready) {}
    Watchers(const Watchers&) = delete;
    Watchers& operator=(const Watchers&) = delete;
    ~Watchers() {
        stop_.store(true);
        for (const Watch& watch : watches_) watch.object->queue->wake_readers();
        for (std::thread& thread : threads_) thread.join();
    }

    void watch(const std::vector<const QueueReadiness*>& objects, const Deadline& deadline) {
        watches_.reserve(objects.size());  // the threads hold pointers into it
        for (const QueueReadiness* object : objects) watches_.push_back(Watch{object, &stop_});
        for (const Watch& watch : watches_)
            threads_.emplace_back([this, &watch, deadline] {
                (void)watch.object->queue->wait_readable(deadline, {&Watch::keep_waiting, &watch});
                if (!stop_.load()) ready_.notify();
            });
    }

private:
    struct Watch {
        const QueueReadiness* object;
        const std::atomic<bool>* stop;
        static bool keep_waiting(const void* context) {
            const auto& watch = *static_cast<const Watch*>(context);
            if (watch.stop->load()) return false;
            return !watch.object->keep_waiting || watch.object->keep_waiting(watch.object->context);
        }
    };

    const os::EventFd& ready_;
    std::atomic<bool> stop_{false};
    std::vector<Watch> watches_;
    std::vector<std::thread> threads_;
};

}  // namespace

Waitable::Waitable(const Connection* connection) : connection_(connection), fd_(connection->fileno()) {}

std::vector<Waitable> wait(const std::vector<Waitable>& objects, std::optional<std::chrono::duration<double>> timeout) {
    std::vector<int> fds;
    std::vector<std::size_t> fd_owners;  // which object each descriptor is
    std::vector<const QueueReadiness*> queues;
    std::vector<bool> ready(objects.size(), false);
    bool any_ready = false;
    for (std::size_t i = 0; i < objects.size(); ++i) {
        const Waitable& object = objects[i];
        if (object.queue().queue) {
            queues.push_back(&object.queue());
            ready[i] = readable_now(object.queue());
            any_ready = any_ready || ready[i];
            continue;
        }
        // A Connection closed since it was listed: Python's fileno() raises here too.
        if (object.connection() && object.connection()->closed())
            throw OSError("mproc::connection::wait: a Connection is closed", EBADF);
        if (object.connection() && detail::ConnectionAccess::holds_read_ahead(*object.connection())) {
            ready[i] = true;
            any_ready = true;
        }
        fds.push_back(object.fileno());
        fd_owners.push_back(i);
    }
    Deadline deadline;
    if (timeout)
        deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                          std::max(*timeout, std::chrono::duration<double>::zero()));
    // A typed Pipe end or Queue ready already, or a Connection holding a message it read ahead:
    // the descriptors are only looked at.
    if (any_ready) deadline = std::chrono::steady_clock::now();

    std::vector<bool> readable;
    if (queues.empty() || any_ready) {
        readable = mproc::detail::or_throw(os::readable_among(fds, deadline), "mproc::connection::wait");
    } else {
        const os::EventFd watched_ready = mproc::detail::or_throw(os::EventFd::create(), "eventfd for mproc::connection::wait");
        fds.push_back(watched_ready.fd());
        {
            Watchers watchers(watched_ready);
            watchers.watch(queues, deadline);
            readable = mproc::detail::or_throw(os::readable_among(fds, deadline), "mproc::connection::wait");
        }
        for (std::size_t i = 0; i < objects.size(); ++i)
            if (objects[i].queue().queue) ready[i] = readable_now(objects[i].queue());
    }
    for (std::size_t k = 0; k < fd_owners.size(); ++k)
        if (readable[k]) ready[fd_owners[k]] = true;

    std::vector<Waitable> out;
    for (std::size_t i = 0; i < objects.size(); ++i)
        if (ready[i]) out.push_back(objects[i]);
    return out;
}

}  // namespace mproc::connection
