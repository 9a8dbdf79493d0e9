// The synchronization objects and the Namespace a Manager's server holds (see sync_objects.hpp).
// Their calls block at the server, in the thread serving the caller's connection, as Python's
// threading objects do in its manager. Locks remember who holds them, so that a client process
// that dies holding one (its connections close) releases it: Python's manager would keep it
// locked forever.
#include "manager/sync_objects.hpp"

#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mproc/detail/manager_served.hpp>

namespace mproc::manager_server {
namespace {

using detail::manager::Caller;
using detail::manager::deadline_after;
using detail::manager::MethodTable;
using detail::manager::ObjectId;
using detail::manager::wait_for_caller;

// An optional<double> timeout that is not given with blocking = false means "do not wait".
std::optional<double> effective_timeout(bool blocking, std::optional<double> timeout) {
    return blocking ? timeout : std::optional<double>(0.0);
}

// What a Condition needs of the lock it is over (its own RLock, or a Lock or RLock it was given,
// as Python's threading.Condition(lock)). The Condition waits under the lock's mutex.
struct ConditionLock {
    std::mutex mutex;

    virtual ~ConditionLock() = default;
    virtual bool acquire(const Caller& caller, bool blocking, std::optional<double> timeout) = 0;
    virtual void release(const Caller& caller) = 0;
    virtual void client_gone(std::uint64_t client) = 0;
    // With `mutex` held: whether `caller` may wait and notify (Python's Condition._is_owned: a
    // Lock held by anyone, an RLock held by the caller).
    virtual bool held_by(const Caller& caller) const = 0;
    // With `mutex` held: releases it however many times it is held; what restore() takes.
    virtual std::uint64_t release_all() = 0;
    // With `mutex` held: takes it again as release_all() found it, waiting as long as it takes.
    virtual void restore(const Caller& caller, std::unique_lock<std::mutex>& lock, std::uint64_t saved) = 0;
};

struct LockObject final : ConditionLock {
    using Init = std::monostate;
    static constexpr bool serialized = false;
    std::condition_variable released;
    bool locked = false;
    std::uint64_t holder = 0;  // the client that locked it

    explicit LockObject(Init) {}
    bool acquire(const Caller& caller, bool blocking, std::optional<double> timeout) override {
        std::unique_lock lock(mutex);
        return take(caller, lock, deadline_after(effective_timeout(blocking, timeout)));
    }
    bool take(const Caller& caller, std::unique_lock<std::mutex>& lock,
              std::optional<std::chrono::steady_clock::time_point> deadline) {
        if (!wait_for_caller(caller, released, lock, deadline, [&] { return !locked; })) return false;
        locked = true;
        holder = caller.client;
        return true;
    }
    void release(const Caller&) override {
        std::lock_guard lock(mutex);
        if (!locked) throw StateError("mproc: release unlocked lock");
        release_all();
    }
    bool is_locked() {
        std::lock_guard lock(mutex);
        return locked;
    }
    void client_gone(std::uint64_t client) override {
        std::lock_guard lock(mutex);
        if (locked && holder == client) release_all();
    }
    bool held_by(const Caller&) const override { return locked; }
    std::uint64_t release_all() override {
        locked = false;
        released.notify_one();
        return 1;
    }
    void restore(const Caller& caller, std::unique_lock<std::mutex>& lock, std::uint64_t) override {
        (void)take(caller, lock, std::nullopt);
    }
    static void describe(MethodTable<LockObject>& t) {
        t.add("acquire", &LockObject::acquire);
        t.add("release", &LockObject::release);
        t.add("locked", &LockObject::is_locked);
    }
};

// An owner (client and thread) and a count: what RLock is.
struct Reentrant {
    std::uint64_t client = 0;
    std::uint64_t thread = 0;
    std::uint64_t count = 0;

