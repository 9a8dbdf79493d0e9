#include <mproc/serialize.hpp>

#include <sys/mman.h>

#include <cstdint>

namespace mproc::detail {

void prepare_large_block(void* data, std::size_t bytes) noexcept {
    constexpr std::uintptr_t page = 4096;
    const auto begin = (reinterpret_cast<std::uintptr_t>(data) + page - 1) & ~(page - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(page - 1);
    // Only a hint: on kernels without transparent huge pages this fails harmlessly.
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace mproc::detail
