// The resource tracker process: it removes named shared memory segments that the program that
// started it left behind, once nobody can use them any more (Python's resource_tracker).
//
// The tracker reads records from a SOCK_SEQPACKET socket: "R<name>" registers a segment of
// /dev/shm, "U<name>" forgets it. The program keeps the other end (close-on-exec; forked children
// inherit it, and mproc hands it to children it spawns). When every holder of that end is gone,
// however they ended, the tracker reads end-of-file, unlinks what is still registered with a
// warning on stderr, and exits.
//
// It is no child of the program (started through an intermediate process that exits at once), so
// the program never has to reap it and never sees it among its children. It runs in a session of
// its own, ignoring SIGINT and SIGTERM: a Ctrl-C or a kill of the program's process group does
// not stop it from cleaning up. Between fork and exit it makes only async-signal-safe system
// calls, so it can be started from a program running threads.
#pragma once

#include <cstddef>
#include <string_view>

#include "os/unique_fd.hpp"

namespace mproc::os {

// The longest name a record may carry (NAME_MAX).
inline constexpr std::size_t tracked_name_max = 255;

// Starts a tracker. Returns 0 and the program's end of its socket, or an errno value.
[[nodiscard]] int start_resource_tracker(UniqueFd& channel) noexcept;

enum class TrackerRecord : char { register_segment = 'R', unregister_segment = 'U' };

// Sends one record. Returns 0, or an errno value: EPIPE or ECONNRESET when the tracker is gone;
// EINVAL for a name that is empty, too long, or contains '/' or '\0'.
[[nodiscard]] int send_to_resource_tracker(int channel, TrackerRecord record, std::string_view name) noexcept;

}  // namespace mproc::os
