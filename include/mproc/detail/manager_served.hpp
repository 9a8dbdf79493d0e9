// The types a Manager's server can hold (internal to mproc): each is registered under a name,
// with how to make one from its initial value and its methods, by name.
//
// Registration happens during static initialization, by template instantiation: naming a proxy
// type (Manager::dict<K, V>() and the like) instantiates ServedTypeRegistration<S> for the
// server-side class S, whose initializer registers S. A spawned server runs the same program and
// so has the same registrations; a remote manager must be built from the same sources, as Python
// requires the same register() calls on both sides.
//
// A served class S provides:
//   using Init = ...;                              what create() decodes (std::monostate: nothing)
//   explicit S(Init);
//   static void describe(MethodTable<S>& table);   table.add("name", &S::method) for each method
//   static constexpr bool serialized = ...;        true: the server runs one call at a time on an
//                                                  object (containers); false: S synchronizes
//                                                  itself (locks, queues, whose calls block)
// (or S(Init, const FindObject&), for an object made over another one the server holds: a
// Condition over a Lock),
// and optionally `void client_gone(std::uint64_t client)`, called when every connection of a
// client process has closed (a Lock it held is released).
// A method may take `const Caller&` first: who calls it.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <mproc/detail/manager_wire.hpp>
#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

namespace mproc::detail::manager {

// Who makes a call: the client process (its token) and the thread in it, and whether that client
// has gone since (its connection closed: a call that blocks looks now and then, and gives up).
struct Caller {
    std::uint64_t client = 0;
    std::uint64_t thread = 0;
    std::function<bool()> gone;
};

// Waits on `condition` until `ready()`, `deadline` passes (then returns false) or the caller goes
// (EOFError: nobody is left to take what the call would get, such as a Lock).
template <class Ready>
bool wait_for_caller(const Caller& caller, std::condition_variable& condition, std::unique_lock<std::mutex>& lock,
                     std::optional<std::chrono::steady_clock::time_point> deadline, Ready ready) {
    constexpr auto slice = std::chrono::milliseconds(100);
    while (!ready()) {
        const auto now = std::chrono::steady_clock::now();
        if (deadline && now >= *deadline) return false;
        const auto until = deadline ? std::min(*deadline, now + slice) : now + slice;
        if (condition.wait_until(lock, until, ready)) break;
        if (caller.gone && caller.gone()) throw EOFError("mproc: the manager's client is gone");
    }
    return true;
}

// The deadline of a timeout in seconds (none: wait forever; a negative one is as 0, as Python).
inline std::optional<std::chrono::steady_clock::time_point> deadline_after(std::optional<double> timeout) {
    if (!timeout) return std::nullopt;
    return std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(std::max(0.0, *timeout)));
}

// Runs a method on an object: decodes the arguments from `arguments` and writes the reply's
// value (after ReplyStatus::value) to `reply`. Throws what the method throws.
using MethodFunction = std::function<void(void* object, const Caller& caller, Reader& arguments, Writer& reply)>;

// An object the server holds, and the name of its type.
struct HeldObject {
    std::shared_ptr<void> object;
    std::string_view type;
};
// The object the server holds under an id; std::out_of_range when it holds none.
using FindObject = std::function<HeldObject(ObjectId id)>;

struct ServedType {
    std::string name;
    bool serialized = true;
    std::function<std::shared_ptr<void>(Reader& init, const FindObject& find)> create;
    std::map<std::string, MethodFunction, std::less<>> methods;
    std::function<void(void* object, std::uint64_t client)> client_gone;  // may be empty
};

// Registers `type` (defined in src/manager/registry.cpp). A name registered already keeps its
// first registration: two instantiations of one template register the same thing.
void register_served_type(ServedType type);
// The type registered as `name`, or null.
[[nodiscard]] const ServedType* find_served_type(std::string_view name);

template <class S>
class MethodTable {
public:
    explicit MethodTable(ServedType& type) : type_(type) {}

    // `method` may be one of S's bases' (B).
    template <class B, class R, class... Args>
        requires std::derived_from<S, B>
    void add(std::string name, R (B::*method)(Args...)) {
        type_.methods.emplace(std::move(name), [method](void* object, const Caller&, Reader& in, Writer& reply) {
            run<std::tuple<std::remove_cvref_t<Args>...>>(
                in, reply, [&](auto&... args) { return (static_cast<S*>(object)->*method)(args...); });
        });
    }
    // A method that takes the Caller first.
    template <class B, class R, class... Args>
        requires std::derived_from<S, B>
    void add(std::string name, R (B::*method)(const Caller&, Args...)) {
        type_.methods.emplace(std::move(name), [method](void* object, const Caller& caller, Reader& in, Writer& reply) {
            run<std::tuple<std::remove_cvref_t<Args>...>>(
                in, reply, [&](auto&... args) { return (static_cast<S*>(object)->*method)(caller, args...); });
        });
    }

private:
    template <class Tuple, class Call>
    static void run(Reader& in, Writer& reply, Call&& call) {
        Tuple args = decode<Tuple>(in);
        if (!in.at_end()) in.fail("bytes left after the arguments");
        using R = decltype(std::apply(call, args));
        if constexpr (std::is_void_v<R>) {
            std::apply(call, args);
            reply.write_value(ReplyStatus::value);
        } else {
            R result = std::apply(call, args);
            reply.write_value(ReplyStatus::value);
            encode(reply, result);
        }
    }

    ServedType& type_;
};

// The name S is registered under: its type's (mangled) name, the same in every program built by
// the same compiler from the same sources.
template <class S>
std::string served_type_name() {
    return typeid(S).name();
}

template <class S>
bool register_served(std::string name = served_type_name<S>()) {
    ServedType type;
    type.name = std::move(name);
    type.serialized = S::serialized;
    type.create = [](Reader& in, const FindObject& find) -> std::shared_ptr<void> {
        auto init = decode<typename S::Init>(in);
        if (!in.at_end()) in.fail("bytes left after the initial value");
        if constexpr (std::is_constructible_v<S, typename S::Init, const FindObject&>)
            return std::make_shared<S>(std::move(init), find);
        else
            return std::make_shared<S>(std::move(init));
    };
    if constexpr (requires(S& s, std::uint64_t client) { s.client_gone(client); })
        type.client_gone = [](void* object, std::uint64_t client) { static_cast<S*>(object)->client_gone(client); };
    MethodTable<S> table(type);
    S::describe(table);
    register_served_type(std::move(type));
    return true;
}

// Instantiating `registered` registers S during static initialization.
template <class S>
struct ServedTypeRegistration {
    static inline const bool registered = register_served<S>();
};

}  // namespace mproc::detail::manager
