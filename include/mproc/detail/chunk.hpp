// mproc/detail/chunk.hpp: many calls of one function packed into one message (a chunk of a map,
// or the single call of apply), and their replies.
//
// Message: trampoline address, the callable, then the items as a std::vector<Item>.
// Reply:   ChunkReply::all_values and the results as a std::vector, or ChunkReply::per_item and
//          one reply per item (status, then value or exception; see task.hpp). A reply that is
//          just an exception means the chunk failed as a whole (its message could not be
//          decoded): that exception applies to every item.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <exception>
#include <variant>
#include <span>
#include <tuple>
#include <type_traits>
#include <vector>

#include <mproc/detail/task.hpp>

namespace mproc::detail {

// Tells the worker's supervisor which item of the chunk is running, so that a crash can be
// blamed on the right one (and a per-item timeout counted from the item's start). Taken once
// per chunk: marking an item is then a single store, as cheap as a trivial item itself.
class ItemMarker {
public:
    // This process's marker: one that does nothing outside pool workers (src/pool/worker.cpp).
    static ItemMarker current() noexcept;
    void started(std::uint64_t index) const noexcept {
        if (timed_)
            started_timed(index);
        else if (item_)
            item_->store(index, std::memory_order_release);
    }

private:
    void started_timed(std::uint64_t index) const noexcept;
    std::atomic<std::uint64_t>* item_ = nullptr;
    bool timed_ = false;
};

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

// How a chunk's reply is laid out: when every item succeeded, its results as one encoded vector
// (a single copy for trivially copyable results); otherwise one reply per item.
// Distinct from ReplyStatus: a reply that starts with ReplyStatus::exception is a whole-chunk failure.
enum class ChunkReply : std::uint8_t { all_values = 2, per_item = 3 };

// Writes a per-item reply: the results already computed (`values`, for the first items), then,
// if an item failed right after them, its exception and the replies of the items after it,
// which are run here.
template <class F, class Item, bool Spread, class Items, class Values>
void write_per_item(Writer& out, F& f, Items items, std::size_t count, const Values& values,
                    std::exception_ptr error_at_values_end) {
    using R = item_result_t<F, Item, Spread>;
    out.write_value(ChunkReply::per_item);
    auto write_reply = [&](auto produce) {
        const std::size_t mark = out.size();
        try {
            produce();
        } catch (...) {
            out.truncate(mark);
            encode_current_exception(out);
        }
    };
    for (std::size_t done = 0; done < values.size(); ++done)
        write_reply([&] {
            out.write_value(ReplyStatus::value);
            if constexpr (!std::is_void_v<R>) encode(out, values[done]);
        });
    if (!error_at_values_end) return;
    write_reply([&] { std::rethrow_exception(error_at_values_end); });
    const auto marker = ItemMarker::current();
    for (std::size_t i = values.size() + 1; i < count; ++i) {
        marker.started(i);
        write_reply([&] {
            Item item = items(i);
            if constexpr (std::is_void_v<R>) {
                invoke_item<F, Item, Spread>(f, item);
                out.write_value(ReplyStatus::value);
            } else {
                R result = invoke_item<F, Item, Spread>(f, item);
                out.write_value(ReplyStatus::value);
                encode(out, result);
            }
        });
    }
}

// The common case of numbers in, numbers out: items are read straight from the message and
// results written straight into the reply, with no intermediate vectors.
template <class F, class Item, bool Spread>
void trivial_chunk(F& f, Reader& in, Writer& out) {
    using R = item_result_t<F, Item, Spread>;
    using V = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
    const std::size_t count = in.read_length(sizeof(Item));
    const std::byte* bytes = in.take(count * sizeof(Item)).data();
    auto item_at = [&](std::size_t i) {
        Item item;
        std::memcpy(&item, bytes + i * sizeof(Item), sizeof(Item));
        return item;
    };
    const std::size_t start = out.size();
    out.write_value(ChunkReply::all_values);
    if constexpr (!std::is_void_v<R>) out.write_value(static_cast<std::uint64_t>(count));
    const std::size_t values_at = out.size();
    const auto marker = ItemMarker::current();
    for (std::size_t i = 0; i < count; ++i) {
        marker.started(i);
        try {
            Item item = item_at(i);
            if constexpr (std::is_void_v<R>)
                invoke_item<F, Item, Spread>(f, item);
            else
                out.write_value(static_cast<R>(invoke_item<F, Item, Spread>(f, item)));
        } catch (...) {
            // Rare: rewrite the reply item by item, keeping the results already computed.
            std::vector<V> values(i);
            if constexpr (!std::is_void_v<R>)
                if (i > 0) std::memcpy(values.data(), out.data_at(values_at), i * sizeof(R));
            const auto error = std::current_exception();
            out.truncate(start);
            write_per_item<F, Item, Spread>(out, f, item_at, count, values, error);
            break;
        }
    }
    in.release_input();
}

template <class F, class Item, bool Spread>
void general_chunk(F& f, Reader& in, Writer& out);

template <class F, class Item, bool Spread>
void chunk_trampoline(Reader& in, Writer& out) {
    F f = decode_callable<F>(in);
    using R = item_result_t<F, Item, Spread>;
    if constexpr (!Spread && trivially_transferable<Item> &&
                  (std::is_void_v<R> || (trivially_transferable<R> && !std::is_same_v<R, bool>)))
        trivial_chunk<F, Item, Spread>(f, in, out);
    else
        general_chunk<F, Item, Spread>(f, in, out);
}

template <class F, class Item, bool Spread>
void general_chunk(F& f, Reader& in, Writer& out) {
    using R = item_result_t<F, Item, Spread>;
    auto items = decode<std::vector<Item>>(in);
    in.release_input();
    using V = std::conditional_t<std::is_void_v<R>, std::monostate, R>;

    std::vector<V> values;
    values.reserve(items.size());
    std::exception_ptr first_error;
    std::size_t i = 0;
    const auto marker = ItemMarker::current();
    for (; i < items.size(); ++i) {
        marker.started(i);
        try {
            if constexpr (std::is_void_v<R>) {
                invoke_item<F, Item, Spread>(f, items[i]);
                values.emplace_back();
            } else {
                values.push_back(invoke_item<F, Item, Spread>(f, items[i]));
            }
        } catch (...) {
            first_error = std::current_exception();
            break;
        }
    }
    const std::size_t start = out.size();
    if (!first_error) {
        try {
            out.write_value(ChunkReply::all_values);
            if constexpr (!std::is_void_v<R>) encode(out, values);
            return;
        } catch (...) {
            out.truncate(start);  // some result failed to encode: report it item by item
        }
    }
    write_per_item<F, Item, Spread>(out, f, [&](std::size_t index) { return std::move(items[index]); }, items.size(), values,
                                    first_error);
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
