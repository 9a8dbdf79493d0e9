#include "os/code_modules.hpp"

#include <link.h>

#include <atomic>
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

// Runs find() on the current snapshot, and once more on a fresh one if it finds nothing and
// modules were loaded or unloaded since. (Corrupt input that names no module thus costs a
// counter check, not a new snapshot.)
template <class Find>
auto look_up(Find find) -> decltype(find(std::declval<const std::vector<Module>&>())) {
    const Snapshot* snapshot = current_snapshot.load(std::memory_order_acquire);
    if (snapshot) {
        if (auto found = find(snapshot->modules)) return found;
        if (loader_counters() == std::pair(snapshot->loads, snapshot->unloads)) return std::nullopt;
    }
    return find(take_snapshot()->modules);
}

}  // namespace

std::optional<CodeLocation> locate_code(std::uintptr_t address) {
    return look_up([&](const std::vector<Module>& modules) -> std::optional<CodeLocation> {
        for (const auto& module : modules)
            if (module.contains(address)) return CodeLocation{module.name, address - module.base};
        return std::nullopt;
    });
}

std::optional<std::uintptr_t> resolve_code(const CodeLocation& location) {
    return look_up([&](const std::vector<Module>& modules) -> std::optional<std::uintptr_t> {
        for (const auto& module : modules) {
            if (module.name != location.module) continue;
            const std::uintptr_t address = module.base + location.offset;
            if (module.contains(address)) return address;
        }
        return std::nullopt;
    });
}

}  // namespace mproc::os
