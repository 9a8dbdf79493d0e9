// Tests that need a fresh copy of the program (a different address-space layout, no inherited
// state) re-execute the test binary with --role=NAME; main() then runs the role registered
// under that name instead of the tests.
#pragma once

#include <cstring>
#include <map>
#include <string>

namespace mproc::test {

using Role = int (*)();

inline std::map<std::string, Role>& roles() {
    static std::map<std::string, Role> registered;
    return registered;
}

struct RegisterRole {
    RegisterRole(const char* name, Role role) { roles()[name] = role; }
};

// The role's exit code, or -1 when argv names no role.
inline int run_reexec_role(int argc, char** argv) {
    if (argc < 2 || std::strncmp(argv[1], "--role=", 7) != 0) return -1;
    auto found = roles().find(argv[1] + 7);
    return found == roles().end() ? 127 : found->second();
}

}  // namespace mproc::test