    bool owned_by(const Caller& caller) const { return count > 0 && client == caller.client && thread == caller.thread; }
    bool acquire(const Caller& caller, std::condition_variable& changed, std::unique_lock<std::mutex>& lock,
                 std::optional<std::chrono::steady_clock::time_point> deadline, std::uint64_t times = 1) {
        if (owned_by(caller)) {
            count += times;
            return true;
        }
        if (!wait_for_caller(caller, changed, lock, deadline, [&] { return count == 0; })) return false;
        client = caller.client;
        thread = caller.thread;
        count = times;
        return true;
    }
    void release(const Caller& caller, std::condition_variable& changed) {
        if (!owned_by(caller)) throw StateError("mproc: cannot release un-acquired lock");
        if (--count == 0) changed.notify_all();
    }
    void client_gone(std::uint64_t gone, std::condition_variable& changed) {
        if (count > 0 && client == gone) {
            count = 0;
            changed.notify_all();
        }
    }
};

struct RLockObject final : ConditionLock {
    using Init = std::monostate;
    static constexpr bool serialized = false;
    std::condition_variable changed;
    Reentrant owner;

    explicit RLockObject(Init) {}
    bool acquire(const Caller& caller, bool blocking, std::optional<double> timeout) override {
        std::unique_lock lock(mutex);
        return owner.acquire(caller, changed, lock, deadline_after(effective_timeout(blocking, timeout)));
    }
    void release(const Caller& caller) override {
        std::lock_guard lock(mutex);
        owner.release(caller, changed);
    }
    void client_gone(std::uint64_t client) override {
        std::lock_guard lock(mutex);
        owner.client_gone(client, changed);
    }
    bool held_by(const Caller& caller) const override { return owner.owned_by(caller); }
    std::uint64_t release_all() override {
        const std::uint64_t count = owner.count;
        owner.count = 0;
        changed.notify_all();
        return count;
    }
    void restore(const Caller& caller, std::unique_lock<std::mutex>& lock, std::uint64_t saved) override {
        (void)owner.acquire(caller, changed, lock, std::nullopt, saved);
    }
    static void describe(MethodTable<RLockObject>& t) {
        t.add("acquire", &RLockObject::acquire);
        t.add("release", &RLockObject::release);
    }
};

struct SemaphoreObject {
    // The initial value, and the bound (none: a Semaphore; the initial value: BoundedSemaphore).
    using Init = std::pair<std::int64_t, std::optional<std::int64_t>>;
    static constexpr bool serialized = false;
    std::mutex mutex;
    std::condition_variable released;
    std::int64_t value;
    std::optional<std::int64_t> bound;

    explicit SemaphoreObject(Init init) : value(init.first), bound(init.second) {
        if (value < 0) throw std::invalid_argument("mproc: ValueError: semaphore initial value must be >= 0");
    }
    bool acquire(const Caller& caller, bool blocking, std::optional<double> timeout) {
        std::unique_lock lock(mutex);
        if (!wait_for_caller(caller, released, lock, deadline_after(effective_timeout(blocking, timeout)),
                             [&] { return value > 0; }))
            return false;
        --value;
        return true;
    }
    void release(std::int64_t n) {
        std::lock_guard lock(mutex);
        if (n < 1) throw std::invalid_argument("mproc: ValueError: n must be one or more");
        if (bound && value + n > *bound) throw StateError("mproc: Semaphore released too many times");
        value += n;
        released.notify_all();
    }
    std::int64_t get_value() {
        std::lock_guard lock(mutex);
        return value;
    }
    static void describe(MethodTable<SemaphoreObject>& t) {
        t.add("acquire", &SemaphoreObject::acquire);
        t.add("release", &SemaphoreObject::release);
        t.add("get_value", &SemaphoreObject::get_value);
    }
};

struct EventObject {
    using Init = std::monostate;
    static constexpr bool serialized = false;
    std::mutex mutex;
    std::condition_variable changed;
    bool flag = false;

