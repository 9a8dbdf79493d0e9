// mproc/detail/task.hpp: a call packed into one message, run in another process, and its result
// (or exception) packed back.
//
// A packed call is: the code address of a trampoline instantiated for this callable and these
// argument types, the callable's state, then the arguments. Code addresses travel as (module,
// offset), never as raw addresses, so the message means the same thing in any process running the
// same binary. The reply is a status byte followed by the result or by the exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <mproc/serialize.hpp>

namespace mproc::detail {

// Defined in src/task.cpp.
void encode_code_address(Writer& out, std::uintptr_t address);
std::uintptr_t decode_code_address(Reader& in);

using Trampoline = void (*)(Reader& in, Writer& out);

enum class ReplyStatus : std::uint8_t { value = 0, exception = 1 };

// --- Callables -------------------------------------------------------------------------------

template <class F>
concept function_pointer = std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>;

// A function object without state (a captureless lambda): nothing to send, rebuilt as F{}.
template <class F>
concept stateless_callable = std::is_class_v<F> && std::is_empty_v<F> && std::is_trivially_copyable_v<F> &&
                             std::is_default_constructible_v<F>;

// A function object whose state travels because its type says how: a Codec (mproc::partial,
// mproc::copy_captures) or a cereal serialize/save/load function. A lambda's captures are never
// judged by their types alone: `[&x]` and `[x]` are both trivially copyable closures, and the
// first would be sent as an address that means nothing in the other process.
template <class F>
concept declared_callable_state = has_codec<F> || (cereal_serializable<F> && cereal_can_serialize<F>());

template <class F>
concept shippable_callable = function_pointer<F> || stateless_callable<F> || declared_callable_state<F>;

template <class F>
constexpr void require_shippable_callable() {
    static_assert(shippable_callable<F>,
                  "mproc: this callable cannot be sent to another process: it has state (a lambda with "
                  "captures, a function object with data members) and does not say how that state "
                  "travels. Bind the values with mproc::partial(f, args...), as Python's "
                  "functools.partial: `[n](int x) { return x + n; }` becomes "
                  "`mproc::partial([](int n, int x) { return x + n; }, n)`, and the bound values are "
                  "checked and sent like any argument. A function object of yours may instead have a "
                  "cereal serialize function. (A capture by reference looks like a capture by value to "
                  "the compiler, and would send an address of this process; mproc::copy_captures(f) "
                  "sends the captures as raw bytes anyway, for captures you know are plain values.) "
                  "Functions and captureless lambdas are sent as they are.");
}

// (For a callable that cannot be sent, require_shippable_callable's message is the only error.)
template <class F>
void encode_callable(Writer& out, const F& f) {
    require_shippable_callable<F>();
    if constexpr (function_pointer<F>)
        encode_code_address(out, reinterpret_cast<std::uintptr_t>(f));
    else if constexpr (shippable_callable<F>)
        encode(out, f);
}

template <class F>
F decode_callable(Reader& in) {
    require_shippable_callable<F>();
    if constexpr (function_pointer<F>)
        return reinterpret_cast<F>(decode_code_address(in));
    else if constexpr (shippable_callable<F>)
        return decode<F>(in);
    else
        in.fail("a callable that cannot be sent");
}

// --- Arguments -------------------------------------------------------------------------------

template <class... T>
struct type_list {};

// The parameter types of a callable, where they can be known: a function, or a class with a
// single operator() that is not a template. `known` is false otherwise (a generic lambda, an
// overloaded operator()). mproc::partial specializes it with the parameters it leaves.
template <class F>
struct parameters {
    static constexpr bool known = false;
};
template <class F>
    requires requires { &F::operator(); }
struct parameters<F> : parameters<decltype(&F::operator())> {};
template <class R, class... P, bool NoExcept>
struct parameters<R (*)(P...) noexcept(NoExcept)> {
    static constexpr bool known = true;
    using types = type_list<P...>;
};
template <class R, class C, class... P, bool NoExcept>
struct parameters<R (C::*)(P...) noexcept(NoExcept)> : parameters<R (*)(P...)> {};
template <class R, class C, class... P, bool NoExcept>
struct parameters<R (C::*)(P...) const noexcept(NoExcept)> : parameters<R (*)(P...)> {};
template <class R, class C, class... P, bool NoExcept>
struct parameters<R (C::*)(P...) & noexcept(NoExcept)> : parameters<R (*)(P...)> {};
template <class R, class C, class... P, bool NoExcept>
struct parameters<R (C::*)(P...) const & noexcept(NoExcept)> : parameters<R (*)(P...)> {};

template <std::size_t I, class List>
struct list_element {
    using type = void;  // past the end
};
template <class First, class... Rest>
struct list_element<0, type_list<First, Rest...>> {
    using type = First;
};
template <std::size_t I, class First, class... Rest>
    requires(I > 0)
struct list_element<I, type_list<First, Rest...>> : list_element<I - 1, type_list<Rest...>> {};

// Parameter I of F; void when it cannot be known.
template <class F, std::size_t I>
struct parameter {
    using type = void;
};
template <class F, std::size_t I>
    requires parameters<F>::known
struct parameter<F, I> : list_element<I, typename parameters<F>::types> {};

template <class C>
concept character = std::is_same_v<C, char> || std::is_same_v<C, wchar_t> || std::is_same_v<C, char8_t> ||
                    std::is_same_v<C, char16_t> || std::is_same_v<C, char32_t>;

// An argument as it is when nothing is known of the parameter: decayed, with an array of
// characters (a string literal) as the string it spells rather than a pointer to this process's
// memory.
template <class Arg>
struct decayed_argument {
    using type = std::decay_t<Arg>;
};
template <class Arg>
    requires std::is_array_v<std::remove_reference_t<Arg>> &&
             character<std::remove_cv_t<std::remove_extent_t<std::remove_reference_t<Arg>>>>
struct decayed_argument<Arg> {
    using type = std::basic_string<std::remove_cv_t<std::remove_extent_t<std::remove_reference_t<Arg>>>>;
};

// What an argument travels as, for a parameter of type P (void: unknown). As when calling f
// directly, it is converted to the parameter's type: "alice" for a `const std::string&` travels
// as a std::string. When the parameter's type cannot travel but the argument can and converts to
// it, the argument travels and the conversion happens on the other side (a std::string for a
// std::string_view). Otherwise the parameter's type is kept, so that the compile-time error names
// it.
template <class P, class Arg>
struct shipped_argument {
    using Decayed = typename decayed_argument<Arg>::type;
    using Parameter = std::remove_cvref_t<P>;
    using type = std::conditional_t<
        Transferable<Parameter> && std::is_convertible_v<Arg, Parameter>, Parameter,
        std::conditional_t<Transferable<Decayed> && std::is_convertible_v<Decayed&, P>, Decayed, Parameter>>;
};
template <class Arg>
struct shipped_argument<void, Arg> : decayed_argument<Arg> {};

template <class F, class Indices, class... Args>
struct shipped_arguments_of;
template <class F, std::size_t... I, class... Args>
struct shipped_arguments_of<F, std::index_sequence<I...>, Args...> {
    using type = std::tuple<typename shipped_argument<typename parameter<F, I>::type, Args>::type...>;
};

// The tuple of values that carries `args` to a call of F in another process.
template <class F, class... Args>
using shipped_arguments_t =
    typename shipped_arguments_of<std::decay_t<F>, std::index_sequence_for<Args...>, Args...>::type;

// --- Calls -----------------------------------------------------------------------------------

// Whether F can be called with lvalues of a tuple's element types.
template <class F, class Tuple>
inline constexpr bool invocable_with_elements = false;
template <class F, class... Args>
inline constexpr bool invocable_with_elements<F, std::tuple<Args...>> = std::is_invocable_v<F&, Args&...>;

template <class F, class... Args>
using call_result_t = std::invoke_result_t<F&, Args&...>;

// What the reply to a call carries: its result, or nothing (a Process target's result is dropped).
enum class Reply { result, nothing };

template <class F, Reply reply, class... Args>
constexpr void require_shippable_call() {
    static_assert(std::is_invocable_v<F&, Args&...>,
                  "mproc: the function cannot be called with these argument types");
    if constexpr (std::is_invocable_v<F&, Args&...>) {
        require_shippable_callable<F>();
        (require_transferable<Args>(), ...);
        using R = call_result_t<F, Args...>;
        if constexpr (reply == Reply::result && !std::is_void_v<R>) require_transferable<std::remove_cvref_t<R>>();
    }
}

// Arguments are the receiver's own copies: moved into the call when the callable takes them by
// value or rvalue, passed as lvalues when it takes non-const references.
template <class F, class Tuple>
decltype(auto) invoke_with(F& f, Tuple& args) {
    return std::apply(
        [&](auto&... arg) -> decltype(auto) {
            if constexpr (std::is_invocable_v<F&, decltype(std::move(arg))...>)
                return std::invoke(f, std::move(arg)...);
            else
                return std::invoke(f, arg...);
        },
        args);
}

template <class F, Reply reply, class... Args>
void trampoline(Reader& in, Writer& out) {
    F f = decode_callable<F>(in);
    auto args = decode<std::tuple<Args...>>(in);
    using R = call_result_t<F, Args...>;
    if constexpr (std::is_void_v<R> || reply == Reply::nothing) {
        invoke_with(f, args);
        out.write_value(ReplyStatus::value);
    } else {
        // Evaluate before writing the status: a throwing call leaves nothing half-written.
        std::remove_cvref_t<R> result = invoke_with(f, args);
        out.write_value(ReplyStatus::value);
        encode(out, result);
    }
}

// Writes the call f(args...). The arguments are sent as their exact types: shipped_arguments_t
// says which types those should be.
template <Reply reply = Reply::result, class F, class... Args>
void pack_call(Writer& out, const F& f, const Args&... args) {
    require_shippable_call<F, reply, Args...>();
    const Trampoline entry = &trampoline<F, reply, Args...>;
    encode_code_address(out, reinterpret_cast<std::uintptr_t>(entry));
    encode_callable(out, f);
    (encode(out, args), ...);
}

// Runs a packed call and writes the reply: the result, or any exception it threw (also while
// decoding its arguments or encoding its result). Defined in src/task.cpp.
void run_packed_call(Reader& call, Writer& reply);

// Writes the exception being handled as a reply. Call only inside a catch block.
void encode_current_exception(Writer& reply);
// Throws the exception a reply carries, as API.md section 6 describes.
[[noreturn]] void rethrow_exception_reply(Reader& reply);

template <class R>
R unpack_reply(Reader& reply) {
    const auto status = reply.read_value<ReplyStatus>();
    if (status == ReplyStatus::exception) rethrow_exception_reply(reply);
    if (status != ReplyStatus::value) reply.fail("invalid reply status");
    if constexpr (!std::is_void_v<R>) return decode<R>(reply);
}

}  // namespace mproc::detail
