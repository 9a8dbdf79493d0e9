#include "os/memfd.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>

#include "os/file.hpp"
#include "os/syscall.hpp"

namespace mproc::os {

Result<Memfd> Memfd::create(const char* debug_name, std::size_t size, Sealing sealing) {
    const unsigned flags = MFD_CLOEXEC | (sealing == Sealing::allowed ? MFD_ALLOW_SEALING : 0u);
    auto fd = sys_call("memfd_create", [&] { return ::memfd_create(debug_name, flags); });
    if (!fd) return fd.error();
    Memfd file(UniqueFd(fd.value()));
    if (size != 0)
        if (auto sized = set_file_size(file.fd(), size, "ftruncate(memfd)"); !sized) return sized.error();
    return file;
}

Result<std::size_t> Memfd::size() const noexcept { return file_size(fd(), "fstat(memfd)"); }

SysResult Memfd::add_seals(int seals) const noexcept {
    return sys_check("fcntl(F_ADD_SEALS)", [&] { return ::fcntl(fd(), F_ADD_SEALS, seals); });
}

Result<MappedMemfd> MappedMemfd::create(const char* debug_name, std::size_t size, std::size_t reserve) {
    auto file = Memfd::create(debug_name, size);
    if (!file) return file.error();
    return attach(std::move(file).value().release(), reserve);
}

Result<MappedMemfd> MappedMemfd::create_writable_here_only(const char* debug_name, std::size_t size) {
    auto file = Memfd::create(debug_name, size, Memfd::Sealing::allowed);
    if (!file) return file.error();
    auto mapping = Mapping::map_shared(file.value().fd(), size, Mapping::Access::read_write, "mmap(memfd)");
    if (!mapping) return mapping.error();
    MappedMemfd mapped{std::move(file).value(), std::move(mapping).value()};
    // Mappings made before the seal keep their write access; every later one is read-only.
    constexpr int seals = F_SEAL_FUTURE_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    if (const auto sealed = mapped.file.add_seals(seals); !sealed) return sealed.error();
    return mapped;
}

Result<MappedMemfd> MappedMemfd::attach(UniqueFd fd, std::size_t reserve, Mapping::Access access) {
    Memfd file(std::move(fd));
    const auto file_size = file.size();
    if (!file_size) return file_size.error();
    const std::size_t size = std::max(file_size.value(), reserve);
    if (size == 0) return SysError{"mmap(memfd): empty block", EINVAL};
    auto mapping = Mapping::map_shared(file.fd(), size, access, "mmap(memfd)");
    if (!mapping) return mapping.error();
    return MappedMemfd{std::move(file), std::move(mapping).value()};
}

SysResult MappedMemfd::make_read_only_here() noexcept { return mapping.remap_read_only(fd(), "mmap(memfd, read-only)"); }

Result<UniqueFd> create_growing_file(const char* debug_name) {
    auto file = Memfd::create(debug_name, 0, Memfd::Sealing::allowed);
    if (!file) return file.error();
    if (const auto sealed = file.value().add_seals(F_SEAL_SHRINK | F_SEAL_SEAL); !sealed) return sealed.error();
    return std::move(file).value().release();
}

}  // namespace mproc::os
