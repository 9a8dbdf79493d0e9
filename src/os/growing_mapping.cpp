#include "os/growing_mapping.hpp"

#include "os/file.hpp"

namespace mproc::os {

Result<std::byte*> GrowingMapping::at_least(std::size_t size, Mode mode) {
    if (size <= mapping_.size()) return mapping_.data();
    const auto current = file_size(fd_, "fstat(memfd)");
    if (!current) return current.error();
    std::size_t whole = current.value();
    if (whole < size) {
        if (mode == Mode::existing) return static_cast<std::byte*>(nullptr);
        if (const auto sized = set_file_size(fd_, size, "ftruncate(memfd)"); !sized) return sized.error();
        whole = size;
    }
    // The whole file: a peer may have grown it for a larger message, which is likely to come again.
    auto mapping = Mapping::map_shared(fd_, whole, Mapping::Access::read_write, "mmap(memfd)");
    if (!mapping) return mapping.error();
    mapping_ = std::move(mapping).value();
    return mapping_.data();
}

}  // namespace mproc::os
