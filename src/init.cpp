#include <mproc/init.hpp>

#include <atomic>
#include <vector>

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
    for (const auto hook : init_hooks()) hook(argc, argv);
}

}  // namespace mproc
