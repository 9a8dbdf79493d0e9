// mproc/detail/handle.hpp: the check every movable handle makes before it uses its state.
#pragma once

#include <string>

#include <mproc/errors.hpp>

namespace mproc::detail {

// The object a handle points to. A handle that was moved from points to nothing: using it is a
// StateError that names the type, not a crash.
template <class Pointer>
decltype(auto) live(const Pointer& state, const char* type) {
    if (!state) throw StateError(std::string(type) + ": used after it was moved from");
    return *state;
}

}  // namespace mproc::detail
