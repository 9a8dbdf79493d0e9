#include "os/code_modules.hpp"

#include <link.h>

#include <array>
#include <atomic>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace mproc::os {
namespace {

struct Segment {
    std::uintptr_t start, end;
};

struct Module {
    std::string name;
    std::uintptr_t base;
    std::vector<Segment> executable;

    bool contains(std::uintptr_t address) const {
        for (const auto& segment : executable)
            if (address >= segment.start && address < segment.end) return true;
        return false;
    }
};

// The loaded modules as last seen. Looking them up through dl_iterate_phdr on every task costs
// microseconds and takes the loader's lock, so lookups use an immutable snapshot, rebuilt only
// when an address or name is not found (a module was loaded since). Snapshots are published
// atomically and never freed, so readers need no lock: safe across fork, in any thread.
struct Snapshot {
    std::vector<Module> modules;
    unsigned long long loads = 0, unloads = 0;  // the loader's counters when it was taken
};
std::atomic<const Snapshot*> current_snapshot{nullptr};

// The loader counts every load and unload: a snapshot with the same counts is still right.
std::pair<unsigned long long, unsigned long long> loader_counters() {
    std::pair<unsigned long long, unsigned long long> counters;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* out) {
            *static_cast<std::pair<unsigned long long, unsigned long long>*>(out) = {info->dlpi_adds, info->dlpi_subs};
            return 1;
        },
        &counters);
    return counters;
}

const Snapshot* take_snapshot() {
    auto* snapshot = new Snapshot;
    std::tie(snapshot->loads, snapshot->unloads) = loader_counters();
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* out) {
            Module module{info->dlpi_name ? info->dlpi_name : "", info->dlpi_addr, {}};
            for (int i = 0; i < info->dlpi_phnum; ++i) {
                const auto& segment = info->dlpi_phdr[i];
                if (segment.p_type != PT_LOAD || !(segment.p_flags & PF_X)) continue;
                const std::uintptr_t start = info->dlpi_addr + segment.p_vaddr;
                module.executable.push_back({start, start + segment.p_memsz});
            }
            static_cast<Snapshot*>(out)->modules.push_back(std::move(module));
            return 0;
        },
        snapshot);
    current_snapshot.store(snapshot, std::memory_order_release);
    return snapshot;
}

// The module that `matches` on the current snapshot, or once more on a fresh one if none does
// and modules were loaded or unloaded since; nothing if none matches. (Corrupt input that names
// no module thus costs a counter check, not a new snapshot.)
template <class Matches>
std::pair<const Snapshot*, const Module*> look_up(Matches matches) {
    auto find = [&](const Snapshot* snapshot) -> std::pair<const Snapshot*, const Module*> {
        for (const auto& module : snapshot->modules)
            if (matches(module)) return {snapshot, &module};
        return {snapshot, nullptr};
    };
    const Snapshot* snapshot = current_snapshot.load(std::memory_order_acquire);
    if (snapshot) {
        if (auto found = find(snapshot); found.second) return found;
        if (loader_counters() == std::pair(snapshot->loads, snapshot->unloads)) return {snapshot, nullptr};
    }
    return find(take_snapshot());
}

// A thread's last few lookups of one kind, each with the snapshot it was made on: an entry
// answers only a lookup of the same key on the same snapshot, which the snapshot would answer
// alike, for it never changes.
template <class Key>
class LookupCache {
public:
    const Module* find(const Snapshot* snapshot, const Key& key) const {
        for (const auto& entry : entries_)
            if (entry.snapshot == snapshot && entry.module && entry.key == key) return entry.module;
        return nullptr;
    }
    void add(const Snapshot* snapshot, const Key& key, const Module* module) {
        entries_[next_] = {snapshot, key, module};
        next_ = (next_ + 1) % entries_.size();
    }

private:
    struct Entry {
        const Snapshot* snapshot = nullptr;
        Key key{};
        const Module* module = nullptr;
    };
    std::array<Entry, 4> entries_{};
    std::size_t next_ = 0;
};

}  // namespace

std::optional<CodeLocation> locate_code(std::uintptr_t address) {
    thread_local LookupCache<std::uintptr_t> cache;
    const Snapshot* snapshot = current_snapshot.load(std::memory_order_acquire);
    const Module* module = cache.find(snapshot, address);
    if (!module) {
        std::tie(snapshot, module) = look_up([&](const Module& candidate) { return candidate.contains(address); });
        if (!module) return std::nullopt;
        cache.add(snapshot, address, module);
    }
    return CodeLocation{module->name, address - module->base};
}

std::uintptr_t resolve_code(const CodeLocation& location) {
    // Keyed by the module's name as the snapshot holds it, which outlives the caller's.
    struct Key {
        std::string_view module;
        std::uintptr_t offset = 0;
        bool operator==(const Key&) const = default;
    };
    thread_local LookupCache<Key> cache;
    const Key key{location.module, location.offset};
    const Snapshot* snapshot = current_snapshot.load(std::memory_order_acquire);
    const Module* module = cache.find(snapshot, key);
    if (!module) {
        std::tie(snapshot, module) = look_up([&](const Module& candidate) {
            return candidate.name == location.module && candidate.contains(candidate.base + location.offset);
        });
        if (!module) return 0;
        cache.add(snapshot, Key{module->name, location.offset}, module);
    }
    return module->base + location.offset;
}

}  // namespace mproc::os
