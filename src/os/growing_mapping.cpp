#include "os/growing_mapping.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "os/syscall.hpp"

namespace mproc::os {

UniqueFd create_growing_file(const std::string& debug_name) {
    UniqueFd fd(sys_call([&] { return ::memfd_create(debug_name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING); })
                    .or_throw("memfd_create"));
    sys_call([&] { return ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL); })
        .or_throw("fcntl(F_ADD_SEALS)");
    return fd;
}

GrowingMapping::GrowingMapping(GrowingMapping&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

GrowingMapping& GrowingMapping::operator=(GrowingMapping&& other) noexcept {
    if (this != &other) {
        if (data_) ::munmap(data_, size_);
        fd_ = std::exchange(other.fd_, -1);
        data_ = std::exchange(other.data_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

GrowingMapping::~GrowingMapping() {
    if (data_) ::munmap(data_, size_);
}

std::byte* GrowingMapping::at_least(std::size_t size, Mode mode) {
    if (size <= size_) return data_;
    struct stat file {};
    sys_call([&] { return ::fstat(fd_, &file); }).or_throw("fstat(memfd)");
    auto file_size = static_cast<std::size_t>(file.st_size);
    if (file_size < size) {
        if (mode == Mode::existing) return nullptr;
        if (const auto sized = set_file_size(fd_, size); !sized) throw_file_size_error("ftruncate(memfd)", sized.error);
        file_size = size;
    }
    // The whole file: a peer may have grown it for a larger message, which is likely to come again.
    void* data = ::mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_, 0);
    if (data == MAP_FAILED) throw_os_error("mmap(memfd)", errno);
    if (data_) ::munmap(data_, size_);
    data_ = static_cast<std::byte*>(data);
    size_ = file_size;
    return data_;
}

}  // namespace mproc::os
