#include "os/code_modules.hpp"

#include <link.h>

namespace mproc::os {
namespace {

bool in_executable_segment(const dl_phdr_info& module, std::uintptr_t address) {
    for (int i = 0; i < module.dlpi_phnum; ++i) {
        const auto& segment = module.dlpi_phdr[i];
        if (segment.p_type != PT_LOAD || !(segment.p_flags & PF_X)) continue;
        const std::uintptr_t start = module.dlpi_addr + segment.p_vaddr;
        if (address >= start && address - start < segment.p_memsz) return true;
    }
    return false;
}

// dl_iterate_phdr walks the modules under the loader's lock, so modules loaded or unloaded by
// other threads are seen consistently, and it stays correct in forked children.
template <class Visit>
void for_each_module(Visit visit) {
    ::dl_iterate_phdr(
        [](dl_phdr_info* module, std::size_t, void* context) {
            return (*static_cast<Visit*>(context))(*module) ? 1 : 0;
        },
        &visit);
}

}  // namespace

std::optional<CodeLocation> locate_code(std::uintptr_t address) {
    std::optional<CodeLocation> found;
    for_each_module([&](const dl_phdr_info& module) {
        if (!in_executable_segment(module, address)) return false;
        found = CodeLocation{module.dlpi_name ? module.dlpi_name : "", address - module.dlpi_addr};
        return true;
    });
    return found;
}

std::optional<std::uintptr_t> resolve_code(const CodeLocation& location) {
    std::optional<std::uintptr_t> found;
    for_each_module([&](const dl_phdr_info& module) {
        if (location.module != (module.dlpi_name ? module.dlpi_name : "")) return false;
        const std::uintptr_t address = module.dlpi_addr + location.offset;
        if (in_executable_segment(module, address)) found = address;
        return true;
    });
    return found;
}

}  // namespace mproc::os
