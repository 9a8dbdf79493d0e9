#include <mproc/process.hpp>

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <typeinfo>

#include <cxxabi.h>

#include "launch.hpp"
#include "os/child_process.hpp"
#include "os/cpu.hpp"
#include "os_error.hpp"

namespace mproc {
namespace {

// Who this process is, in Python's terms. Reset in every child mproc forks.
struct Identity {
    std::vector<int> path;  // Process-1:2 is {1, 2}; the main process is {}
    std::string name = "MainProcess";
    bool daemon = false;
    int children_created = 0;
    std::optional<ProcessInfo> parent;
};

Identity& identity() {
    static Identity* self = new Identity;  // never destroyed: used during exit
    return *self;
}

std::string default_name(const std::vector<int>& path) {
    std::string name = "Process-";
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (i) name += ':';
        name += std::to_string(path[i]);
    }
    return name;
}

}  // namespace

namespace {
void finish_children_at_exit() noexcept;
// A Process started by spawn or forkserver runs this entry (see run_process).
constexpr launch::Entry process_entry{2};
}  // namespace

struct Process::Impl {
    enum class State { created, started, closed };

    Target target;
    std::string name;
    bool daemon = false;
    std::optional<StartMethod> start_method;
    std::vector<int> path;
    State state = State::created;
    os::ChildProcess child;

    void require_started(const char* operation) const {
        if (state == State::closed)
            throw StateError(std::string("mproc::Process::") + operation + ": the process object is closed");
        if (state == State::created)
            throw StateError(std::string("mproc::Process::") + operation + ": the process was never started");
    }

    int run_in_child(ProcessInfo parent) {
        auto& self = identity();
        self.parent = std::move(parent);
        self.path = path;
        self.name = name;
        self.daemon = daemon;
        self.children_created = 0;
        int code = 1;
        try {
            target.run();
            code = 0;
        } catch (const std::exception& e) {
            int status = 0;
            char* type = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
            std::fprintf(stderr, "Process %s: %s: %s\n", name.c_str(), status == 0 ? type : typeid(e).name(),
                         e.what());
            std::free(type);
        } catch (...) {
            std::fprintf(stderr, "Process %s: unknown exception\n", name.c_str());
        }
        // The child leaves with _exit: apply the exit policy to its own children here.
        finish_children_at_exit();
        return code;
    }

    // The child's identity and the packed target, for run_process.
    launch::Bootstrap bootstrap(const ProcessInfo& parent) const {
        launch::Bootstrap made{process_entry, {}, {}, {}};
        Writer out(made.payload);
        encode(out, name);
        encode(out, daemon);
        encode(out, path);
        encode(out, parent.pid);
        encode(out, parent.name);
        encode(out, parent.daemon);
        target.pack(out);
        auto fds = detail::keep_fds(out.fds());
        made.fds = *fds;
        made.keep_alive = std::move(fds);
        return made;
    }
};

namespace {

int run_process(Reader& payload, std::vector<os::UniqueFd>&) {
    Process::Impl impl;
    impl.name = decode<std::string>(payload);
    impl.daemon = decode<bool>(payload);
    impl.path = decode<std::vector<int>>(payload);
    ProcessInfo parent;
    parent.pid = decode<int>(payload);
    parent.name = decode<std::string>(payload);
    parent.daemon = decode<bool>(payload);
    // The target's exceptions escape as they were thrown, as under fork, to be reported with
    // their own type; the reply it writes holds no result (Reply::nothing) and is dropped.
    impl.target.run = [&payload] {
        std::vector<std::byte> reply;
        Writer out(reply);
        const auto entry = reinterpret_cast<detail::Trampoline>(detail::decode_code_address(payload));
        entry(payload, out);
    };
    return impl.run_in_child(std::move(parent));
}

const launch::EntryRegistration process_registration(process_entry, "process", &run_process);

// Children whose Process object is gone but which may still run, and the Process objects with a
// live child, for active_children() and for the exit-time policy.
struct Registry {
    struct Orphan {
        os::ChildProcess child;
        ProcessInfo info;
    };

    explicit Registry(Registry* parent_registry = nullptr) : previous(parent_registry) {}

    std::mutex mutex;
    std::set<Process::Impl*> running;
    std::vector<Orphan> orphans;
    Registry* previous;  // the parent's, kept reachable for leak checkers

    void reap_orphans() {
        std::erase_if(orphans, [](Orphan& orphan) { return detail::or_throw(orphan.child.poll()).has_value(); });
    }

    // As Python: daemonic children are terminated, the others are waited for.
    void finish_at_exit() noexcept try {
        std::lock_guard lock(mutex);
        for (auto* impl : running)
            if (impl->daemon) impl->child.signal(SIGTERM);
        for (auto& orphan : orphans)
            if (orphan.info.daemon) orphan.child.signal(SIGTERM);
        for (auto* impl : running) detail::or_throw(impl->child.wait());
        for (auto& orphan : orphans) detail::or_throw(orphan.child.wait());
        running.clear();
        orphans.clear();
    } catch (...) {
        // Nothing sensible is left to do with an error during exit.
    }

};

// Never destroyed: the exit-time policy runs from atexit. A forked child starts with an empty
// one: the children of its parent are not its own.
Registry* registry = [] {
    os::at_fork_child([] { registry = new Registry(registry); });
    std::atexit([] { registry->finish_at_exit(); });
    return new Registry;
}();

}  // namespace

