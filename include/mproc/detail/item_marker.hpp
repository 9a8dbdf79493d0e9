// mproc/detail/item_marker.hpp: how a chunk running in a pool worker says which of its items is
// running, so that the worker's supervisor can blame a crash on the right item and count a
// per-item timeout from that item's start.
#pragma once

#include <atomic>
#include <cstdint>

namespace mproc::detail {

// Taken once per chunk (current()): marking an item is then a single store, as cheap as a trivial
// item itself. Outside pool workers the marker does nothing.
class ItemMarker {
public:
    // The marker of the task this thread is running. Defined in src/pool/item_marker.cpp.
    static ItemMarker current() noexcept;
    // Set by a pool worker (a process, or a ThreadPool's thread) before each task: where the running item's index goes, and, when the
    // task has a per-item timeout, where the item's start time goes (steady clock, in ns; null:
    // no timeout, and no clock read per item).
    static void set_current(std::atomic<std::uint64_t>* item, std::atomic<std::int64_t>* item_started_ns) noexcept;

    void started(std::uint64_t index) const noexcept {
        if (item_started_ns_)
            started_timed(index);
        else if (item_)
            item_->store(index, std::memory_order_release);
    }

private:
    void started_timed(std::uint64_t index) const noexcept;
    std::atomic<std::uint64_t>* item_ = nullptr;
    std::atomic<std::int64_t>* item_started_ns_ = nullptr;
};

}  // namespace mproc::detail
