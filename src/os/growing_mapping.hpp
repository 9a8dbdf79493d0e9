// One process's mapping of a shared file that only ever grows: an area that is large at most and
// small mostly (a ring's spill area, sized for the largest message allowed) then costs address
// space and memory only for what has been used, and a program under an address-space limit
// (RLIMIT_AS) can still make pools.
#pragma once

#include <cstddef>
#include <string>

#include "os/unique_fd.hpp"

namespace mproc::os {

// A new, empty, unnamed shared file, sealed so that it can grow but never shrink: a process that
// maps part of it never finds that part gone (SIGBUS), whatever another process does to the file.
[[nodiscard]] UniqueFd create_growing_file(const std::string& debug_name);

class GrowingMapping {
public:
    GrowingMapping() = default;
    // Maps nothing yet. `fd` is not owned: it must outlive the mapping.
    explicit GrowingMapping(int fd) noexcept : fd_(fd) {}
    GrowingMapping(GrowingMapping&& other) noexcept;
    GrowingMapping& operator=(GrowingMapping&& other) noexcept;
    GrowingMapping(const GrowingMapping&) = delete;
    GrowingMapping& operator=(const GrowingMapping&) = delete;
    ~GrowingMapping();

    // The file's first `size` bytes, mapped in this process; the mapping may move when it grows.
    // grow_file: the file is grown to `size` first if it is shorter (only the file's one writer
    // may). Otherwise nullptr if the file is shorter than `size`.
    enum class Mode { grow_file, existing };
    [[nodiscard]] std::byte* at_least(std::size_t size, Mode mode);

private:
    int fd_ = -1;
    std::byte* data_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace mproc::os
