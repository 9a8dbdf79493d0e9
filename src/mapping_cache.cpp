#include "mapping_cache.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include <mproc/detail/shared_block.hpp>

#include "os/child_process.hpp"
#include "os/file.hpp"
#include "os/memfd.hpp"
#include "os_error.hpp"

namespace mproc::detail {
namespace {

using MappingPointer = std::shared_ptr<os::MappedMemfd>;

struct Entry {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::uint64_t last_used = 0;
    MappingPointer mapping;
};

struct Cache {
    std::atomic<bool> enabled{false};
    std::mutex mutex;
    std::vector<Entry> entries;
    std::uint64_t clock = 0;

    Entry* find(const os::FileStatus& file) {
        for (auto& entry : entries)
            if (entry.device == file.device && entry.inode == file.inode) return &entry;
        return nullptr;
    }

    // Moves the mappings of released blocks into `dropped`, to be unmapped once the lock is let go.
    void take_released(std::vector<MappingPointer>& dropped) {
        std::erase_if(entries, [&](Entry& entry) {
            if (!creator_released(entry.mapping->data())) return false;
            dropped.push_back(std::move(entry.mapping));
            return true;
        });
    }
};

// Never destroyed: a static destructor could run while another thread still decodes.
Cache& the_cache() {
    static Cache* const cache = new Cache;
    return *cache;
}

MappingPointer map_afresh(int borrowed_fd, std::size_t reserve) {
    auto fd = or_throw(os::duplicate_fd_cloexec(borrowed_fd), "fcntl(F_DUPFD_CLOEXEC) of a received shared object");
    return std::make_shared<os::MappedMemfd>(or_throw(os::MappedMemfd::attach(std::move(fd), reserve)));
}

}  // namespace

void enable_mapping_cache() {
    Cache& cache = the_cache();
    if (cache.enabled.exchange(true)) return;
    os::hold_across_fork([] { the_cache().mutex.lock(); }, [] { the_cache().mutex.unlock(); });
}

ReceivedBlock map_received_block(int borrowed_fd, std::size_t reserve) {
    Cache& cache = the_cache();
    const auto file = or_throw(os::file_status(borrowed_fd), "fstat of a received shared object");
    if (!cache.enabled.load(std::memory_order_relaxed)) return {map_afresh(borrowed_fd, reserve), file.size};
    std::vector<MappingPointer> dropped;
    {
        const std::lock_guard lock(cache.mutex);
        cache.take_released(dropped);
        if (Entry* entry = cache.find(file); entry && entry->mapping->mapped_size() >= std::max(file.size, reserve)) {
            entry->last_used = ++cache.clock;
            return {entry->mapping, file.size};
        }
    }
    MappingPointer mapping = map_afresh(borrowed_fd, reserve);
    // A file too small for its header is no shared object (decode refuses it); reading the flag
    // past its end would fault.
    if (file.size < sizeof(ObjectHeader) || creator_released(mapping->data())) return {mapping, file.size};
    const std::lock_guard lock(cache.mutex);
    Entry* slot = cache.find(file);
    if (!slot && cache.entries.size() < mapping_cache_capacity) slot = &cache.entries.emplace_back();
    if (!slot) slot = &*std::ranges::min_element(cache.entries, {}, &Entry::last_used);
    dropped.push_back(std::move(slot->mapping));
    *slot = Entry{file.device, file.inode, ++cache.clock, mapping};
    return {mapping, file.size};
}

bool sweep_released_mappings() {
    Cache& cache = the_cache();
    if (!cache.enabled.load(std::memory_order_relaxed)) return false;
    std::vector<MappingPointer> dropped;
    const std::lock_guard lock(cache.mutex);
    cache.take_released(dropped);
    return !cache.entries.empty();
}

}  // namespace mproc::detail