    explicit EventObject(Init) {}
    void set() {
        std::lock_guard lock(mutex);
        flag = true;
        changed.notify_all();
    }
    void clear() {
        std::lock_guard lock(mutex);
        flag = false;
    }
    bool is_set() {
        std::lock_guard lock(mutex);
        return flag;
    }
    bool wait(const Caller& caller, std::optional<double> timeout) {
        std::unique_lock lock(mutex);
        return wait_for_caller(caller, changed, lock, deadline_after(timeout), [&] { return flag; });
    }
    static void describe(MethodTable<EventObject>& t) {
        t.add("set", &EventObject::set);
        t.add("clear", &EventObject::clear);
        t.add("is_set", &EventObject::is_set);
        t.add("wait", &EventObject::wait);
    }
};

// Python's threading.Condition, over an RLock of its own or over the Lock or RLock it is given.
struct ConditionObject {
    using Init = std::optional<ObjectId>;  // the lock it is over; none: an RLock of its own
    static constexpr bool serialized = false;
    std::shared_ptr<ConditionLock> lock;  // shared with the lock's own proxies, when given
    std::condition_variable notified_changed;
    std::list<bool> waiters;  // each waiter's "notified", oldest first; under lock->mutex

    ConditionObject(Init init, const detail::manager::FindObject& find) {
        if (!init) {
            lock = std::make_shared<RLockObject>(std::monostate{});
            return;
        }
        const detail::manager::HeldObject held = find(*init);
        if (held.type == lock_type)
            lock = std::static_pointer_cast<LockObject>(held.object);
        else if (held.type == rlock_type)
            lock = std::static_pointer_cast<RLockObject>(held.object);
        else
            throw std::invalid_argument("mproc: a manager's Condition is over a Lock or an RLock, not a '" +
                                        std::string(held.type) + "'");
    }
    bool acquire(const Caller& caller, bool blocking, std::optional<double> timeout) {
        return lock->acquire(caller, blocking, timeout);
    }
    void release(const Caller& caller) { lock->release(caller); }
    // A lock it was given is told by the server too, while the lock's proxies live: releasing
    // for a client gone twice changes nothing.
    void client_gone(std::uint64_t client) { lock->client_gone(client); }
    bool wait(const Caller& caller, std::optional<double> timeout) {
        std::unique_lock held(lock->mutex);
        if (!lock->held_by(caller)) throw StateError("mproc: cannot wait on un-acquired lock");
        const std::uint64_t saved = lock->release_all();
        const auto me = waiters.insert(waiters.end(), false);
        bool notified = false;
        try {
            notified = wait_for_caller(caller, notified_changed, held, deadline_after(timeout), [&] { return *me; });
        } catch (...) {
            waiters.erase(me);
            throw;
        }
        waiters.erase(me);
        lock->restore(caller, held, saved);
        return notified;
    }
    void notify(const Caller& caller, std::uint64_t n) {
        std::lock_guard held(lock->mutex);
        if (!lock->held_by(caller)) throw StateError("mproc: cannot notify on un-acquired lock");
        for (bool& notified : waiters) {
            if (n == 0) break;
            if (!notified) {
                notified = true;
                --n;
            }
        }
        notified_changed.notify_all();
    }
    void notify_all(const Caller& caller) { notify(caller, UINT64_MAX); }
    static void describe(MethodTable<ConditionObject>& t) {
        t.add("acquire", &ConditionObject::acquire);
        t.add("release", &ConditionObject::release);
        t.add("wait", &ConditionObject::wait);
        t.add("notify", &ConditionObject::notify);
        t.add("notify_all", &ConditionObject::notify_all);
    }
};

// Python's threading.Barrier, without an action.
struct BarrierObject {
    using Init = std::int64_t;  // parties
    static constexpr bool serialized = false;
    std::mutex mutex;
    std::condition_variable changed;
    std::int64_t parties;
    std::int64_t waiting = 0;
    std::uint64_t generation = 0;
    bool broken = false;

