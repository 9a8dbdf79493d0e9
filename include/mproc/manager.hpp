// mproc/manager.hpp: mproc::Manager, a server process holding shared objects, and the proxies
// through which any process uses them, as Python's multiprocessing.Manager() (a SyncManager).
//
//   mproc::Manager manager;                                // Python: manager = Manager()
//   auto scores = manager.dict<std::string, int>();        //         scores = manager.dict()
//   auto log = manager.list<std::string>();                //         log = manager.list()
//   auto lock = manager.Lock();                            //         lock = manager.Lock()
//   mproc::Process p(work, scores, log, lock);             // proxies travel to other processes
//   p.start(); p.join();
//   int n = scores.at("bob");                              //         scores["bob"]
//   manager.shutdown();                                    // (or the destructor)
//
// The server is a child process (started by the start method of ManagerOptions, or the
// default), daemonic: it ends with shutdown(), with the Manager's destructor, or with its owner,
// even if the owner is killed. Each proxy method is one request to it and one reply (a round trip
// over a Unix socket, or TCP for a manager at a TCP address); every method is atomic at the server.
// A proxy is a handle: copies share one reference to the object, which the server destroys when
// the last proxy of every process is gone (a process that ends or is killed drops its references).
// A proxy may be passed to a Process or a Pool task (also a pool made before the manager); the
// receiving process connects to the manager on first use. The sender must keep its proxy until
// the receiver has used it once, as in Python.
//
// Python's SyncManager made first and started later is a Manager made with mproc::not_started:
// `Manager m(options, mproc::not_started); m.start(setup, 42);` (setup(42) runs in the server),
// or m.connect() to a manager running elsewhere, or m.get_server().serve_forever() to serve in
// the calling process.
//
// Python's names are kept: d["k"] is d.at("k"), d["k"] = v is d.set("k", v), del d["k"] is
// d.erase("k"), len(d) is d.size(). Differences on purpose: containers are typed (dict<K, V>,
// list<T>, Value<T>; a Namespace's attributes are typed when read); a dict's keys come in sorted
// order (a std::map at the server), not insertion order; a client process that dies holding a
// manager Lock, RLock or Condition releases it (Python keeps it locked forever).
//
// Errors: a manager that is gone (shut down, killed) makes every proxy call throw mproc::EOFError
// ("the manager at ... is gone"), never hang, also a call blocked at the server (Lock::acquire).
// Python's exceptions from the server map as elsewhere in mproc: KeyError and IndexError are
// std::out_of_range, ValueError std::invalid_argument, RuntimeError (releasing an unlocked lock)
// mproc::StateError, each rethrown with its type and message.
//
// Security: a manager listens on an abstract Unix name of its own by default, and clients prove
// they know its authkey (random, 32 bytes, unless given) before any request is decoded. See
// docs/managers.md for what the authkey protects and what it does not.
//
// Thread safety: a Manager object is used by one thread at a time; proxies may be used from any
// threads at once (each thread's blocking calls wait on their own connection).
#pragma once

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <mproc/connection.hpp>
#include <mproc/detail/manager_client.hpp>
#include <mproc/detail/manager_containers.hpp>
#include <mproc/detail/manager_served.hpp>
#include <mproc/errors.hpp>
#include <mproc/pool_options.hpp>
#include <mproc/serialize.hpp>
#include <mproc/start_method.hpp>

