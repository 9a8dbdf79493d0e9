// This program's resource tracker (see os/resource_tracker.hpp): the one process that unlinks the
// named SharedMemory segments the program created and left behind, once every process of the
// program that could still use them is gone.
//
// It starts with the first tracked segment a process creates. Children share their parent's: a
// forked child inherits the channel to it, and children started by spawn or forkserver receive it
// with their bootstrap. A process whose parent had none when it started gets its own on first use.
#pragma once

#include <string>

#include "os/unique_fd.hpp"

namespace mproc::detail {

// Registers a segment this process created: the tracker unlinks it unless untrack_segment comes
// first. Starts the tracker if this process has none, and a new one if it died. OSError when no
// tracker can be started.
void track_segment(const std::string& name);
// Forgets a segment that was unlinked. Starts nothing; never fails.
void untrack_segment(const std::string& name) noexcept;

// Starts the tracker now if this process has none (the first tracked segment would): tests start
// it before they count open descriptors.
void ensure_resource_tracker();

// The channel to this process's tracker, for launch to hand to children; -1 when there is none.
int resource_tracker_channel() noexcept;
// In a child started by spawn or forkserver: the parent's channel, or nothing when the parent had
// no tracker (the number inherited from the fork server's memory names no channel here).
void adopt_resource_tracker(os::UniqueFd channel) noexcept;

}  // namespace mproc::detail