    explicit BarrierObject(Init n) : parties(n) {
        if (n < 1) throw std::invalid_argument("mproc: ValueError: a Barrier needs at least one party");
    }
    std::int64_t wait(const Caller& caller, std::optional<double> timeout) {
        std::unique_lock lock(mutex);
        if (broken) throw BrokenBarrierError("mproc: the manager's Barrier is broken");
        const std::int64_t index = parties - 1 - waiting;
        if (++waiting == parties) {
            waiting = 0;
            ++generation;
            changed.notify_all();
            return index;
        }
        const std::uint64_t mine = generation;
        bool passed = false;
        try {
            passed = wait_for_caller(caller, changed, lock, deadline_after(timeout),
                                     [&] { return generation != mine || broken; });
        } catch (...) {
            break_barrier();  // a party gone for good: Python's barrier would wait forever
            throw;
        }
        if (generation != mine) return index;
        if (!passed) break_barrier();  // timed out: broken for every party, as Python's
        throw BrokenBarrierError("mproc: the manager's Barrier is broken");
    }
    void break_barrier() {
        broken = true;
        waiting = 0;
        changed.notify_all();
    }
    void abort() {
        std::lock_guard lock(mutex);
        break_barrier();
    }
    void reset() {
        std::lock_guard lock(mutex);
        if (waiting > 0) break_barrier();
        broken = false;
        waiting = 0;
        ++generation;
        changed.notify_all();
    }
    std::int64_t n_waiting() {
        std::lock_guard lock(mutex);
        return waiting;
    }
    bool is_broken() {
        std::lock_guard lock(mutex);
        return broken;
    }
    std::int64_t get_parties() { return parties; }
    static void describe(MethodTable<BarrierObject>& t) {
        t.add("wait", &BarrierObject::wait);
        t.add("abort", &BarrierObject::abort);
        t.add("reset", &BarrierObject::reset);
        t.add("n_waiting", &BarrierObject::n_waiting);
        t.add("broken", &BarrierObject::is_broken);
        t.add("parties", &BarrierObject::get_parties);
    }
};

// Python's Namespace: attributes by name; each holds a value's encoding and its type's name,
// checked by the proxy.
struct NamespaceObject {
    using Init = std::monostate;
    static constexpr bool serialized = true;
    using Attribute = std::pair<std::string, std::vector<std::byte>>;
    std::map<std::string, Attribute> attributes;

    explicit NamespaceObject(Init) {}
    Attribute getattr(const std::string& name) {
        const auto found = attributes.find(name);
        if (found == attributes.end())
            throw std::out_of_range("mproc: AttributeError: the Namespace has no attribute '" + name + "'");
        return found->second;
    }
    void setattr(const std::string& name, const Attribute& value) { attributes.insert_or_assign(name, value); }
    void delattr(const std::string& name) {
        if (attributes.erase(name) == 0)
            throw std::out_of_range("mproc: AttributeError: the Namespace has no attribute '" + name + "'");
    }
    std::vector<std::string> names() {
        std::vector<std::string> out;
        for (const auto& attribute : attributes) out.push_back(attribute.first);
        return out;
    }
    static void describe(MethodTable<NamespaceObject>& t) {
        t.add("__getattr__", &NamespaceObject::getattr);
        t.add("__setattr__", &NamespaceObject::setattr);
        t.add("__delattr__", &NamespaceObject::delattr);
        t.add("names", &NamespaceObject::names);
    }
};

}  // namespace

void register_sync_objects() {
    static const bool registered = [] {
        using detail::manager::register_served;
        register_served<LockObject>(std::string(lock_type));
        register_served<RLockObject>(std::string(rlock_type));
        register_served<SemaphoreObject>(std::string(semaphore_type));
        register_served<ConditionObject>(std::string(condition_type));
        register_served<EventObject>(std::string(event_type));
        register_served<NamespaceObject>(std::string(namespace_type));
        register_served<BarrierObject>(std::string(barrier_type));
        return true;
    }();
    (void)registered;
}

}  // namespace mproc::manager_server
