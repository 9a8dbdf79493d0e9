// One process's mapping of a shared file that only ever grows: an area that is large at most and
// small mostly (a ring's spill area, sized for the largest message allowed) then costs address
// space and memory only for what has been used, and a program under an address-space limit
// (RLIMIT_AS) can still make pools. The file comes from create_growing_file (os/memfd.hpp).
#pragma once

#include <cstddef>

#include "os/mapping.hpp"
#include "os/memfd.hpp"
#include "os/result.hpp"

namespace mproc::os {

class GrowingMapping {
public:
    GrowingMapping() = default;
    // Maps nothing yet. `fd` is not owned: it must outlive the mapping.
    explicit GrowingMapping(int fd) noexcept : fd_(fd) {}

    // The file's first `size` bytes, mapped in this process; the mapping may move when it grows.
    // grow_file: the file is grown to `size` first if it is shorter (only the file's one writer
    // may). Otherwise nullptr if the file is shorter than `size`.
    enum class Mode { grow_file, existing };
    [[nodiscard]] Result<std::byte*> at_least(std::size_t size, Mode mode);

private:
    int fd_ = -1;
    Mapping mapping_;
};

}  // namespace mproc::os
