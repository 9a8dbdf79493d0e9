// Named shared-memory files (POSIX shm_open, in /dev/shm): unlike memfds, they outlive their
// processes until unlinked.
#pragma once

#include "os/result.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {

// `path` is "/" and the name. Creating fails with EEXIST if the name is taken. Close-on-exec,
// read-write, for this user only.
[[nodiscard]] Result<UniqueFd> create_named_memory(const char* path) noexcept;
[[nodiscard]] Result<UniqueFd> open_named_memory(const char* path) noexcept;
[[nodiscard]] SysResult unlink_named_memory(const char* path) noexcept;

}  // namespace mproc::os
