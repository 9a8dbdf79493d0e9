// mproc/detail/chunk.hpp: many calls of one function packed into one message (a chunk of a map,
// or the single call of apply), and their replies.
//
// Message: trampoline address, the callable, then the items as a std::vector<Item>.
// Reply:   one reply per item (status, then value or exception; see task.hpp). A reply with
//          fewer entries than items means the chunk failed as a whole (its message could not be
//          decoded): the last entry's exception applies to every item from there on.
#pragma once

#include <cstdint>
#include <span>
#include <tuple>
#include <type_traits>
#include <vector>

#include <mproc/detail/task.hpp>

namespace mproc::detail {

// Tells the worker's supervisor which item of the chunk is running, so that a crash can be
// blamed on the right one. Defined in src/pool_worker.cpp; a no-op outside pool workers.
void note_item_started(std::uint64_t index) noexcept;

// Spread: each item is a tuple of arguments (starmap, apply); otherwise the single argument.
template <class F, class Item, bool Spread>
struct item_result {
    using type = std::remove_cvref_t<std::invoke_result_t<F&, Item&>>;
};
template <class F, class Item>
struct item_result<F, Item, true> {
    using type = std::remove_cvref_t<decltype(std::apply(std::declval<F&>(), std::declval<Item&>()))>;
};
template <class F, class Item, bool Spread>
using item_result_t = typename item_result<F, Item, Spread>::type;

template <class F, class Item, bool Spread>
decltype(auto) invoke_item(F& f, Item& item) {
    if constexpr (Spread)
        return invoke_with(f, item);
    else if constexpr (std::is_invocable_v<F&, Item&&>)
        return std::invoke(f, std::move(item));
    else
        return std::invoke(f, item);
}

template <class F, class Item, bool Spread>
void chunk_trampoline(Reader& in, Writer& out) {
    F f = decode_callable<F>(in);
    auto items = decode<std::vector<Item>>(in);
    in.release_input();
    using R = item_result_t<F, Item, Spread>;
    for (std::size_t i = 0; i < items.size(); ++i) {
        note_item_started(i);
        const std::size_t mark = out.size();
        try {
            if constexpr (std::is_void_v<R>) {
                invoke_item<F, Item, Spread>(f, items[i]);
                out.write_value(ReplyStatus::value);
            } else {
                R result = invoke_item<F, Item, Spread>(f, items[i]);
                out.write_value(ReplyStatus::value);
                encode(out, result);
            }
        } catch (...) {
            out.truncate(mark);
            encode_current_exception(out);
        }
    }
}

template <class F, class Item, bool Spread>
constexpr void require_shippable_chunk() {
    if constexpr (Spread)
        static_assert(requires(F& f, Item& item) { std::apply(f, item); },
                      "mproc: the function cannot be called with the elements of these tuples");
    else
        static_assert(std::is_invocable_v<F&, Item&>, "mproc: the function cannot be called with items of this type");
    require_shippable_callable<F>();
    require_transferable<Item>();
    using R = item_result_t<F, Item, Spread>;
    if constexpr (!std::is_void_v<R>) require_transferable<R>();
}

template <class F, class Item, bool Spread>
void pack_chunk(Writer& out, const F& f, std::span<const Item> items) {
    const Trampoline entry = &chunk_trampoline<F, Item, Spread>;
    encode_code_address(out, reinterpret_cast<std::uintptr_t>(entry));
    encode_callable(out, f);
    out.write_value(static_cast<std::uint64_t>(items.size()));
    if constexpr (trivially_transferable<Item>)
        out.write(items.data(), items.size_bytes());
    else
        for (const auto& item : items) encode(out, item);
}

}  // namespace mproc::detail
