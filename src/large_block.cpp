#include <mproc/serialize.hpp>

#include "os/mapping.hpp"

namespace mproc::detail {

void prepare_large_block(void* data, std::size_t bytes) noexcept { os::advise_huge_pages(data, bytes); }

}  // namespace mproc::detail
