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
// Called by a put, get or wait_readable (poll) about to sleep, after its last look at the queue and
// before it sets the sleepers' bit (wait_for_change). Tests use it to change the queue in that window.
extern void (*queue_before_sleep_hook)();

}  // namespace mproc::detail
