// mproc/partial.hpp: mproc::partial, Python's functools.partial, the way to send a function
// together with values for its first parameters; and mproc::copy_captures, the explicit way to
// send a lambda's captures as raw bytes.
//
//   int scale(double factor, int x) { return static_cast<int>(factor * x); }
//
//   pool.map(mproc::partial(scale, 2.5), items);            // scale(2.5, item) for each item
//   pool.map(mproc::partial([](const std::string& prefix, int x) { return prefix + std::to_string(x); },
//                           "item-"),
//            items);
//   mproc::Process p(mproc::partial(worker, queue), 7);     // worker(queue, 7) in the child
//
// A task, an initializer or a Process target is sent to another process, and a lambda's captures
// cannot be sent safely: the compiler cannot tell `[&data]` from `[data]`, and the first would
// send an address of this process. So a callable with state is refused at compile time unless its
// state is declared: bind the values with mproc::partial instead of capturing them. The bound
// values are converted and checked like any argument (serialize.hpp): a string literal bound to a
// std::string parameter travels as a std::string, a pointer is a compile-time error.
//
// partial(f, a, b)(c, d) calls f(a, b, c, d), as in Python. The bound values are the Partial's own
// copies, passed as lvalues, so a Partial can be called many times (once per item of a map);
// func() and args() are Python's p.func and p.args. Partials nest: partial(partial(f, a), b)(c)
// calls f(a, b, c). f itself must be sendable: a function, a captureless lambda, another Partial,
// or a function object with a cereal serialize function.
//
// copy_captures(f) sends a trivially copyable function object (a lambda whose captures are
// numbers, plain structs... or pointers and references) by copying its bytes, unchecked. Use it
// only for captures that are plain values, or for a Process started with the fork start method,
// whose child has a copy of this process's memory as it was at start(): anywhere else a captured
// reference or pointer is an address that means nothing, or something stale, in the other process.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

#include <mproc/detail/task.hpp>
#include <mproc/serialize.hpp>

namespace mproc {

/// A function with values bound to its first parameters, made by mproc::partial. Python:
/// functools.partial. See the top of this file.
///
/// Thread safety: the const call operator and func()/args() may be used from any number of
/// threads at once, if f's own const call may. Cost: a call passes the bound values by reference;
/// sending it encodes f and the values once per task.
template <class F, class... Bound>
class Partial {
public:
    /// Made by mproc::partial, which converts and checks the bound values.
    Partial(F function, std::tuple<Bound...> values) : func_(std::move(function)), args_(std::move(values)) {}

    /// f(bound..., rest...). Python: p(*rest).
    template <class... Rest>
        requires std::is_invocable_v<F&, Bound&..., Rest...>
    decltype(auto) operator()(Rest&&... rest) & {
        return std::apply(
            [&](Bound&... bound) -> decltype(auto) { return std::invoke(func_, bound..., std::forward<Rest>(rest)...); },
            args_);
    }
    /// f(bound..., rest...) on a const Partial.
    template <class... Rest>
        requires std::is_invocable_v<const F&, const Bound&..., Rest...>
    decltype(auto) operator()(Rest&&... rest) const& {
        return std::apply(
            [&](const Bound&... bound) -> decltype(auto) {
                return std::invoke(func_, bound..., std::forward<Rest>(rest)...);
            },
            args_);
    }

