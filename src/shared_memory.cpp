// Named shared memory segments (mproc/shared_memory.hpp), on shm_open.
#include <mproc/shared_memory.hpp>

#include <cerrno>
#include <random>
#include <stdexcept>

#include <mproc/serialize.hpp>

#include "os/file.hpp"
#include "os/mapping.hpp"
#include "os/named_memory.hpp"
#include "os/unique_fd.hpp"
#include "os_error.hpp"
#include "resource_tracker.hpp"

namespace mproc {

struct SharedMemory::Impl {
    std::string name;  // without the leading '/'
    os::UniqueFd fd;
    std::optional<os::Mapping> mapping;
    std::size_t size = 0;
    bool track = true;
};

namespace {

constexpr std::size_t max_name_length = 255;

std::string checked_name(std::string name) {
    if (!name.empty() && name.front() == '/') name.erase(0, 1);
    if (name.empty() || name.size() > max_name_length || name.find('/') != std::string::npos || name == "." ||
        name == "..")
        throw std::invalid_argument("mproc::SharedMemory: invalid name \"" + name +
                                    "\": give 1 to 255 characters without '/'");
    return name;
}

std::string fresh_name() {
    static thread_local std::mt19937_64 random{std::random_device{}()};
    static const char digits[] = "0123456789abcdef";
    std::string name = "psm_";
    std::uint64_t bits = random();
    for (int i = 0; i < 8; ++i, bits >>= 4) name += digits[bits & 15];
    return name;
}

std::shared_ptr<SharedMemory::Impl> map(std::string name, os::UniqueFd fd, bool track) {
    auto impl = std::make_shared<SharedMemory::Impl>();
    impl->name = std::move(name);
    impl->size = detail::or_throw(os::file_size(fd.get(), "fstat(memfd)"));
    if (impl->size == 0) detail::throw_os_error({"mmap(memfd): empty block", EINVAL});
    impl->mapping.emplace(
        detail::or_throw(os::Mapping::map_shared(fd.get(), impl->size, os::Mapping::Access::read_write, "mmap(memfd)")));
    impl->fd = std::move(fd);
    impl->track = track;
    return impl;
}

std::shared_ptr<SharedMemory::Impl> create_segment(const std::string& name, std::size_t size, bool track) {
    const std::string path = "/" + name;
    auto opened = os::create_named_memory(path.c_str());
    if (!opened) detail::throw_os_error(opened.error(), "SharedMemory: cannot create \"" + name + "\"");
    os::UniqueFd fd = std::move(opened).value();
    if (const auto sized = os::set_file_size(fd.get(), size); !sized) {
        (void)os::unlink_named_memory(path.c_str());
        detail::throw_os_error(sized.error(), "SharedMemory: cannot size \"" + name + "\"");
    }
    try {
        auto impl = map(name, std::move(fd), track);
        // Registered once it exists (as in Python): registering first could have the tracker
        // unlink another program's segment of that name if creating it failed.
        if (track) detail::track_segment(name);
        return impl;
    } catch (...) {
        (void)os::unlink_named_memory(path.c_str());
        throw;
    }
}

}  // namespace

SharedMemory SharedMemory::create(std::size_t size, SharedMemoryOptions options) {
    if (size == 0) throw std::invalid_argument("mproc::SharedMemory: size must be positive");
    for (;;) {
        try {
            return SharedMemory(create_segment(fresh_name(), size, options.track));
        } catch (const OSError& error) {
            if (error.code() != EEXIST) throw;
        }
    }
}

SharedMemory SharedMemory::create(const std::string& name, std::size_t size, SharedMemoryOptions options) {
    if (size == 0) throw std::invalid_argument("mproc::SharedMemory: size must be positive");
    return SharedMemory(create_segment(checked_name(name), size, options.track));
}

SharedMemory::SharedMemory(const std::string& name, SharedMemoryOptions options) {
    const std::string checked = checked_name(name);
    const std::string path = "/" + checked;
    auto opened = os::open_named_memory(path.c_str());
    if (!opened) detail::throw_os_error(opened.error(), "SharedMemory: cannot attach to \"" + checked + "\"");
    impl_ = map(checked, std::move(opened).value(), options.track);
}

SharedMemory::SharedMemory(std::optional<std::string> name, bool create, std::size_t size, SharedMemoryOptions options)
    : SharedMemory(create ? (name ? SharedMemory::create(*name, size, options) : SharedMemory::create(size, options))
                          : SharedMemory(name ? *name : throw std::invalid_argument(
                                                                "mproc::SharedMemory: a name is needed to attach"),
                                         options)) {}

SharedMemory::Impl& SharedMemory::impl() const {
    if (closed()) throw StateError("mproc::SharedMemory: the segment is closed in this process");
    return *impl_;
}

const std::string& SharedMemory::name() const { return impl_->name; }
std::size_t SharedMemory::size() const { return impl().size; }
std::span<std::byte> SharedMemory::buf() const {
    auto& state = impl();
    return {state.mapping->data(), state.size};
}

void SharedMemory::close() noexcept {
    if (impl_) {
        impl_->mapping.reset();
        impl_->fd.reset();
    }
}
bool SharedMemory::closed() const noexcept { return !impl_ || !impl_->mapping; }

void SharedMemory::unlink() {
    const std::string path = "/" + impl_->name;
    const auto unlinked = os::unlink_named_memory(path.c_str());
    // Gone either way: the tracker must not unlink a segment created later under the same name.
    if (impl_->track && (unlinked || unlinked.error().code == ENOENT)) detail::untrack_segment(impl_->name);
    detail::or_throw(unlinked, "SharedMemory: cannot unlink \"" + impl_->name + "\"");
}

void Codec<SharedMemory>::encode(Writer& out, const SharedMemory& memory) {
    auto& impl = memory.impl();
    mproc::encode(out, impl.name);
    out.write_value(static_cast<std::uint8_t>(impl.track));
    out.write_value(out.attach_fd(impl.fd.get()));
}

SharedMemory Codec<SharedMemory>::decode(Reader& in) {
    auto name = mproc::decode<std::string>(in);
    const auto track = in.read_value<std::uint8_t>();
    if (track > 1) in.fail("invalid SharedMemory track flag");
    const int borrowed = in.fd(in.read_value<std::uint32_t>());
    auto fd = detail::or_throw(os::duplicate_fd_cloexec(borrowed), "fcntl(F_DUPFD_CLOEXEC) of a received SharedMemory");
    return SharedMemory(map(std::move(name), std::move(fd), track == 1));
}

}  // namespace mproc
