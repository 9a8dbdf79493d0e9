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

SharedRegion SharedRegion::create_writable_here_only(const std::string& debug_name, std::size_t size) {
    UniqueFd fd(sys_call([&] { return ::memfd_create(debug_name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING); })
                    .or_throw("memfd_create"));
    if (const auto sized = set_file_size(fd.get(), size); !sized) throw_file_size_error("ftruncate(memfd)", sized.error);
    SharedRegion region = attach(std::move(fd), size);
    // Mappings made before the seal keep their write access; every later one is read-only.
    constexpr int seals = F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    sys_call([&] { return ::fcntl(region.fd(), F_ADD_SEALS, seals); }).or_throw("fcntl(F_ADD_SEALS)");
    return region;
}

void SharedRegion::make_read_only_here() {
    void* data = ::mmap(data_, size_, PROT_READ, MAP_SHARED | MAP_FIXED, fd_.get(), 0);
    if (data == MAP_FAILED) throw_os_error("mmap(memfd, read-only)", errno);
}

SharedRegion SharedRegion::attach(UniqueFd fd, std::size_t size, Access access) {
    const int protection = access == Access::read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    void* data = ::mmap(nullptr, size, protection, MAP_SHARED | MAP_NORESERVE, fd.get(), 0);
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
