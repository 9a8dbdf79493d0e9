#include <mproc/pool.hpp>

namespace mproc {

namespace detail {

PoolConfig pool_config(const PoolOptions& options) {
    if (options.processes < 0) throw std::invalid_argument("mproc::Pool: processes must be at least 1");
    if (options.maxtasksperchild && *options.maxtasksperchild < 1)
        throw std::invalid_argument("mproc::Pool: maxtasksperchild must be at least 1");
    PoolConfig config;
    config.processes = options.processes == 0 ? cpu_count() : options.processes;
    config.maxtasksperchild = options.maxtasksperchild;
    config.max_message_size = options.max_message_size;
    config.start_method = options.start_method.value_or(get_start_method());
    config.initializer = options.initializer.packed();
    config.initializer_fds = options.initializer.fds();
    return config;
}

}  // namespace detail

Pool::Pool(const PoolOptions& options) : core_(detail::PoolCore::start(detail::pool_config(options))) {}

Pool::~Pool() {
    if (!core_) return;
    try {
        if (!core_->is_terminated()) core_->close();
        core_->abandon_streams();
        core_->join();
    } catch (...) {
        // join() cannot fail once closed; nothing else may escape a destructor.
    }
}

void Pool::close() { core()->close(); }
void Pool::terminate() { core()->terminate(); }
void Pool::join() { core()->join(); }
int Pool::processes() const { return core()->processes(); }
std::vector<int> Pool::worker_pids() const { return core()->worker_pids(); }

}  // namespace mproc
