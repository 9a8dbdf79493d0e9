// mproc/detail/chunk.hpp: the chunk wire format, whole: many calls of one function packed into
// one message (a chunk of a map, or the single call of apply), how a worker runs it, and how the
// parent decodes its reply. Encoder and decoder live side by side so that they change together.
//
// Message: trampoline address, the callable, then the items as a std::vector<Item>
//          (pack_chunk; run by chunk_trampoline in the worker).
// Reply:   ChunkReply::all_values and the results as a std::vector, or ChunkReply::per_item and
//          one reply per item (status, then value or exception; see task.hpp). A reply that is
//          just an exception means the chunk failed as a whole (its message could not be
//          decoded): that exception applies to every item (decode_chunk_reply).
#pragma once

#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <variant>
#include <vector>

#include <mproc/detail/item_marker.hpp>
#include <mproc/detail/task.hpp>

namespace mproc::detail {

// ---------------------------------------------------------------------------------------------
// Items, their results, and the reply layout.

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

// ---------------------------------------------------------------------------------------------
// In the worker: running a chunk and writing its reply.

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
    // The results are written in place: one size check for the block, not one per item.
    std::byte* values_place = nullptr;
    if constexpr (!std::is_void_v<R>) values_place = out.append_uninitialized(count * sizeof(R));
    const auto marker = ItemMarker::current();
    for (std::size_t i = 0; i < count; ++i) {
        marker.started(i);
        try {
            Item item = item_at(i);
            if constexpr (std::is_void_v<R>) {
                invoke_item<F, Item, Spread>(f, item);
            } else {
                const R result = invoke_item<F, Item, Spread>(f, item);
                std::memcpy(values_place + i * sizeof(R), &result, sizeof(R));
            }
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

// Whether a chunk's items and results are copied straight between message and reply
// (trivial_chunk), or go through vectors (general_chunk, or single_item_chunk for one item).
template <class F, class Item, bool Spread>
inline constexpr bool trivial_chunk_layout = [] {
    using R = item_result_t<F, Item, Spread>;
    return !Spread && trivially_transferable<Item> &&
           (std::is_void_v<R> || (trivially_transferable<R> && !std::is_same_v<R, bool>));
}();

template <class F, class Item, bool Spread>
void general_chunk(F& f, Reader& in, Writer& out);
template <class F, class Item, bool Spread>
void single_item_chunk(F& f, Reader& in, Writer& out);

// Single: the chunk holds one item (an apply), which single_item_chunk runs without vectors.
template <class F, class Item, bool Spread, bool Single = false>
void chunk_trampoline(Reader& in, Writer& out) {
    F f = decode_callable<F>(in);
    if constexpr (trivial_chunk_layout<F, Item, Spread>)
        trivial_chunk<F, Item, Spread>(f, in, out);
    else if constexpr (Single)
        single_item_chunk<F, Item, Spread>(f, in, out);
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

// general_chunk for a chunk of one item, which is read and run in place, its result written
// straight into the reply. The layouts are general_chunk's: a vector of one is its length, then
// its element as encode writes it alone.
template <class F, class Item, bool Spread>
void single_item_chunk(F& f, Reader& in, Writer& out) {
    using R = item_result_t<F, Item, Spread>;
    using V = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
    if (in.read_length(min_encoded_size<Item>()) != 1) in.fail("a single item's chunk holds another number of items");
    Item item = decode<Item>(in);
    in.release_input();

    std::optional<V> value;
    std::exception_ptr error;
    ItemMarker::current().started(0);
    try {
        if constexpr (std::is_void_v<R>) {
            invoke_item<F, Item, Spread>(f, item);
            value.emplace();
        } else {
            value.emplace(invoke_item<F, Item, Spread>(f, item));
        }
    } catch (...) {
        error = std::current_exception();
    }
    const std::size_t start = out.size();
    if (!error) {
        try {
            out.write_value(ChunkReply::all_values);
            if constexpr (!std::is_void_v<R>) {
                out.write_value(std::uint64_t{1});
                encode(out, *value);
            }
            return;
        } catch (...) {
            out.truncate(start);  // the result failed to encode: report it as general_chunk does
        }
    }
    std::vector<V> values;
    if (value) values.push_back(std::move(*value));
    write_per_item<F, Item, Spread>(out, f, [&](std::size_t) { return std::move(item); }, 1, values, error);
}

// ---------------------------------------------------------------------------------------------
// In the parent: checking and packing a chunk, decoding its reply.

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
    Trampoline entry = &chunk_trampoline<F, Item, Spread>;
    if constexpr (!trivial_chunk_layout<F, Item, Spread>)
        if (items.size() == 1) entry = &chunk_trampoline<F, Item, Spread, true>;
    encode_code_address(out, reinterpret_cast<std::uintptr_t>(entry));
    encode_callable(out, f);
    out.write_value(static_cast<std::uint64_t>(items.size()));
    if constexpr (trivially_transferable<Item>)
        out.write(items.data(), items.size_bytes());
    else
        for (const auto& item : items) encode(out, item);
}

// Decodes a chunk's reply into the sink: sink.deliver_block(first, Reader&, count) for a block of
// values, sink.deliver(index, value) / sink.deliver_error(index, error) otherwise. Each item gets
// exactly one outcome, whatever the reply holds.
template <class R, class Sink>
void decode_chunk_reply(Reader& in, long first, std::size_t count, Sink& sink) {
    const auto fail_from = [&](std::size_t i, std::exception_ptr error) {
        for (; i < count; ++i) sink.deliver_error(first + static_cast<long>(i), error);
    };
    const auto current = [] { return std::current_exception(); };
    std::uint8_t layout = 0;
    try {
        layout = in.read_value<std::uint8_t>();
        if (layout == static_cast<std::uint8_t>(ReplyStatus::exception)) rethrow_exception_reply(in);
        if (layout == static_cast<std::uint8_t>(ChunkReply::all_values)) {
            if constexpr (std::is_void_v<R>)
                for (std::size_t i = 0; i < count; ++i) sink.deliver(first + static_cast<long>(i), std::monostate{});
            else
                sink.deliver_block(first, in, count);
            return;
        }
        if (layout != static_cast<std::uint8_t>(ChunkReply::per_item)) in.fail("invalid chunk reply");
    } catch (...) {
        return fail_from(0, current());
    }
    for (std::size_t i = 0; i < count; ++i) {
        const long index = first + static_cast<long>(i);
        try {
            const auto status = in.read_value<ReplyStatus>();
            if (status == ReplyStatus::exception) {
                try {
                    rethrow_exception_reply(in);
                } catch (...) {
                    sink.deliver_error(index, current());
                }
                continue;
            }
            if (status != ReplyStatus::value) in.fail("invalid reply status");
            if constexpr (std::is_void_v<R>)
                sink.deliver(index, std::monostate{});
            else
                sink.deliver(index, decode<R>(in));
        } catch (...) {
            return fail_from(i, current());
        }
    }
}

// The two ways a sink takes a ChunkReply::all_values block (its deliver_block):

// Decodes a block of `count` values into consecutive slots starting at `out`.
template <class V, class Slot>
void decode_block(Reader& in, std::size_t count, Slot* out) {
    const std::size_t length = in.read_length(min_encoded_size<V>());
    if (length != count) in.fail("chunk reply holds " + std::to_string(length) + " results, not " + std::to_string(count));
    if constexpr (std::is_same_v<Slot, V> && trivially_transferable<V> && !std::is_same_v<V, bool>) {
        in.read(out, count * sizeof(V));
    } else {
        for (std::size_t i = 0; i < count; ++i) out[i] = decode<V>(in);
    }
}

// Decodes a block of `count` values and calls each(i, value) for each, in order; all of it is
// checked before the first call, so that a corrupt reply cannot give an item two outcomes.
template <class V, class Each>
void decode_each(Reader& in, std::size_t count, Each each) {
    if constexpr (trivially_transferable<V> && !std::is_same_v<V, bool>) {
        // Straight out of the message, with no vector in between.
        if (in.read_length(sizeof(V)) != count) in.fail("chunk reply holds the wrong number of results");
        const std::byte* bytes = in.take(count * sizeof(V)).data();
        for (std::size_t i = 0; i < count; ++i) {
            V value;
            std::memcpy(&value, bytes + i * sizeof(V), sizeof(V));
            each(i, std::move(value));
        }
    } else {
        auto values = decode<std::vector<V>>(in);
        if (values.size() != count) in.fail("chunk reply holds the wrong number of results");
        // By index: a vector<bool>'s elements are proxies.
        for (std::size_t i = 0; i < count; ++i) each(i, V(std::move(values[i])));
    }
}

// Decodes a block of values and hands them to sink.deliver one by one.
template <class V, class Sink>
void deliver_each(Sink& sink, long first, Reader& in, std::size_t count) {
    decode_each<V>(in, count, [&](std::size_t i, V&& value) { sink.deliver(first + static_cast<long>(i), std::move(value)); });
}

}  // namespace mproc::detail
