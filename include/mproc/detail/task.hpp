// mproc/detail/task.hpp: a call packed into one message, run in another process, and its result
// (or exception) packed back.
//
// A packed call is: the code address of a trampoline instantiated for this callable and these
// argument types, the callable's state, then the arguments. Code addresses travel as (module,
// offset), never as raw addresses, so the message means the same thing in any process running the
// same binary. The reply is a status byte followed by the result or by the exception.
#pragma once

#include <cstdint>
#include <functional>
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

template <class F>
concept shippable_callable = function_pointer<F> || Transferable<F>;

template <class F>
constexpr void require_shippable_callable() {
    static_assert(shippable_callable<F>,
                  "mproc: this callable cannot be sent to another process. Use a function, a "
                  "captureless lambda, or a lambda whose captures are trivially copyable values "
                  "(capture by value, no pointers); or pass the state as an argument instead.");
}

template <class F>
void encode_callable(Writer& out, const F& f) {
    if constexpr (function_pointer<F>)
        encode_code_address(out, reinterpret_cast<std::uintptr_t>(f));
    else
        encode(out, f);
}

template <class F>
F decode_callable(Reader& in) {
    if constexpr (function_pointer<F>)
        return reinterpret_cast<F>(decode_code_address(in));
    else
        return decode<F>(in);
}

// --- Calls -----------------------------------------------------------------------------------

template <class F, class... Args>
using call_result_t = std::invoke_result_t<F&, Args&...>;

template <class F, class... Args>
constexpr void require_shippable_call() {
    static_assert(std::is_invocable_v<F&, Args&...>,
                  "mproc: the function cannot be called with these argument types");
    if constexpr (std::is_invocable_v<F&, Args&...>) {
        require_shippable_callable<F>();
        (require_transferable<Args>(), ...);
        using R = call_result_t<F, Args...>;
        if constexpr (!std::is_void_v<R>) require_transferable<std::remove_cvref_t<R>>();
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

template <class F, class... Args>
void trampoline(Reader& in, Writer& out) {
    F f = decode_callable<F>(in);
    auto args = decode<std::tuple<Args...>>(in);
    using R = call_result_t<F, Args...>;
    if constexpr (std::is_void_v<R>) {
        invoke_with(f, args);
        out.write_value(ReplyStatus::value);
    } else {
        // Evaluate before writing the status: a throwing call leaves nothing half-written.
        std::remove_cvref_t<R> result = invoke_with(f, args);
        out.write_value(ReplyStatus::value);
        encode(out, result);
    }
}

template <class F, class... Args>
void pack_call(Writer& out, const F& f, const Args&... args) {
    require_shippable_call<F, Args...>();
    const Trampoline entry = &trampoline<F, Args...>;
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
