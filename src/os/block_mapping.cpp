#include "os/block_mapping.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "os/syscall.hpp"

namespace mproc::os {

BlockMapping BlockMapping::create(const char* debug_name, std::size_t size, std::size_t reserve) {
    UniqueFd fd(sys_call([&] { return ::memfd_create(debug_name, MFD_CLOEXEC); }).or_throw("memfd_create"));
    if (const auto sized = set_file_size(fd.get(), size); !sized) throw_file_size_error("ftruncate(memfd)", sized.error);
    return attach(std::move(fd), reserve);
}

BlockMapping BlockMapping::attach(UniqueFd fd, std::size_t reserve) {
    BlockMapping mapping;
    mapping.fd_ = std::move(fd);
    const std::size_t size = std::max(mapping.file_size(), reserve);
    if (size == 0) throw_os_error("mmap(memfd): empty block", EINVAL);
    // Mapping past the end of the file is allowed; those pages fault only once the file grows.
    void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mapping.fd_.get(), 0);
    if (data == MAP_FAILED) throw_os_error("mmap(memfd)", errno);
    mapping.data_ = static_cast<std::byte*>(data);
    mapping.mapped_size_ = size;
    return mapping;
}

BlockMapping::BlockMapping(BlockMapping&& other) noexcept
    : fd_(std::move(other.fd_)),
      data_(std::exchange(other.data_, nullptr)),
      mapped_size_(std::exchange(other.mapped_size_, 0)) {}

BlockMapping::~BlockMapping() {
    if (data_) ::munmap(data_, mapped_size_);
}

std::size_t BlockMapping::file_size() const {
    struct stat status {};
    sys_call([&] { return ::fstat(fd_.get(), &status); }).or_throw("fstat(memfd)");
    return static_cast<std::size_t>(status.st_size);
}

}  // namespace mproc::os
