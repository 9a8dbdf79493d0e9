// Test hooks of the shared-memory message queue (white-box tests include this).
#pragma once

namespace mproc::detail {

// Called by MessageQueue::put while it holds the producers' lock, after writing a record and
// before publishing it, and by MessageQueue::get while it holds the consumers' lock, after copying
// a record out and before taking it off the queue. Tests set it to raise(SIGKILL) to die holding
// a lock at the worst moment.
extern void (*queue_locked_hook)();
// Called by MessageQueue::put while it holds the producers' lock, after publishing a record and
// before moving tail and counting the item.
extern void (*queue_published_hook)();

}  // namespace mproc::detail
