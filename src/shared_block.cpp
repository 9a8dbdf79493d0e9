#include <mproc/detail/shared_block.hpp>

#include <cstring>
#include <string>

#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

#include "os/file.hpp"
#include "os/memfd.hpp"
#include "os_error.hpp"

namespace mproc::detail {
namespace {
// No shared object maps more than this (a queue's spill area is the largest reservation).
constexpr std::uint64_t max_mapping = std::uint64_t{1} << 40;
}  // namespace

SharedBlock SharedBlock::create(const char* debug_name, std::size_t size, std::size_t reserve) {
    auto mapping = std::make_shared<os::MappedMemfd>(or_throw(os::MappedMemfd::create(debug_name, size, reserve)));
    SharedBlock block;
    block.data_ = mapping->data();
    block.mapped_size_ = mapping->mapped_size();
    block.region_ = std::move(mapping);
    return block;
}

SharedBlock SharedBlock::attach(int borrowed_fd, std::size_t reserve) {
    auto fd = or_throw(os::duplicate_fd_cloexec(borrowed_fd), "fcntl(F_DUPFD_CLOEXEC) of a received shared object");
    auto mapping = std::make_shared<os::MappedMemfd>(or_throw(os::MappedMemfd::attach(std::move(fd), reserve)));
    SharedBlock block;
    block.data_ = mapping->data();
    block.mapped_size_ = mapping->mapped_size();
    block.region_ = std::move(mapping);
    return block;
}

int SharedBlock::fd() const noexcept { return region_ ? region_->fd() : -1; }

std::size_t SharedBlock::file_size() const { return region_ ? or_throw(region_->file.size()) : 0; }

void SharedBlock::grow_file(std::size_t offset, std::size_t length) const {
    // fallocate never shrinks the file, so concurrent growers cannot undo each other.
    or_throw(os::extend_file(region_->fd(), offset, length, "fallocate(memfd)"));
}

void SharedBlock::discard(std::size_t offset, std::size_t length) const noexcept {
    os::punch_hole(region_->fd(), offset, length);
}

void SharedBlock::encode(Writer& out) const {
    if (!region_) throw SerializationError("mproc: cannot send a closed or empty shared object");
    out.write_value(out.attach_fd(region_->fd()));
    out.write_value(static_cast<std::uint64_t>(mapped_size_));
}

SharedBlock SharedBlock::decode(Reader& in, std::size_t min_file_size) {
    const auto index = in.read_value<std::uint32_t>();
    const auto mapped = in.read_value<std::uint64_t>();
    if (mapped > max_mapping) in.fail("shared object mapping size out of range");
    const int fd = in.fd(index);
    SharedBlock block = attach(fd, static_cast<std::size_t>(mapped));
    if (block.file_size() < min_file_size || block.mapped_size() < min_file_size)
        in.fail("shared object is smaller than its layout");
    return block;
}

void init_header(std::byte* block, ObjectKind kind, std::uint32_t element_size,
                 std::uint32_t element_align) noexcept {
    const ObjectHeader header{ObjectHeader::expected_magic, kind, 0, element_size, element_align};
    std::memcpy(block, &header, sizeof header);
}

void check_header(const SharedBlock& block, ObjectKind kind, const char* what,
                  std::uint32_t element_size, std::uint32_t element_align) {
    ObjectHeader header;
    std::memcpy(&header, block.data(), sizeof header);
    if (header.magic != ObjectHeader::expected_magic || header.kind != kind ||
        header.element_size != element_size || header.element_align != element_align)
        throw SerializationError(std::string("mproc: cannot decode message: the shared object received is not a ") +
                                 what + " of this type");
}

}  // namespace mproc::detail