namespace mproc {

class BaseProxy;

namespace detail::manager {
struct ProxyAccess {
    template <class P>
    static P make(std::shared_ptr<ProxyCore> core) {
        return P(std::move(core));
    }
    static const ProxyCore& core(const BaseProxy& proxy);
};
// Timeouts travel as seconds; none: wait forever.
inline std::optional<double> seconds(std::optional<std::chrono::duration<double>> timeout) {
    if (!timeout) return std::nullopt;
    return timeout->count();
}
}  // namespace detail::manager

/// What every proxy is: a handle on an object held by a Manager's server. Python: BaseProxy.
/// Copies share the object (and one reference to it); a proxy can be sent to other processes.
class BaseProxy {
public:
    /// The object's id at the server. Python: proxy._id.
    std::uint64_t id() const noexcept { return core_->id(); }
    /// The manager's address. Python: proxy._token.address.
    const connection::Address& address() const noexcept { return core_->client().address(); }

protected:
    /// A proxy of the object `core` refers to.
    explicit BaseProxy(std::shared_ptr<detail::manager::ProxyCore> core) : core_(std::move(core)) {}
    /// Calls `method` at the server with `args`; its result, as an R.
    template <class R, class... Args>
    R call(std::string_view method, const Args&... args) const {
        return core_->call<R, Args...>(method, args...);
    }

private:
    std::shared_ptr<detail::manager::ProxyCore> core_;
    friend struct detail::manager::ProxyAccess;
};

inline const detail::manager::ProxyCore& detail::manager::ProxyAccess::core(const BaseProxy& proxy) {
    return *proxy.core_;
}

/// A proxy crosses to another process as the manager's address and authkey and the object's id.
template <class P>
    requires std::derived_from<P, BaseProxy>
struct Codec<P> {
    static void encode(Writer& out, const P& proxy) {
        detail::manager::encode_proxy(out, detail::manager::ProxyAccess::core(proxy));
    }
    static P decode(Reader& in) { return detail::manager::ProxyAccess::make<P>(detail::manager::decode_proxy(in)); }
};

/// A dict held by the manager. Python: DictProxy (manager.dict()). K must be ordered (the server
/// keeps a std::map): keys(), values() and copy() come in key order.
template <class K, class V>
class DictProxy : public BaseProxy {
public:
    /// d[key]; std::out_of_range (KeyError) if absent.
    V at(const K& key) const { return call<V>("__getitem__", key); }
    /// d[key] = value.
    void set(const K& key, const V& value) const { call<void>("__setitem__", key, value); }
    /// del d[key]; std::out_of_range (KeyError) if absent.
    void erase(const K& key) const { call<void>("__delitem__", key); }
    /// key in d.
    bool contains(const K& key) const { return call<bool>("__contains__", key); }
    /// len(d).
    std::size_t size() const { return static_cast<std::size_t>(call<std::uint64_t>("__len__")); }
    /// d.get(key): the value, or nothing.
    std::optional<V> get(const K& key) const { return call<std::optional<V>>("get", key); }
    /// d.get(key, default).
    V get(const K& key, const V& otherwise) const { return get(key).value_or(otherwise); }
    /// d.pop(key); std::out_of_range (KeyError) if absent.
    V pop(const K& key) const {
        auto value = call<std::optional<V>>("pop", key);
        if (!value) throw std::out_of_range("mproc: KeyError: the manager's dict has no such key");
        return std::move(*value);
    }
    /// d.pop(key, default).
    V pop(const K& key, const V& otherwise) const { return call<std::optional<V>>("pop", key).value_or(otherwise); }
    /// d.popitem(): the last item in key order; std::out_of_range (KeyError) if empty.
    std::pair<K, V> popitem() const { return call<std::pair<K, V>>("popitem"); }
    /// d.setdefault(key, default): the value, set to `value` first if absent.
    V setdefault(const K& key, const V& value) const { return call<V>("setdefault", key, value); }
    /// d.keys().
    std::vector<K> keys() const { return call<std::vector<K>>("keys"); }
    /// d.values().
    std::vector<V> values() const { return call<std::vector<V>>("values"); }
    /// d.copy(), or dict(d.items()): every item, in one reply.
    std::map<K, V> copy() const { return call<std::map<K, V>>("copy"); }
    /// d.update(items).
    void update(const std::map<K, V>& items) const { call<void>("update", items); }
    /// d.clear().
    void clear() const { call<void>("clear"); }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A list held by the manager. Python: ListProxy (manager.list()). Indices are Python's:
/// negative ones count from the end; outside the list, std::out_of_range (IndexError).
template <class T>
class ListProxy : public BaseProxy {
public:
    /// l[index].
    T at(std::int64_t index) const { return call<T>("__getitem__", index); }
    /// l[index] = value.
    void set(std::int64_t index, const T& value) const { call<void>("__setitem__", index, value); }
    /// del l[index].
    void erase(std::int64_t index) const { call<void>("__delitem__", index); }
    /// len(l).
    std::size_t size() const { return static_cast<std::size_t>(call<std::uint64_t>("__len__")); }
    /// l.append(value).
    void append(const T& value) const { call<void>("append", value); }
    /// l.extend(values).
    void extend(const std::vector<T>& values) const { call<void>("extend", values); }
    /// l.insert(index, value).
    void insert(std::int64_t index, const T& value) const { call<void>("insert", index, value); }
    /// l.pop(index); std::out_of_range (IndexError) for an empty list or a bad index.
    T pop(std::int64_t index = -1) const { return call<T>("pop", index); }
    /// l[:], list(l): every item, in one reply.
    std::vector<T> copy() const { return call<std::vector<T>>("copy"); }
    /// l.reverse().
    void reverse() const { call<void>("reverse"); }
    /// l.clear().
    void clear() const { call<void>("clear"); }
    /// l.count(value). Needs T with ==.
    std::size_t count(const T& value) const
        requires std::equality_comparable<T>
    {
        return static_cast<std::size_t>(call<std::uint64_t>("count", value));
    }
    /// l.index(value); std::invalid_argument (ValueError) if absent. Needs T with ==.
    std::size_t index(const T& value) const
        requires std::equality_comparable<T>
    {
        return static_cast<std::size_t>(call<std::uint64_t>("index", value));
    }
    /// l.remove(value); std::invalid_argument (ValueError) if absent. Needs T with ==.
    void remove(const T& value) const
        requires std::equality_comparable<T>
    {
        call<void>("remove", value);
    }
    /// l.sort(). Needs T with <.
    void sort() const
        requires std::totally_ordered<T>
    {
        call<void>("sort");
    }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A value held by the manager. Python: ValueProxy (manager.Value(typecode, value)).
template <class T>
class ValueProxy : public BaseProxy {
public:
    /// v.value, v.get().
    T get() const { return call<T>("get"); }
    /// v.value = value, v.set(value).
    void set(const T& value) const { call<void>("set", value); }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// What the manager's locks have in common. Python: AcquirerProxy. Also Lockable, for
/// std::lock_guard and std::unique_lock.
class AcquirerProxy : public BaseProxy {
public:
    /// Waits until it can be taken (up to `timeout`; not at all if !blocking) and takes it;
    /// returns whether it did. Python: acquire(blocking, timeout).
    bool acquire(bool blocking = true, std::optional<std::chrono::duration<double>> timeout = std::nullopt) const {
        return call<bool>("acquire", blocking, detail::manager::seconds(timeout));
    }
    /// Python: release().
    void release() const { call<void>("release"); }
    /// acquire(), for std::lock_guard and std::unique_lock.
    void lock() const { (void)acquire(); }
    /// acquire(false), for std::unique_lock.
    bool try_lock() const { return acquire(false); }
    /// release(), for std::lock_guard and std::unique_lock.
    void unlock() const { release(); }

protected:
    using BaseProxy::BaseProxy;
};

/// A lock held by the manager, with no owner: any process may release it; release() of an
/// unlocked one is StateError (Python's RuntimeError). Python: the proxy of manager.Lock(). A
/// client process that dies holding it releases it (its connections close).
class LockProxy : public AcquirerProxy {
private:
    using AcquirerProxy::AcquirerProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A reentrant lock held by the manager, owned by a thread of a process. Python: the proxy of
/// manager.RLock(). release() by another thread: StateError. Released when its owner's process dies.
class RLockProxy : public AcquirerProxy {
private:
    using AcquirerProxy::AcquirerProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A semaphore held by the manager. Python: the proxy of manager.Semaphore(value) and
/// manager.BoundedSemaphore(value) (whose release() past its initial value is StateError).
class SemaphoreProxy : public AcquirerProxy {
public:
    /// Python: release(n).
    void release(std::int64_t n = 1) const { call<void>("release", n); }
    /// The current value. Python: get_value() of multiprocessing.Semaphore.
    std::int64_t get_value() const { return call<std::int64_t>("get_value"); }
    /// release(), for std::lock_guard and std::unique_lock.
    void unlock() const { release(); }

private:
    using AcquirerProxy::AcquirerProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A condition variable held by the manager, over a reentrant lock of its own. Python: the proxy
/// of manager.Condition(). wait() and notify() without holding it: StateError.
class ConditionProxy : public AcquirerProxy {
public:
    /// Releases the lock, waits to be notified (up to `timeout`), takes the lock again; returns
    /// whether it was notified. Python: wait(timeout).
    bool wait(std::optional<std::chrono::duration<double>> timeout = std::nullopt) const {
        return call<bool>("wait", detail::manager::seconds(timeout));
    }
    /// Waits until predicate() holds (up to `timeout`); returns its last value. Python: wait_for.
    template <class Predicate>
    bool wait_for(Predicate predicate, std::optional<std::chrono::duration<double>> timeout = std::nullopt) const {
        const auto deadline = timeout ? std::optional(std::chrono::steady_clock::now() + *timeout) : std::nullopt;
        bool result = predicate();
        while (!result) {
            std::optional<std::chrono::duration<double>> left;
            if (deadline) {
                left = *deadline - std::chrono::steady_clock::now();
                if (left->count() <= 0) break;
            }
            (void)wait(left);
            result = predicate();
        }
        return result;
    }
    /// Python: notify(n).
    void notify(std::uint64_t n = 1) const { call<void>("notify", n); }
    /// Python: notify_all().
    void notify_all() const { call<void>("notify_all"); }

private:
    using AcquirerProxy::AcquirerProxy;
    friend struct detail::manager::ProxyAccess;
};

/// An event held by the manager. Python: the proxy of manager.Event().
class EventProxy : public BaseProxy {
public:
    /// Sets the flag and wakes every waiter. Python: set().
    void set() const { call<void>("set"); }
    /// Clears the flag. Python: clear().
    void clear() const { call<void>("clear"); }
    /// Whether the flag is set. Python: is_set().
    bool is_set() const { return call<bool>("is_set"); }
    /// Waits until set (up to `timeout`); returns whether it is. Python: wait(timeout).
    bool wait(std::optional<std::chrono::duration<double>> timeout = std::nullopt) const {
        return call<bool>("wait", detail::manager::seconds(timeout));
    }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// Named attributes held by the manager, each of the type it was set with. Python: the proxy of
/// manager.Namespace(): ns.x = 1 is ns.set("x", 1), ns.x is ns.get<int>("x"), del ns.x is
/// ns.erase("x"). Reading an attribute that is absent is std::out_of_range (AttributeError); as
/// another type than it was set with, std::invalid_argument.
class NamespaceProxy : public BaseProxy {
public:
    /// Sets attribute `name` to `value`. Python: setattr(ns, name, value).
    template <class T>
    void set(const std::string& name, const T& value) const {
        static_assert((require_transferable<T>(), true));
        call<void>("__setattr__", name, std::pair<std::string, std::vector<std::byte>>(typeid(T).name(), serialize(value)));
    }
    /// Attribute `name`, which must have been set as a T. Python: getattr(ns, name).
    template <class T>
    T get(const std::string& name) const {
        static_assert((require_transferable<T>(), true));
        auto [type, bytes] = call<std::pair<std::string, std::vector<std::byte>>>("__getattr__", name);
        if (type != typeid(T).name())
            throw std::invalid_argument("mproc: the Namespace's attribute '" + name + "' was set as another type");
        return deserialize<T>(bytes);
    }
    /// Removes attribute `name`. Python: delattr(ns, name).
    void erase(const std::string& name) const { call<void>("__delattr__", name); }
    /// The attributes' names, sorted.
    std::vector<std::string> names() const { return call<std::vector<std::string>>("names"); }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A fixed-size array held by the manager. Python: ArrayProxy (manager.Array(typecode, sequence)).
/// Indices as ListProxy's.
template <class T>
class ArrayProxy : public BaseProxy {
public:
    /// a[index].
    T at(std::int64_t index) const { return call<T>("__getitem__", index); }
    /// a[index] = value.
    void set(std::int64_t index, const T& value) const { call<void>("__setitem__", index, value); }
    /// len(a).
    std::size_t size() const { return static_cast<std::size_t>(call<std::uint64_t>("__len__")); }
    /// a[:]: every item, in one reply.
    std::vector<T> copy() const { return call<std::vector<T>>("copy"); }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A queue held by the manager (Python's queue.Queue at the server). Python: the proxy of
/// manager.Queue(maxsize). put() on a full queue and get() on an empty one wait (up to `timeout`;
/// not at all if !block), then throw mproc::Full and mproc::Empty.
template <class T>
class QueueProxy : public BaseProxy {
public:
    /// Adds an item, waiting for room if `block` (at most `timeout`). Python: put(item, block, timeout).
    void put(const T& item, bool block = true, std::optional<std::chrono::duration<double>> timeout = std::nullopt) const {
        call<void>("put", item, block, detail::manager::seconds(timeout));
    }
    /// put(item, false). Python: put_nowait(item).
    void put_nowait(const T& item) const { put(item, false); }
    /// Removes and returns an item, waiting for one if `block` (at most `timeout`). Python:
    /// get(block, timeout).
    T get(bool block = true, std::optional<std::chrono::duration<double>> timeout = std::nullopt) const {
        return call<T>("get", block, detail::manager::seconds(timeout));
    }
    /// get(false). Python: get_nowait().
    T get_nowait() const { return get(false); }
    /// The number of items. Python: qsize().
    std::size_t qsize() const { return static_cast<std::size_t>(call<std::uint64_t>("qsize")); }
    /// Whether it holds no item. Python: empty().
    bool empty() const { return qsize() == 0; }
    /// Whether it holds maxsize items. Python: full().
    bool full() const { return call<bool>("full"); }

protected:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A queue whose consumers say when each item is done. Python: the proxy of
/// manager.JoinableQueue(maxsize).
template <class T>
class JoinableQueueProxy : public QueueProxy<T> {
public:
    /// StateError when called more times than items were put (Python's ValueError).
    void task_done() const { this->template call<void>("task_done"); }
    /// Waits until every item put has been marked done.
    void join() const { this->template call<void>("join"); }

private:
    using QueueProxy<T>::QueueProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A barrier held by the manager (no action). Python: the proxy of manager.Barrier(parties).
/// A party whose process dies while waiting breaks it (Python's would wait forever).
class BarrierProxy : public BaseProxy {
public:
    /// Waits for the other parties (up to `timeout`); returns this party's index. A timeout
    /// breaks the barrier; BrokenBarrierError when it is broken. Python: wait(timeout).
    std::int64_t wait(std::optional<std::chrono::duration<double>> timeout = std::nullopt) const {
        return call<std::int64_t>("wait", detail::manager::seconds(timeout));
    }
    /// Breaks the barrier. Python: abort().
    void abort() const { call<void>("abort"); }
    /// Back to its initial state. Python: reset().
    void reset() const { call<void>("reset"); }
    /// How many must wait. Python: parties.
    std::int64_t parties() const { return call<std::int64_t>("parties"); }
    /// How many wait now. Python: n_waiting.
    std::int64_t n_waiting() const { return call<std::int64_t>("n_waiting"); }
    /// Whether it is broken. Python: broken.
    bool broken() const { return call<bool>("broken"); }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

/// A proxy of a type of your own, registered with `register_managed<S>`: call(method, args...) runs
/// the method registered under that name. Python: the proxy of a BaseManager.register()ed type.
template <class S>
class ObjectProxy : public BaseProxy {
public:
    /// Runs `method` at the server; R and Args must be the method's result and parameter types
    /// (SerializationError otherwise).
    template <class R, class... Args>
    R call(std::string_view method, const Args&... args) const {
        return BaseProxy::call<R, Args...>(method, args...);
    }

private:
    using BaseProxy::BaseProxy;
    friend struct detail::manager::ProxyAccess;
};

namespace detail::manager {
template <class S>
std::string& managed_name() {
    static std::string name = served_type_name<S>();
    return name;
}
}  // namespace detail::manager

/// Registers a type of your own with the managers of this program, under `name`. Python:
/// BaseManager.register(typeid, callable, exposed=...). S provides
///   using Init = ...;                         what Manager::create<S>(init) sends (any
///                                             Transferable type; std::monostate for nothing)
///   explicit S(Init);
///   static constexpr bool serialized = true;  one call at a time (false: S locks for itself)
///   static void describe(mproc::detail::manager::MethodTable<S>& t) { t.add("name", &S::method); ... }
/// A method may take `const mproc::detail::manager::Caller&` first (who calls). Call it at
/// namespace scope (`const bool registered = mproc::register_managed<Counter>("Counter");`): a
/// spawned server, and a remote manager built from the same sources, must have the same
/// registrations before main(), as Python requires the same register() calls on both sides.
template <class S>
bool register_managed(const std::string& name) {
    detail::manager::managed_name<S>() = name;
    return detail::manager::register_served<S>(name);
}

/// Options of a Manager. Python: BaseManager(address, authkey) and the context's start method.
struct ManagerOptions {
    /// Where the server listens; none: an abstract Unix name of its own (nothing in the file
    /// system). A TCP address ({"0.0.0.0", 50000}) serves other hosts: see docs/managers.md.
    std::optional<connection::Address> address = std::nullopt;
    /// The key clients must know; none: 32 random bytes (Python: the process's authkey).
    std::optional<std::string> authkey = std::nullopt;
    /// How the server process starts; none: get_start_method().
    std::optional<StartMethod> start_method = std::nullopt;
};

/// The tag of a Manager made without starting its server: Python's SyncManager(address, authkey)
/// or BaseManager(address, authkey) before start(), connect() or get_server():
/// `mproc::Manager manager({.authkey = "abc"}, mproc::not_started);`
struct NotStarted {
    explicit NotStarted() = default;
};
/// See NotStarted.
inline constexpr NotStarted not_started{};

/// A manager's server run in the calling process, for a program whose whole job is serving.
/// Python: multiprocessing.managers.Server, from manager.get_server(). Made by
/// Manager::get_server(), which listens at once (StartError when it cannot: the address is in
/// use); serve_forever() serves until a client asks it to stop, or the process is killed or
/// signalled.
class ManagerServer {
public:
    /// Where it listens (port 0 or no address: the one picked). Python: server.address.
    const connection::Address& address() const;
    /// The key its clients must know.
    const std::string& authkey() const noexcept { return authkey_; }
    /// Serves every client, each connection on a thread of its own, in this process, and never
    /// returns: the process ends with status 0 when a client asks it to
    /// (Manager::shutdown_server()), or when it is killed or signalled (SIGTERM, SIGINT), as
    /// Python's. Python: serve_forever().
    [[noreturn]] void serve_forever();

    /// Moves the server; the moved-from object may only be destroyed.
    ManagerServer(ManagerServer&&) noexcept;
    /// Stops listening (if serve_forever() was never called).
    ~ManagerServer();

private:
    friend class Manager;
    ManagerServer(std::unique_ptr<connection::Listener> listener, std::string authkey);
    std::unique_ptr<connection::Listener> listener_;
    std::string authkey_;
};

/// A server process holding shared objects, and the factory of their proxies. Python:
/// multiprocessing.Manager() (a started SyncManager); SyncManager(address, authkey) not started
/// yet, with start(), connect() and get_server(), as Manager(options, not_started); and
/// BaseManager(address, authkey).connect() as Manager::connect.
///
/// Errors: the constructor and start() throw StartError when the server does not start (the
/// address is in use: its OSError's text), and what the initializer threw; start() twice or after
/// shutdown() is StateError (Python: ProcessError). The factories throw EOFError when the manager
/// is gone, StateError before start() or connect() and after shutdown(). Thread safety: one
/// thread at a time. Cost: a process, and one thread in it per connection (one per thread of each
/// process that has used a proxy); a connection over a Unix socket moves to two 64 KiB rings in
/// shared memory after its handshake (docs/managers.md), over TCP it stays a socket.
class Manager {
public:
    /// Starts a manager with the default options. Python: Manager(), or `with Manager() as m`
    /// (the destructor shuts it down, as leaving the block).
    Manager();
    /// Starts a manager. Python: BaseManager(address, authkey).start().
    explicit Manager(ManagerOptions options);
    /// A manager not started yet: start(), connect() or get_server() comes next. Python:
    /// SyncManager(address, authkey). No address: start() picks an abstract Unix name of its own;
    /// no authkey: 32 random bytes, drawn now.
    Manager(ManagerOptions options, NotStarted);
    /// Manager(ManagerOptions{}, not_started). Python: SyncManager().
    explicit Manager(NotStarted);

    /// Starts the server process of a Manager made with not_started, which runs `initializer`
    /// before it serves (empty: nothing). Python: start(initializer, initargs). The
    /// initializer's exception is rethrown here; StateError when started (or connected) already
    /// or shut down; std::invalid_argument for an initializer whose arguments hold descriptors
    /// (shared memory objects: pass them through a proxy instead).
    void start(const Call& initializer = {});
    /// start(mproc::call(initializer, initargs...)). Python: start(initializer, initargs).
    template <class F, class... Args>
    void start(F initializer, Args&&... initargs) {
        start(mproc::call(initializer, std::forward<Args>(initargs)...));
    }
    /// Makes this Manager, made with not_started, a client of the manager serving at its
    /// options' address with their authkey (Python: connect()): as Manager::connect. StateError
    /// when started already, shut down, or made with no address.
    void connect();
    /// A client of a manager running elsewhere (another program, or host): checks it can be
    /// reached with this authkey, but owns nothing (shutdown() only forgets it). OSError-based
    /// EOFError when nobody serves there, AuthenticationError for a wrong key. Python:
    /// BaseManager(address, authkey).connect().
    static Manager connect(const connection::Address& address, const std::string& authkey);

    /// Moves the manager; the moved-from object may only be destroyed or assigned to.
    Manager(Manager&&) noexcept;
    /// Moves the manager; the moved-from object may only be destroyed or assigned to.
    Manager& operator=(Manager&&) noexcept;
    /// shutdown().
    ~Manager();

    /// Stops the server (if this Manager started it) and waits for it to end; its objects are
    /// gone and their proxies throw EOFError. Idempotent. Python: shutdown().
    void shutdown() noexcept;
    /// Asks the server to stop, whoever started it, then shutdown(): the server replies, removes
    /// its socket file, flushes stdio and its process ends with status 0 (std::_Exit: other
    /// threads may still be serving, so no atexit handler or static destructor runs); every proxy
    /// of it then throws EOFError.
    /// The way to end a server run by ManagerServer::serve_forever() in another program. EOFError
    /// when the server is gone already, StateError before start() or connect() and after
    /// shutdown(). Python: the "shutdown" request of multiprocessing.managers.Server
    /// (`dispatch(conn, None, 'shutdown')`), which its BaseManager sends only for a manager it
    /// started.
    void shutdown_server();
    /// Where the server listens. Python: address.
    const connection::Address& address() const;
    /// The key its clients use. Python: the authkey given, or the process's.
    const std::string& authkey() const;
    /// The server's pid; nothing for a connected client, before start() or after shutdown().
    std::optional<int> pid() const;
    /// A server of this manager, made with not_started, to run in the calling process; it listens
    /// at the options' address (none: an abstract Unix name of its own) with their authkey.
    /// StateError when started, connected or shut down; StartError when it cannot listen. Python:
    /// get_server() (then server.serve_forever()).
    [[nodiscard]] ManagerServer get_server() const;

    /// A handle on this manager whose factories give the object called `name`: the first call
    /// with a name creates it from its arguments, every later one (from any client, here or on
    /// another host) gets the same object and ignores its arguments. Named objects live as long
    /// as the server, so that independent programs can meet at them:
    /// `remote.named("jobs").Queue<int>()`. std::invalid_argument when the object of that name is
    /// of another type, or the name is empty or over 512 bytes. Python: an object returned by a
    /// callable registered with BaseManager.register('get_jobs', callable=lambda: jobs).
    Manager named(std::string name) const;

    /// Python: manager.dict(). K must be ordered (operator<).
    template <class K, class V>
    DictProxy<K, V> dict(std::map<K, V> items = {}) {
        static_assert((require_transferable<K>(), require_transferable<V>(), true));
        static_assert(std::totally_ordered<K>, "mproc::Manager::dict<K, V>: K needs operator< and ==: the manager keeps a std::map");
        return make<DictProxy<K, V>, detail::manager::DictObject<K, V>>(items);
    }
    /// Python: manager.list().
    template <class T>
    ListProxy<T> list(std::vector<T> items = {}) {
        static_assert((require_transferable<T>(), true));
        return make<ListProxy<T>, detail::manager::ListObject<T>>(items);
    }
    /// Python: manager.Value(typecode, value).
    template <class T>
    ValueProxy<T> Value(T value = T{}) {
        static_assert((require_transferable<T>(), true));
        return make<ValueProxy<T>, detail::manager::ValueObject<T>>(value);
    }
    /// Python: manager.Array(typecode, sequence).
    template <class T>
    ArrayProxy<T> Array(std::vector<T> items) {
        static_assert((require_transferable<T>(), true));
        return make<ArrayProxy<T>, detail::manager::ListObject<T>>(items);
    }
    /// Python: manager.Queue(maxsize) (0: unbounded).
    template <class T>
    QueueProxy<T> Queue(std::int64_t maxsize = 0) {
        static_assert((require_transferable<T>(), true));
        return make<QueueProxy<T>, detail::manager::QueueObject<T>>(maxsize);
    }
    /// Python: manager.JoinableQueue(maxsize).
    template <class T>
    JoinableQueueProxy<T> JoinableQueue(std::int64_t maxsize = 0) {
        static_assert((require_transferable<T>(), true));
        return make<JoinableQueueProxy<T>, detail::manager::QueueObject<T>>(maxsize);
    }
    /// An object of a type registered with `register_managed<S>`. Python: manager.TYPEID(...).
    /// std::invalid_argument when the server has no such registration.
    template <class S>
    ObjectProxy<S> create(const typename S::Init& init) {
        return make_of_type<ObjectProxy<S>>(detail::manager::managed_name<S>(), init);
    }
    /// Python: manager.Barrier(parties).
    BarrierProxy Barrier(std::int64_t parties);
    /// Python: manager.Lock().
    LockProxy Lock();
    /// Python: manager.RLock().
    RLockProxy RLock();
    /// Python: manager.Semaphore(value).
    SemaphoreProxy Semaphore(std::int64_t value = 1);
    /// Python: manager.BoundedSemaphore(value).
    SemaphoreProxy BoundedSemaphore(std::int64_t value = 1);
    /// Python: manager.Condition() (over a reentrant lock of its own).
    ConditionProxy Condition();
    /// A condition over `lock`, which it shares: holding the lock is holding the condition, and
    /// wait() releases it. Python: manager.Condition(manager.Lock()). std::invalid_argument when
    /// the lock is another manager's.
    ConditionProxy Condition(const LockProxy& lock);
    /// The same over a reentrant lock. Python: manager.Condition(manager.RLock()).
    ConditionProxy Condition(const RLockProxy& lock);
    /// Python: manager.Event().
    EventProxy Event();
    /// Python: manager.Namespace().
    NamespaceProxy Namespace();

private:
    struct Server;
    template <class Proxy, class Init>
    Proxy make_of_type(const std::string& type, const Init& init) {
        return detail::manager::ProxyAccess::make<Proxy>(detail::manager::create(client_shared(), type, init, name_));
    }
    template <class Proxy, class Served, class Init>
    Proxy make(const Init& init) {
        (void)detail::manager::ServedTypeRegistration<Served>::registered;
        return make_of_type<Proxy>(detail::manager::served_type_name<Served>(), init);
    }
    const std::shared_ptr<detail::manager::Client>& client_shared() const;
    // StateError unless this Manager was made with not_started and has not started since.
    void check_not_started(const char* what) const;
    ConditionProxy condition_over(const AcquirerProxy& lock);

    enum class State { initial, started, shut_down };
    State state_ = State::started;
    ManagerOptions options_;  // what start(), connect() and get_server() use
    std::unique_ptr<Server> server_;
    std::shared_ptr<detail::manager::Client> client_;
    std::string name_;  // a handle from named(): the name its factories ask for
};

}  // namespace mproc
