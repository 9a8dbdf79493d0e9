// The registry of bootstrap entries (see launch.hpp): what a child started by spawn or forkserver
// can be told to run.
#include "launch.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>

namespace mproc::launch {
namespace {

// Entries register during static initialization, in whatever order the program's files are
// initialized: the table is therefore constant-initialized, ready before the first of them.
constexpr std::size_t max_entries = 16;
constinit std::array<RegisteredEntry, max_entries> registry{};
constinit std::size_t registered = 0;

[[noreturn]] void refuse_registration(Entry id, const char* name, const char* why) noexcept {
    std::fprintf(stderr, "mproc: cannot register the bootstrap entry %u (%s): %s\n",
                 static_cast<unsigned>(id), name ? name : "unnamed", why);
    std::abort();
}

}  // namespace

void register_entry(Entry id, const char* name, EntryFunction run, BootstrapSocket socket) noexcept {
    if (id == Entry{}) refuse_registration(id, name, "0 names no entry");
    if (!run) refuse_registration(id, name, "it has no function");
    if (const RegisteredEntry* taken = find_entry(id)) {
        char why[160];
        std::snprintf(why, sizeof why, "its number is taken by the entry %s", taken->name ? taken->name : "unnamed");
        refuse_registration(id, name, why);
    }
    if (registered == max_entries) refuse_registration(id, name, "the registry is full");
    registry[registered++] = {id, name, run, socket};
}

const RegisteredEntry* find_entry(Entry id) noexcept {
    for (std::size_t i = 0; i < registered; ++i)
        if (registry[i].id == id) return &registry[i];
    return nullptr;
}

}  // namespace mproc::launch