    /// The function. Python: p.func.
    const F& func() const noexcept { return func_; }
    /// The bound values. Python: p.args.
    const std::tuple<Bound...>& args() const noexcept { return args_; }

private:
    F func_;
    std::tuple<Bound...> args_;
};

namespace detail {

template <class F, class Args>
struct partial_of;
template <class F, class... Bound>
struct partial_of<F, std::tuple<Bound...>> {
    using type = Partial<F, Bound...>;
};

template <std::size_t N, class List>
struct drop_front {
    using type = type_list<>;  // more bound values than parameters: the call check reports it
};
template <class... T>
struct drop_front<0, type_list<T...>> {
    using type = type_list<T...>;
};
template <std::size_t N, class First, class... Rest>
    requires(N > 0)
struct drop_front<N, type_list<First, Rest...>> : drop_front<N - 1, type_list<Rest...>> {};

// A Partial's parameters are those its function has left after the bound ones.
template <class F, class... Bound>
    requires parameters<F>::known
struct parameters<Partial<F, Bound...>> {
    static constexpr bool known = true;
    using types = typename drop_front<sizeof...(Bound), typename parameters<F>::types>::type;
};

}  // namespace detail

/// f with its first parameters bound to `args`, as Python's functools.partial(f, *args).
template <class F, class... Args>
auto partial(F f, Args&&... args) {
    static_assert(detail::shippable_callable<F>,
                  "mproc::partial: the function must itself be sendable: a function, a captureless "
                  "lambda, another mproc::partial, or a function object with a cereal serialize "
                  "function. Bind what a lambda would capture as arguments instead: "
                  "mproc::partial([](int n, int x) { return x + n; }, n).");
    using Bound = detail::shipped_arguments_t<F, Args...>;
    [[maybe_unused]] auto check = []<class... B>(std::type_identity<std::tuple<B...>>) {
        (require_transferable<B>(), ...);
    };
    check(std::type_identity<Bound>{});
    return typename detail::partial_of<F, Bound>::type(std::move(f), Bound(std::forward<Args>(args)...));
}

template <class F, class... Bound>
struct Codec<Partial<F, Bound...>> {
    static void encode(Writer& out, const Partial<F, Bound...>& bound) {
        detail::encode_callable(out, bound.func());
        mproc::encode(out, bound.args());
    }
    static Partial<F, Bound...> decode(Reader& in) {
        F function = detail::decode_callable<F>(in);
        return {std::move(function), mproc::decode<std::tuple<Bound...>>(in)};
    }
};

/// A function object sent as its raw bytes: made by mproc::copy_captures. Python has no
/// counterpart (pickle refuses lambdas). Thread safety: as f's own.
template <class F>
class CapturesCopiedAsBytes {
public:
    /// Wraps f; see copy_captures.
    explicit CapturesCopiedAsBytes(F f) : f_(std::move(f)) {}

    /// f(args...).
    template <class... Args>
        requires std::is_invocable_v<F&, Args...>
    decltype(auto) operator()(Args&&... args) & {
        return std::invoke(f_, std::forward<Args>(args)...);
    }
    /// f(args...) on a const wrapper.
    template <class... Args>
        requires std::is_invocable_v<const F&, Args...>
    decltype(auto) operator()(Args&&... args) const& {
        return std::invoke(f_, std::forward<Args>(args)...);
    }

    /// The wrapped function object.
    const F& get() const noexcept { return f_; }

private:
    F f_;
};

/// Sends f, captures and all, as a copy of its bytes: see the top of this file for when that is
/// right. A capture by reference or pointer is sent as an address of this process.
template <class F>
CapturesCopiedAsBytes<std::decay_t<F>> copy_captures(F&& f) {
    static_assert(std::is_class_v<std::decay_t<F>> && std::is_trivially_copyable_v<std::decay_t<F>>,
                  "mproc::copy_captures sends a function object as a copy of its bytes, so it must be "
                  "trivially copyable (a lambda capturing a std::string or a std::vector is not): "
                  "bind those values with mproc::partial(f, args...) instead.");
    return CapturesCopiedAsBytes<std::decay_t<F>>(std::forward<F>(f));
}

template <class F>
struct Codec<CapturesCopiedAsBytes<F>> {
    static void encode(Writer& out, const CapturesCopiedAsBytes<F>& wrapped) {
        out.write(std::addressof(wrapped.get()), sizeof(F));
    }
    static CapturesCopiedAsBytes<F> decode(Reader& in) {
        // A closure type has no default constructor to decode into.
        alignas(F) std::byte storage[sizeof(F)];
        in.read(storage, sizeof(F));
        return CapturesCopiedAsBytes<F>(*std::launder(reinterpret_cast<F*>(storage)));
    }
};

namespace detail {
template <class F>
struct parameters<CapturesCopiedAsBytes<F>> : parameters<F> {};
}  // namespace detail

}  // namespace mproc