Process::Process(ProcessOptions options, Target target) : impl_(std::make_unique<Impl>()) {
    auto& self = identity();
    impl_->target = std::move(target);
    impl_->path = self.path;
    impl_->path.push_back(++self.children_created);
    impl_->name = options.name.empty() ? default_name(impl_->path) : std::move(options.name);
    impl_->daemon = options.daemon.value_or(self.daemon);
    impl_->start_method = options.start_method;
}

Process::Process(Process&&) noexcept = default;

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        Process discarded(std::move(*this));
        impl_ = std::move(other.impl_);
    }
    return *this;
}

Process::~Process() {
    if (!impl_ || impl_->state != Impl::State::started) return;
    std::lock_guard lock(registry->mutex);
    registry->running.erase(impl_.get());
    // A poll that fails leaves the child to the orphans, reaped later: a destructor must not throw.
    if (const auto exited = impl_->child.poll(); !exited || !exited.value()) {
        ProcessInfo info{impl_->child.pid(), impl_->name, impl_->daemon};
        registry->orphans.push_back({std::move(impl_->child), std::move(info)});
    }
}

void Process::start() {
    if (!impl_) throw StateError("mproc::Process::start: moved-from process");
    if (impl_->state == Impl::State::closed) throw StateError("mproc::Process::start: the process object is closed");
    if (impl_->state == Impl::State::started) throw StateError("mproc::Process::start: a process can only be started once");
    {
        std::lock_guard lock(registry->mutex);
        registry->reap_orphans();
    }
    const StartMethod method = impl_->start_method.value_or(get_start_method());
    const ProcessInfo self = current_process();
    impl_->child = launch::start_child(
        method, [impl = impl_.get(), self] { return impl->run_in_child(self); },
        [impl = impl_.get(), &self] { return impl->bootstrap(self); });
    impl_->state = Impl::State::started;
    std::lock_guard lock(registry->mutex);
    registry->running.insert(impl_.get());
}

void Process::join() {
    impl_->require_started("join");
    detail::or_throw(impl_->child.wait());
}

bool Process::join(std::chrono::duration<double> timeout) {
    impl_->require_started("join");
    return detail::or_throw(impl_->child.wait(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout))).has_value();
}

bool Process::is_alive() {
    if (impl_->state == Impl::State::created) return false;
    impl_->require_started("is_alive");
    return !detail::or_throw(impl_->child.poll()).has_value();
}

std::optional<int> Process::exitcode() {
    if (impl_->state == Impl::State::created) return std::nullopt;
    impl_->require_started("exitcode");
    return detail::or_throw(impl_->child.poll());
}

std::optional<int> Process::pid() const {
    if (impl_->state != Impl::State::started) return std::nullopt;
    return impl_->child.pid();
}

int Process::sentinel() const {
    impl_->require_started("sentinel");
    return impl_->child.pidfd();
}

const std::string& Process::name() const { return impl_->name; }
void Process::set_name(std::string name) { impl_->name = std::move(name); }
bool Process::daemon() const { return impl_->daemon; }

void Process::set_daemon(bool daemon) {
    if (impl_->state != Impl::State::created)
        throw StateError("mproc::Process::set_daemon: the process has already been started");
    impl_->daemon = daemon;
}

void Process::terminate() {
    impl_->require_started("terminate");
    impl_->child.signal(SIGTERM);
}

void Process::kill() {
    impl_->require_started("kill");
    impl_->child.signal(SIGKILL);
}

void Process::close() {
    if (impl_->state == Impl::State::closed) return;
    if (impl_->state == Impl::State::started) {
        if (!detail::or_throw(impl_->child.poll()))
            throw StateError("mproc::Process::close: the process is still running; join or kill it first");
        std::lock_guard lock(registry->mutex);
        registry->running.erase(impl_.get());
    }
    impl_->state = Impl::State::closed;
    impl_->target = {};
}

ProcessInfo current_process() {
    const auto& self = identity();
    return {static_cast<int>(::getpid()), self.name, self.daemon};
}

std::optional<ProcessInfo> parent_process() { return identity().parent; }

std::vector<ProcessInfo> active_children() {
    std::lock_guard lock(registry->mutex);
    registry->reap_orphans();
    std::vector<ProcessInfo> children;
    for (auto* impl : registry->running)
        if (!impl->child.has_exited()) children.push_back({impl->child.pid(), impl->name, impl->daemon});
    for (const auto& orphan : registry->orphans) children.push_back(orphan.info);
    return children;
}

namespace {
void finish_children_at_exit() noexcept { registry->finish_at_exit(); }
}  // namespace

int cpu_count() { return os::usable_cpu_count(); }

}  // namespace mproc
