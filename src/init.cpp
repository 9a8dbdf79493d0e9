#include <mproc/init.hpp>

#include <atomic>
#include <vector>

#include <mproc/start_method.hpp>

#include "launch.hpp"

namespace mproc {
namespace {

std::atomic<bool> init_done{false};

std::vector<detail::InitHook>& init_hooks() {
    static auto* hooks = new std::vector<detail::InitHook>;  // filled during static initialization
    return *hooks;
}

}  // namespace

bool detail::register_init_hook(InitHook hook) {
    init_hooks().push_back(hook);
    return true;
}

bool initialized() noexcept { return init_done.load(); }

void init(int argc, char** argv) {
    if (init_done.exchange(true)) return;
    launch::serve_if_spawned();
    launch::prepare(get_start_method());
    for (const auto hook : init_hooks()) hook(argc, argv);
}

}  // namespace mproc
