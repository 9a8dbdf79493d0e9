// Memory shared between processes, backed by an anonymous memfd: it has no name anywhere, so it
// can never be left behind; the kernel frees it when the last process holding its descriptor or
// a mapping of it is gone.
#pragma once

#include <cstddef>
#include <string>

#include "os/unique_fd.hpp"

namespace mproc::os {

class SharedRegion {
public:
    SharedRegion() = default;
    // A new zero-filled region of `size` bytes. Pages are allocated when first touched, so a
    // large, mostly unused region costs address space, not memory. `debug_name` shows in
    // /proc/<pid>/maps.
    static SharedRegion create(const std::string& debug_name, std::size_t size);
    // As create(), but only this mapping may write: the file is sealed, so that any other
    // process (however it got the descriptor) can map it read-only and nothing else. For
    // memory that the creator trusts and other processes only read.
    static SharedRegion create_writable_here_only(const std::string& debug_name, std::size_t size);
    // Maps an existing region received as a descriptor (takes ownership of fd).
    enum class Access { read_write, read_only };
    static SharedRegion attach(UniqueFd fd, std::size_t size, Access access = Access::read_write);

    // In a forked child of the creator of a create_writable_here_only region: replaces the
    // inherited writable mapping, in place, with a read-only one that cannot be made writable.
    void make_read_only_here();

    SharedRegion(SharedRegion&& other) noexcept;
    SharedRegion& operator=(SharedRegion&& other) noexcept;
    ~SharedRegion();

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    int fd() const noexcept { return fd_.get(); }

private:
    UniqueFd fd_;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace mproc::os
