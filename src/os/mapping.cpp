#include "os/mapping.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <utility>

namespace mproc::os {

Result<Mapping> Mapping::map_shared(int fd, std::size_t size, Access access, const char* call) {
    const int protection = access == Access::read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    void* data = ::mmap(nullptr, size, protection, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (data == MAP_FAILED) return SysError{call, errno};
    Mapping mapping;
    mapping.data_ = static_cast<std::byte*>(data);
    mapping.size_ = size;
    return mapping;
}

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
    if (this != &other) {
        if (data_) ::munmap(data_, size_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

Mapping::~Mapping() {
    if (data_) ::munmap(data_, size_);
}

SysResult Mapping::remap_read_only(int fd, const char* call) noexcept {
    if (::mmap(data_, size_, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) return SysError{call, errno};
    return {};
}

void advise_huge_pages(void* data, std::size_t bytes) noexcept {
    constexpr std::uintptr_t page = 4096;
    const auto begin = (reinterpret_cast<std::uintptr_t>(data) + page - 1) & ~(page - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(page - 1);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
}

}  // namespace mproc::os
