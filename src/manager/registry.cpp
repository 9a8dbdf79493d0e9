// The registry of the types a Manager's server can hold (see detail/manager_served.hpp).
#include <mproc/detail/manager_served.hpp>

#include <map>
#include <mutex>

namespace mproc::detail::manager {
namespace {

// Registration runs during static initialization, in any order of the program's files: the
// registry is made on first use.
struct Registry {
    std::mutex mutex;
    std::map<std::string, ServedType, std::less<>> types;
};
Registry& registry() {
    static Registry* instance = new Registry;  // never destroyed: server threads may outlive exit
    return *instance;
}

}  // namespace

void register_served_type(ServedType type) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    std::string name = type.name;
    r.types.try_emplace(std::move(name), std::move(type));
}

const ServedType* find_served_type(std::string_view name) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    const auto found = r.types.find(name);
    return found == r.types.end() ? nullptr : &found->second;
}

}  // namespace mproc::detail::manager
