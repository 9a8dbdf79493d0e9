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

Manager::Manager(ManagerOptions options) : Manager(std::move(options), not_started) { start(); }

Manager::Manager(NotStarted) : Manager(ManagerOptions{}, not_started) {}

Manager::Manager(ManagerOptions options, NotStarted) : state_(State::initial), options_(std::move(options)) {
    if (!options_.authkey) options_.authkey = random_authkey();
}

void Manager::check_not_started(const char* what) const {
    if (state_ == State::started) throw StateError(std::string("mproc::Manager::") + what + ": started or connected already");
    if (state_ == State::shut_down) throw StateError(std::string("mproc::Manager::") + what + ": the Manager has shut down");
}

void Manager::start(const Call& initializer) {
    check_not_started("start");
    if (initializer.fds() && !initializer.fds()->empty())
        throw std::invalid_argument(
            "mproc::Manager::start: the initializer's arguments hold descriptors (shared memory objects); "
            "pass them through a manager's proxy instead");
    const std::string& authkey = *options_.authkey;
    ms::ServerAddress where;
    if (options_.address) where = ms::from_address(*options_.address);
    auto [mine, theirs] = connection::Pipe();
    ProcessOptions process_options;
    process_options.name = "SyncManager";
    process_options.daemon = true;
    process_options.start_method = options_.start_method;
    auto server = std::make_unique<Server>(Server{
        Process(std::move(process_options), &ms::serve, theirs, std::move(where), authkey, initializer.packed()), mine});
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
    if (in.read_value<bool>()) {  // the initializer threw: its exception, as it is
        server->process.join();
        (void)detail::unpack_reply<std::monostate>(in);
    }
    ms::ServerAddress listening;
    try {
        listening = detail::unpack_reply<ms::ServerAddress>(in);
    } catch (const Error& e) {
        server->process.join();
        throw StartError(std::string("mproc: the manager's server could not listen: ") + e.what());
    }
    client_ = detail::manager::Client::of(ms::to_address(listening), authkey);
    server_ = std::move(server);
    state_ = State::started;
}

void Manager::connect() {
    check_not_started("connect");
    if (!options_.address) throw StateError("mproc::Manager::connect: the Manager was made with no address");
    auto client = detail::manager::Client::of(*options_.address, *options_.authkey);
    client->check();
    client_ = std::move(client);
    state_ = State::started;
}

ManagerServer Manager::get_server() const {
    check_not_started("get_server");
    ms::ServerAddress where;
    if (options_.address) where = ms::from_address(*options_.address);
    try {
        return ManagerServer(ms::listen(where, *options_.authkey), *options_.authkey);
    } catch (const Error& e) {
        throw StartError(std::string("mproc: the manager's server could not listen: ") + e.what());
    }
}

ManagerServer::ManagerServer(std::unique_ptr<connection::Listener> listener, std::string authkey)
    : listener_(std::move(listener)), authkey_(std::move(authkey)) {}
ManagerServer::ManagerServer(ManagerServer&&) noexcept = default;
ManagerServer::~ManagerServer() = default;

const connection::Address& ManagerServer::address() const { return listener_->address(); }

void ManagerServer::serve_forever() { ms::serve_forever(*listener_); }

Manager Manager::connect(const connection::Address& address, const std::string& authkey) {
    Manager manager(ManagerOptions{.address = address, .authkey = authkey}, not_started);
    manager.connect();
    return manager;
}

Manager::Manager(Manager&&) noexcept = default;

Manager& Manager::operator=(Manager&& other) noexcept {
    if (this != &other) {
        shutdown();
        state_ = other.state_;
        options_ = std::move(other.options_);
        server_ = std::move(other.server_);
        client_ = std::move(other.client_);
        name_ = std::move(other.name_);
    }
    return *this;
}

Manager Manager::named(std::string name) const {
    if (name.empty() || name.size() > detail::manager::max_name_bytes)
        throw std::invalid_argument("mproc::Manager::named: a name of 1 to 512 bytes");
    Manager view(ManagerOptions{.address = address(), .authkey = authkey()}, not_started);
    view.client_ = client_shared();
    view.state_ = State::started;
    view.name_ = std::move(name);
    return view;
}

Manager::~Manager() { shutdown(); }

void Manager::shutdown() noexcept {
    if (state_ == State::shut_down) return;
    state_ = State::shut_down;
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

void Manager::shutdown_server() {
    std::vector<std::byte> request;
    Writer out(request);
    out.write_value(detail::manager::Op::shutdown);
    detail::manager::run<void>(*client_shared(), request);
    shutdown();
}

const connection::Address& Manager::address() const {
    if (state_ == State::initial && options_.address) return *options_.address;
    return client_shared()->address();
}

const std::string& Manager::authkey() const {
    if (state_ == State::initial) return *options_.authkey;
    return client_shared()->authkey();
}

std::optional<int> Manager::pid() const {
    if (!server_) return std::nullopt;
    return server_->process.pid();
}

const std::shared_ptr<detail::manager::Client>& Manager::client_shared() const {
    if (state_ == State::initial)
        throw StateError("mproc: the Manager is not started (start() or connect() it first)");
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
    return make_of_type<ConditionProxy>(std::string(ms::condition_type), std::optional<detail::manager::ObjectId>());
}
ConditionProxy Manager::Condition(const LockProxy& lock) { return condition_over(lock); }
ConditionProxy Manager::Condition(const RLockProxy& lock) { return condition_over(lock); }

ConditionProxy Manager::condition_over(const AcquirerProxy& lock) {
    // Python's server finds the lock among its own objects by its token's address; a lock of
    // another manager would be a proxy there, which a Condition cannot share.
    if (lock.address() != address() || detail::manager::ProxyAccess::core(lock).client().authkey() != authkey())
        throw std::invalid_argument("mproc::Manager::Condition(lock): the lock belongs to another manager");
    return make_of_type<ConditionProxy>(std::string(ms::condition_type), std::optional(lock.id()));
}
EventProxy Manager::Event() { return make_of_type<EventProxy>(std::string(ms::event_type), std::monostate{}); }
NamespaceProxy Manager::Namespace() {
    return make_of_type<NamespaceProxy>(std::string(ms::namespace_type), std::monostate{});
}

}  // namespace mproc
