// Unnamed shared files (memfd): the memory behind mproc's shared objects, pools and bootstraps.
// A memfd has no name anywhere, so it can never be left behind: the kernel frees it when the last
// process holding its descriptor or a mapping of it is gone. Pages are allocated when first
// touched, so a large, mostly unused file costs address space, not memory.
#pragma once

#include <cstddef>
#include <utility>

#include "os/mapping.hpp"
#include "os/result.hpp"
#include "os/unique_fd.hpp"

namespace mproc::os {

// Sole owner of a memfd's descriptor.
class Memfd {
public:
    enum class Sealing { none, allowed };
    // A new zero-filled file of `size` bytes, close-on-exec. `debug_name` shows in
    // /proc/<pid>/maps.
    static Result<Memfd> create(const char* debug_name, std::size_t size, Sealing sealing = Sealing::none);

    Memfd() = default;
    // One received from another process.
    explicit Memfd(UniqueFd fd) noexcept : fd_(std::move(fd)) {}

    int fd() const noexcept { return fd_.get(); }
    explicit operator bool() const noexcept { return static_cast<bool>(fd_); }
    // Its current size (another process may have grown it).
    [[nodiscard]] Result<std::size_t> size() const noexcept;
    // F_ADD_SEALS; the file must have been created with Sealing::allowed.
    [[nodiscard]] SysResult add_seals(int seals) const noexcept;
    UniqueFd release() noexcept { return std::move(fd_); }

private:
    UniqueFd fd_;
};

// A memfd and this process's mapping of it, which may be larger than the file: a reservation the
// file can grow into without the mapping moving.
struct MappedMemfd {
    Memfd file;
    Mapping mapping;

    // A new zero-filled memfd of `size` bytes, mapped over max(size, reserve) bytes.
    static Result<MappedMemfd> create(const char* debug_name, std::size_t size, std::size_t reserve = 0);
    // As create(), but only this mapping may write: the file is sealed, so that any other process
    // (however it got the descriptor) can map it read-only and nothing else. For memory that the
    // creator trusts and other processes only read.
    static Result<MappedMemfd> create_writable_here_only(const char* debug_name, std::size_t size);
    // Maps a memfd received from another process (takes ownership of fd) over max(its size,
    // reserve) bytes. EINVAL if that is nothing.
    static Result<MappedMemfd> attach(UniqueFd fd, std::size_t reserve,
                                      Mapping::Access access = Mapping::Access::read_write);

    // In a forked child of the creator of a create_writable_here_only memfd: replaces the inherited
    // writable mapping, in place, with a read-only one that cannot be made writable.
    [[nodiscard]] SysResult make_read_only_here() noexcept;

    std::byte* data() const noexcept { return mapping.data(); }
    std::size_t mapped_size() const noexcept { return mapping.size(); }
    int fd() const noexcept { return file.fd(); }
};

// A new, empty memfd, sealed so that it can grow but never shrink: a process that maps part of it
// never finds that part gone (SIGBUS), whatever another process does to the file.
[[nodiscard]] Result<UniqueFd> create_growing_file(const char* debug_name);

}  // namespace mproc::os
