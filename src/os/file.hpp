// Sizing shared files (memfds, shared-memory segments) and comparing them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "os/result.hpp"

namespace mproc::os {

// Sets the size of a file (ftruncate), or extends it to cover [offset, offset + length) without
// ever shrinking it (fallocate). Every memfd and shared-memory file mproc sizes goes through these.
// A size past this process's file-size limit (RLIMIT_FSIZE, `ulimit -f`) fails with EFBIG before
// the kernel is asked: the kernel would also send SIGXFSZ, whose default action kills the process
// (Python ignores that signal, and gets EFBIG). The signal's disposition is the program's own.
// `call` names the call in the error.
[[nodiscard]] SysResult set_file_size(int fd, std::size_t size, const char* call = "ftruncate") noexcept;
[[nodiscard]] SysResult extend_file(int fd, std::size_t offset, std::size_t length,
                                    const char* call = "fallocate") noexcept;
// Gives the pages of [offset, offset + length) back to the kernel; they read as zeros afterwards.
// Only a hint: it cannot fail in a way the caller could act on.
void punch_hole(int fd, std::size_t offset, std::size_t length) noexcept;
[[nodiscard]] Result<std::size_t> file_size(int fd, const char* call = "fstat") noexcept;

// A file's identity (device and inode: unique among the files that are open, an inode number is
// reused only once its file is gone) and its size.
struct FileStatus {
    std::uint64_t device;
    std::uint64_t inode;
    std::size_t size;
};
[[nodiscard]] Result<FileStatus> file_status(int fd, const char* call = "fstat") noexcept;
// Whether two descriptors refer to one file; false if either cannot be looked at.
bool same_file(int a, int b) noexcept;

// The soft file-size limit in bytes (what EFBIG from set_file_size or extend_file ran into);
// nothing when there is none.
std::optional<std::uint64_t> file_size_limit() noexcept;

}  // namespace mproc::os
