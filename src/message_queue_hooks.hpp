// Test hooks of the shared-memory message queue (white-box tests include this).
#pragma once

namespace mproc::detail {

// Called by MessageQueue::put while it holds the queue's lock, after writing a record and before
// publishing it. Tests set it to raise(SIGKILL) to die holding the lock at the worst moment.
extern void (*queue_locked_hook)();

}  // namespace mproc::detail
