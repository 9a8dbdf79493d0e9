// Code addresses as (loaded module, offset) pairs. Processes running the same binary agree on
// these even when address-space layout randomization loads the modules at different addresses:
// a forked child, a re-executed copy of the program, another MPI rank.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mproc::os {

struct CodeLocation {
    // As the dynamic loader names it; empty for the main executable. locate_code's names stay
    // valid for the life of the process.
    std::string_view module;
    std::uintptr_t offset = 0;
};

// Where an address of executable code lies; nothing if no loaded module holds it. The last few
// addresses each thread looked up are answered from a cache (a pool sends the same trampoline
// and function with every task).
std::optional<CodeLocation> locate_code(std::uintptr_t address);

// The address of a location in this process; 0 unless it falls inside an executable segment of
// a loaded module of that name (a corrupt message cannot make us jump elsewhere). Cached as
// locate_code is. (A plain address, not an optional: returned in one register, for it is called
// for every task a worker runs.)
[[nodiscard]] std::uintptr_t resolve_code(const CodeLocation& location);

}  // namespace mproc::os
