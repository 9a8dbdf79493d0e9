// Sole owner of one shared mapping of a file into this process: unmapped when destroyed.
#pragma once

#include <cstddef>

#include "os/result.hpp"

namespace mproc::os {

class Mapping {
public:
    enum class Access { read_write, read_only };

    // Maps the first `size` bytes of `fd` (MAP_SHARED, MAP_NORESERVE). Mapping past the end of the
    // file is allowed; those pages fault only once the file grows. `call` names the call in errors.
    static Result<Mapping> map_shared(int fd, std::size_t size, Access access = Access::read_write,
                                      const char* call = "mmap");

    Mapping() = default;
    Mapping(Mapping&& other) noexcept;
    Mapping& operator=(Mapping&& other) noexcept;
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping();

    std::byte* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    explicit operator bool() const noexcept { return data_ != nullptr; }

    // Replaces this mapping of `fd`, in place, with a read-only one.
    [[nodiscard]] SysResult remap_read_only(int fd, const char* call = "mmap") noexcept;

private:
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

// Asks for transparent huge pages for the whole pages within [data, data + bytes): fewer page
// faults and TLB misses over a large block. Only a hint: on kernels without them nothing happens.
void advise_huge_pages(void* data, std::size_t bytes) noexcept;

}  // namespace mproc::os
