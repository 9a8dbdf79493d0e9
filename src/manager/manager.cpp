// mproc::Manager: starts its server process, stops it, and makes proxies (see mproc/manager.hpp).
#include <mproc/manager.hpp>

#include <array>
#include <chrono>

#include <mproc/process.hpp>

#include "manager/serve.hpp"
#include "manager/sync_objects.hpp"
#include "os/io.hpp"
#include "os_error.hpp"

namespace mproc {

namespace ms = manager_server;

struct Manager::Server {
    Process process;
    connection::Connection owner;  // the server stops when anything arrives on its end
};

namespace {

std::string random_authkey() {
    std::array<std::byte, 32> key;
    detail::or_throw(os::fill_random(key), "getrandom for a manager's authkey");
    return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

}  // namespace

Manager::Manager() : Manager(ManagerOptions{}) {}

Manager::Manager(ManagerOptions options) {
    std::string authkey = options.authkey ? *options.authkey : random_authkey();
    ms::ServerAddress where;
    if (options.address) where = ms::from_address(*options.address);
    auto [mine, theirs] = connection::Pipe();
    ProcessOptions process_options;
    process_options.name = "SyncManager";
    process_options.daemon = true;
    process_options.start_method = options.start_method;
    auto server = std::make_unique<Server>(
        Server{Process(std::move(process_options), &ms::serve, theirs, std::move(where), authkey), mine});
    server->process.start();
    theirs.close();
    std::vector<std::byte> ready;
    try {
        ready = mine.recv_bytes();
    } catch (const Error& e) {
        server->process.join();
        throw StartError(std::string("mproc: the manager's server ended before it listened (") + e.what() + ")");
    }
    Reader in(ready);
    ms::ServerAddress listening;
    try {
        listening = detail::unpack_reply<ms::ServerAddress>(in);
    } catch (const Error& e) {
        server->process.join();
        throw StartError(std::string("mproc: the manager's server could not listen: ") + e.what());
    }
    client_ = detail::manager::Client::of(ms::to_address(listening), authkey);
    server_ = std::move(server);
}

Manager::Manager(std::unique_ptr<Server> server, std::shared_ptr<detail::manager::Client> client)
    : server_(std::move(server)), client_(std::move(client)) {}

Manager Manager::connect(const connection::Address& address, const std::string& authkey) {
    auto client = detail::manager::Client::of(address, authkey);
    client->check();
    return Manager(nullptr, std::move(client));
}

Manager::Manager(Manager&&) noexcept = default;

Manager& Manager::operator=(Manager&& other) noexcept {
    if (this != &other) {
        shutdown();
        server_ = std::move(other.server_);
        client_ = std::move(other.client_);
        name_ = std::move(other.name_);
    }
    return *this;
}

Manager Manager::named(std::string name) const {
    if (name.empty() || name.size() > detail::manager::max_name_bytes)
        throw std::invalid_argument("mproc::Manager::named: a name of 1 to 512 bytes");
    Manager view(nullptr, client_shared());
    view.name_ = std::move(name);
    return view;
}

Manager::~Manager() { shutdown(); }

void Manager::shutdown() noexcept {
    if (!client_) return;
    client_.reset();
    if (!server_) return;
    std::unique_ptr<Server> server = std::move(server_);
    try {
        server->owner.send_bytes(std::string_view("shutdown"));
    } catch (...) {
        // Already gone.
    }
    try {
        // Python waits a second, then terminates; a loaded machine gets longer.
        (void)server->process.join(std::chrono::seconds(5));
        if (server->process.is_alive()) {
            server->process.terminate();
            server->process.join();
        }
    } catch (...) {
    }
}

const connection::Address& Manager::address() const { return client_shared()->address(); }
const std::string& Manager::authkey() const { return client_shared()->authkey(); }

std::optional<int> Manager::pid() const {
    if (!server_) return std::nullopt;
    return server_->process.pid();
}

const std::shared_ptr<detail::manager::Client>& Manager::client_shared() const {
    if (!client_) throw StateError("mproc: the Manager was shut down");
    return client_;
}

BarrierProxy Manager::Barrier(std::int64_t parties) {
    return make_of_type<BarrierProxy>(std::string(ms::barrier_type), parties);
}
LockProxy Manager::Lock() { return make_of_type<LockProxy>(std::string(ms::lock_type), std::monostate{}); }
RLockProxy Manager::RLock() { return make_of_type<RLockProxy>(std::string(ms::rlock_type), std::monostate{}); }
SemaphoreProxy Manager::Semaphore(std::int64_t value) {
    return make_of_type<SemaphoreProxy>(std::string(ms::semaphore_type),
                                      std::pair<std::int64_t, std::optional<std::int64_t>>(value, std::nullopt));
}
SemaphoreProxy Manager::BoundedSemaphore(std::int64_t value) {
    return make_of_type<SemaphoreProxy>(std::string(ms::semaphore_type),
                                      std::pair<std::int64_t, std::optional<std::int64_t>>(value, value));
}
ConditionProxy Manager::Condition() {
    return make_of_type<ConditionProxy>(std::string(ms::condition_type), std::monostate{});
}
EventProxy Manager::Event() { return make_of_type<EventProxy>(std::string(ms::event_type), std::monostate{}); }
NamespaceProxy Manager::Namespace() {
    return make_of_type<NamespaceProxy>(std::string(ms::namespace_type), std::monostate{});
}

}  // namespace mproc
