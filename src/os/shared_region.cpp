#include "os/shared_region.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "os/syscall.hpp"

namespace mproc::os {

SharedRegion SharedRegion::create(const std::string& debug_name, std::size_t size) {
    UniqueFd fd(sys_call([&] { return ::memfd_create(debug_name.c_str(), MFD_CLOEXEC); })
                    .or_throw("memfd_create"));
    if (const auto sized = set_file_size(fd.get(), size); !sized) throw_file_size_error("ftruncate(memfd)", sized.error);
    return attach(std::move(fd), size);
}

SharedRegion SharedRegion::attach(UniqueFd fd, std::size_t size) {
    void* data = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd.get(), 0);
    if (data == MAP_FAILED) throw_os_error("mmap(memfd)", errno);
    SharedRegion region;
    region.fd_ = std::move(fd);
    region.data_ = static_cast<std::byte*>(data);
    region.size_ = size;
    return region;
}

SharedRegion::SharedRegion(SharedRegion&& other) noexcept
    : fd_(std::move(other.fd_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SharedRegion& SharedRegion::operator=(SharedRegion&& other) noexcept {
    if (this != &other) {
        if (data_) ::munmap(data_, size_);
        fd_ = std::move(other.fd_);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

SharedRegion::~SharedRegion() {
    if (data_) ::munmap(data_, size_);
}

}  // namespace mproc::os
