// This program's resource tracker (resource_tracker.hpp), on the tracker process of
// os/resource_tracker.hpp.
#include "resource_tracker.hpp"

#include <atomic>
#include <cerrno>
#include <mutex>

#include <mproc/errors.hpp>

#include "os/child_process.hpp"
#include "os/resource_tracker.hpp"
#include "os_error.hpp"

namespace mproc::detail {
namespace {

// Never closed: the tracker's end-of-file must come only once the last process holding the
// channel is gone. Replaced in place (dup3) when a tracker that died is replaced, so that a number
// launch has read stays the channel's.
std::atomic<int> channel{-1};

// Serializes starting a tracker. Never destroyed (segments may be created while the program
// exits); a forked child gets a new one, since another thread may have held this one at the fork.
std::mutex*& start_mutex() {
    static std::mutex* mutex = new std::mutex;
    return mutex;
}
const bool reset_in_children = (os::at_fork_child([] { start_mutex() = new std::mutex; }), true);

// Called holding start_mutex().
void start_tracker() {
    os::UniqueFd fresh;
    if (const int error = os::start_resource_tracker(fresh))
        throw OSError("mproc: cannot start the resource tracker", error);
    const int current = channel.load();
    if (current < 0) {
        channel.store(fresh.release());
        return;
    }
    or_throw(os::replace_fd_cloexec(fresh.get(), current), "dup3 (resource tracker channel)");
}

bool tracker_gone(int error) { return error == EPIPE || error == ECONNRESET || error == ECONNREFUSED; }

}  // namespace

void track_segment(const std::string& name) {
    std::lock_guard lock(*start_mutex());
    if (channel.load() < 0) start_tracker();
    int error = os::send_to_resource_tracker(channel.load(), os::TrackerRecord::register_segment, name);
    if (tracker_gone(error)) {
        // Killed: what it held is lost, but this segment and later ones are tracked again.
        start_tracker();
        error = os::send_to_resource_tracker(channel.load(), os::TrackerRecord::register_segment, name);
    }
    if (error != 0) throw OSError("mproc: cannot register \"" + name + "\" with the resource tracker", error);
}

void untrack_segment(const std::string& name) noexcept {
    if (const int current = channel.load(); current >= 0)
        (void)os::send_to_resource_tracker(current, os::TrackerRecord::unregister_segment, name);
}

void ensure_resource_tracker() {
    std::lock_guard lock(*start_mutex());
    if (channel.load() < 0) start_tracker();
}

int resource_tracker_channel() noexcept { return channel.load(); }

void adopt_resource_tracker(os::UniqueFd received) noexcept { channel.store(received.release()); }

}  // namespace mproc::detail
