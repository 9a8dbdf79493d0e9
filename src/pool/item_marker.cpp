#include <mproc/detail/item_marker.hpp>

#include "pool/channel.hpp"

namespace mproc::detail {
namespace {

// The running task's marker: set by the pool worker loop, read by the chunk it runs. One per
// thread: a ThreadPool runs tasks on several threads of one process.
thread_local ItemMarker running_task;

}  // namespace

ItemMarker ItemMarker::current() noexcept { return running_task; }

void ItemMarker::set_current(std::atomic<std::uint64_t>* item, std::atomic<std::int64_t>* item_started_ns) noexcept {
    running_task.item_ = item;
    running_task.item_started_ns_ = item_started_ns;
}

void ItemMarker::started_timed(std::uint64_t index) const noexcept {
    item_started_ns_->store(pool::steady_now_ns(), std::memory_order_relaxed);
    item_->store(index, std::memory_order_release);
}

}  // namespace mproc::detail
