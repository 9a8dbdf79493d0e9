// The mappings of received shared objects, kept for the next time the same object arrives: a pool
// worker that is sent one object task after task maps it once, and its pages, once faulted in,
// stay so. Off until enable_mapping_cache() (pool workers turn it on): elsewhere every received
// object is mapped afresh, and no descriptor or mapping outlives the handles the program holds.
//
// Entries are keyed by the file's identity (device, inode). An entry holds the file's descriptor,
// so its inode cannot be freed and reused for another file while the entry lives. An entry is
// dropped when the object's creator has let go of it (ObjectHeader::released), seen at the next
// lookup or sweep, and the least recently used is dropped beyond `mapping_cache_capacity`
// entries: memory stays bounded even when creators never let go (a creator that was killed).
// Dropping an entry never invalidates a handle: handles hold the mapping too.
//
// Thread-safe; held across fork, so that a forked child inherits a consistent cache whose
// descriptors and mappings (inherited too) are its own.
#pragma once

#include <cstddef>
#include <memory>

namespace mproc::os {
struct MappedMemfd;
}

namespace mproc::detail {

inline constexpr std::size_t mapping_cache_capacity = 32;

// Turns the cache on for the rest of this process's life.
void enable_mapping_cache();

struct ReceivedBlock {
    std::shared_ptr<os::MappedMemfd> mapping;
    std::size_t file_size;  // the file's size as this call found it
};

// This process's mapping of the shared block whose descriptor `borrowed_fd` is (the caller keeps
// it), covering the whole file and at least `reserve` bytes: the cached one when there is one
// large enough, otherwise a new one over a duplicate of the descriptor (then cached, unless off
// or already released by its creator). Throws OSError when the file cannot be mapped.
[[nodiscard]] ReceivedBlock map_received_block(int borrowed_fd, std::size_t reserve);

// Drops the entries whose creators have let go of them; whether any are left.
bool sweep_released_mappings();

}  // namespace mproc::detail
