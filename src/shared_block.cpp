#include <mproc/detail/shared_block.hpp>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <string>

#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

#include "mapping_cache.hpp"
#include "os/file.hpp"
#include "os/memfd.hpp"
#include "os/process_ids.hpp"
#include "os_error.hpp"

namespace mproc::detail {
namespace {
// No shared object maps more than this (a queue's spill area is the largest reservation).
constexpr std::uint64_t max_mapping = std::uint64_t{1} << 40;
}  // namespace

SharedBlock SharedBlock::create(const char* debug_name, std::size_t size, std::size_t reserve) {
    // Only the creating process marks the block released: a forked child drops copies of the
    // creator's handles that the creator still holds.
    const int creator = os::this_process_id();
    std::shared_ptr<os::MappedMemfd> mapping(
        new os::MappedMemfd(or_throw(os::MappedMemfd::create(debug_name, size, reserve))),
        [creator](os::MappedMemfd* owned) {
            if (os::this_process_id() == creator) mark_creator_released(owned->data());
            delete owned;
        });
    SharedBlock block;
    block.data_ = mapping->data();
    block.mapped_size_ = mapping->mapped_size();
    block.size_when_mapped_ = size;
    block.region_ = std::move(mapping);
    return block;
}

SharedBlock SharedBlock::attach(int borrowed_fd, std::size_t reserve) {
    auto received = map_received_block(borrowed_fd, reserve);
    SharedBlock block;
    block.data_ = received.mapping->data();
    block.mapped_size_ = received.mapping->mapped_size();
    block.size_when_mapped_ = received.file_size;
    block.region_ = std::move(received.mapping);
    return block;
}

int SharedBlock::fd() const noexcept { return region_ ? region_->fd() : -1; }

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
    if (block.size_when_mapped() < min_file_size || block.mapped_size() < min_file_size)
        in.fail("shared object is smaller than its layout");
    return block;
}

namespace {
std::atomic_ref<std::uint16_t> released_flag(const std::byte* block) noexcept {
    static_assert(std::atomic_ref<std::uint16_t>::is_always_lock_free, "the released flag is shared between processes");
    static_assert(offsetof(ObjectHeader, released) % std::atomic_ref<std::uint16_t>::required_alignment == 0);
    // The flag lives in shared memory that every process may write: atomic_ref needs it non-const.
    auto* header = reinterpret_cast<ObjectHeader*>(const_cast<std::byte*>(block));
    return std::atomic_ref<std::uint16_t>(header->released);
}
}  // namespace

bool creator_released(const std::byte* block) noexcept {
    return released_flag(block).load(std::memory_order_relaxed) != 0;
}

void mark_creator_released(std::byte* block) noexcept { released_flag(block).store(1, std::memory_order_relaxed); }

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
