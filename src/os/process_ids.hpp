// Who is running: this thread's kernel id and this process's id (cached, and reset in forked
// children), and whether another process still exists.
#pragma once

namespace mproc::os {

// gettid(), cached per thread; correct in forked children.
int this_thread_id() noexcept;
// getpid(), cached (a system call here), and reset in forked children.
int this_process_id() noexcept;
// Whether a process with this pid exists (a zombie counts as gone).
bool process_exists(int pid) noexcept;

}  // namespace mproc::os
