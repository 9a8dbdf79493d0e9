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
    // Maps an existing region received as a descriptor (takes ownership of fd).
    static SharedRegion attach(UniqueFd fd, std::size_t size);

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
