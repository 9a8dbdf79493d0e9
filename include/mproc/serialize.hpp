// mproc/serialize.hpp: how values cross a process boundary.
//
// Anything passed to or returned from another process is encoded into bytes by mproc::encode and
// rebuilt by mproc::decode. What can travel (the Transferable concept):
//   - trivially copyable types that hold no pointers (int, double, plain structs, std::array of
//     them): copied with memcpy;
//   - std::basic_string, std::vector, std::deque, std::list, std::forward_list, std::set,
//     std::multiset, std::map, std::multimap and their unordered forms, of Transferable elements;
//     a contiguous container of trivially copyable elements is copied as one block;
//   - std::pair, std::tuple, std::optional, std::variant, std::monostate of Transferable types;
//   - your own types with a cereal `serialize` (or `save`/`load`) function, member or free;
//   - types for which mproc::Codec<T> is specialized (mproc's shared objects use this).
// Raw pointers, references, std::span, std::string_view, std::function and other types that refer
// to memory or resources of one process cannot travel: using one is a compile-time error.
//
// The encoding is native (host byte order and sizes): sender and receiver run the same binary.
// decode never reads past its input: truncated or corrupt input throws mproc::SerializationError.
#pragma once

#include <algorithm>
#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <forward_list>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <ranges>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <mproc/detail/byte_buffer.hpp>
#include <mproc/errors.hpp>

namespace mproc {

// ---------------------------------------------------------------------------------------------
// Byte sinks and sources.

/// Appends encoded bytes to a buffer, for Codec specializations (encode). Python: pickle.Pickler
/// comes closest. Besides a std::vector, a Writer may fill memory it does not own (mproc's
/// transports encode straight into shared memory), and file descriptors that must travel with the
/// message (attach_fd: shared objects are backed by memfds) are collected beside the bytes and
/// sent out of band; that side of it is detail::OutputBuffer (detail/byte_buffer.hpp).
///
/// Errors: mproc::SerializationError when the storage cannot grow, and from attach_fd when the
/// descriptor cannot be duplicated. Thread safety: not thread-safe; one
/// Writer per message, used by one thread. Cost: a write is a memcpy into the buffer.
class Writer : public detail::OutputBuffer {
public:
    /// A Writer into a vector of its own; Writer(std::vector<std::byte>&) appends to the caller's.
    using OutputBuffer::OutputBuffer;

    /// Appends `size` bytes from `data`.
    void write(const void* data, std::size_t size) { append(data, size); }
    /// Appends the bytes of a trivially copyable value.
    template <class T>
        requires std::is_trivially_copyable_v<T>
    void write_value(const T& value) {
        append(&value, sizeof(T));
    }
    /// Appends `size` bytes for the caller to fill: their address, valid until the next write.
    /// Lets a block of values be written in place, with one size check for all of them.
    std::byte* append_uninitialized(std::size_t size) { return extend(size); }
    /// Encoded size so far; with truncate(), lets a caller take back a partly written value.
    std::size_t size() const noexcept { return used(); }
    /// Takes back what was written after the first `size` bytes.
    void truncate(std::size_t size) { take_back(size); }
    /// The byte at `offset` of what was written, to patch a length written earlier.
    std::byte* data_at(std::size_t offset) noexcept { return at(offset); }
};

/// Reads encoded bytes from a fixed span, never past its end, for Codec specializations
/// (decode). Python: pickle.Unpickler comes closest. The descriptors that came with the bytes
/// (fd(index)) and the release of memory a transport lent are detail::InputBuffer's
/// (detail/byte_buffer.hpp).
///
/// Errors: every read throws mproc::SerializationError (through fail()) past the end of the
/// input or on an invalid length. Thread safety: not thread-safe; one Reader per message, used by
/// one thread. Cost: a read is a bounds check and a memcpy.
class Reader : public detail::InputBuffer {
public:
    /// Reads `bytes`, with the descriptors that came with them.
    explicit Reader(std::span<const std::byte> bytes, std::span<const int> fds = {})
        : InputBuffer(bytes, fds), empty_elements_left_(std::max<std::uint64_t>(min_empty_elements, bytes.size())) {}

    /// Copies the next `size` bytes to `out`.
    void read(void* out, std::size_t size) {
        require(size);
        if (size != 0) std::memcpy(out, bytes_.data() + position_, size);
        position_ += size;
    }
    /// Reads a trivially copyable value written by Writer::write_value.
    template <class T>
        requires std::is_trivially_copyable_v<T> && std::is_default_constructible_v<T>
    T read_value() {
        T value;
        read(&value, sizeof(T));
        return value;
    }
    /// The next `size` bytes, without copying them.
    std::span<const std::byte> take(std::size_t size) {
        require(size);
        auto out = bytes_.subspan(position_, size);
        position_ += size;
        return out;
    }
    /// A length read from the input, checked against what is left so that corrupt input cannot
    /// make the decoder allocate more than the message could possibly hold.
    std::size_t read_length(std::size_t min_bytes_per_element) {
        const auto length = read_value<std::uint64_t>();
        if (min_bytes_per_element == 0) {
            if (length > empty_elements_left_)
                fail("length " + std::to_string(length) + " exceeds what is left of the message's " +
                     "budget for elements that may encode to nothing");
            empty_elements_left_ -= length;
        } else if (length > remaining() / min_bytes_per_element) {
            fail("length " + std::to_string(length) + " does not fit in the " +
                 std::to_string(remaining()) + " bytes left");
        }
        return static_cast<std::size_t>(length);
    }

    /// Bytes not read yet.
    std::size_t remaining() const noexcept { return bytes_.size() - position_; }
    /// Bytes read so far.
    std::size_t position() const noexcept { return position_; }
    /// Whether every byte has been read.
    bool at_end() const noexcept { return position_ == bytes_.size(); }

    /// Throws SerializationError: "cannot decode message: <what> (at byte N of M)".
    [[noreturn]] void fail(const std::string& what) const { InputBuffer::fail(what); }

private:
    // Elements that may encode to nothing (std::tuple<>, std::monostate, Codec types) cannot be
    // bounded by the input size. All the lengths of such elements in one message share one budget,
    // the larger of this and the message size, so that nested containers cannot multiply it.
    static constexpr std::uint64_t min_empty_elements = 1u << 20;

    void require(std::size_t size) const {
        if (size > remaining())
            fail("truncated: " + std::to_string(size) + " bytes needed, " +
                 std::to_string(remaining()) + " left");
    }

    std::uint64_t empty_elements_left_;
};

/// Customization point: specialize with `static void encode(Writer&, const T&)` and
/// `static T decode(Reader&)` to make a type travel in a way of your own. mproc's shared objects
/// (Value, Array, Lock, Queue, ...) are made transferable this way. (Also declared in
/// detail/codec_fwd.hpp, so that a header can specialize it without including this one.)
template <class T>
struct Codec;

namespace detail {

template <class T, template <class...> class Template>
inline constexpr bool is_specialization_of = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_specialization_of<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool is_std_array = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array<std::array<T, N>> = true;

template <class T>
inline constexpr bool is_span = false;
template <class T, std::size_t N>
inline constexpr bool is_span<std::span<T, N>> = true;

// (Helpers over type packs are functions, not generic lambdas: GCC 12 sometimes evaluates such
// lambdas in traits to the wrong value once the same trait was used from a class template.)
template <class T>
constexpr bool refers_to_memory();
template <class... E>
constexpr bool tuple_refers_to_memory(std::type_identity<std::tuple<E...>>) {
    return (refers_to_memory<E>() || ...);
}

// Trivially copyable types that nevertheless refer to memory of this process.
template <class T>
constexpr bool refers_to_memory() {
    if constexpr (std::is_pointer_v<T> || std::is_member_pointer_v<T> || std::is_reference_v<T> ||
                  is_span<T> || is_specialization_of<T, std::basic_string_view> ||
                  is_specialization_of<T, std::reference_wrapper>)
        return true;
    else if constexpr (std::is_array_v<T>)
        return refers_to_memory<std::remove_all_extents_t<T>>();
    else if constexpr (is_std_array<T>)
        return refers_to_memory<typename T::value_type>();
    else if constexpr (is_specialization_of<T, std::pair>)
        return refers_to_memory<typename T::first_type>() || refers_to_memory<typename T::second_type>();
    else if constexpr (is_specialization_of<T, std::tuple>)
        return tuple_refers_to_memory(std::type_identity<T>{});
    else
        return false;
}

template <class T>
concept has_codec = requires(Writer& w, Reader& r, const T& value) {
    Codec<T>::encode(w, value);
    { Codec<T>::decode(r) } -> std::same_as<T>;
};

// Whether T is sent with memcpy. Not when a Codec says otherwise, nor for trivially copyable
// standard types whose bytes must satisfy an invariant that decoding has to check (an optional's
// engaged flag, a variant's index, the bools in a std::array): those are encoded member by member.
// (A lone bool is copied, and decode checks that it is 0 or 1.)
template <class T>
constexpr bool copyable_as_bytes() {
    if constexpr (!std::is_trivially_copyable_v<T> || std::is_empty_v<T> || has_codec<T> ||
                  refers_to_memory<T>())
        return false;
    else if constexpr (is_specialization_of<T, std::optional> || is_specialization_of<T, std::variant>)
        return false;
    else if constexpr (is_std_array<T>)
        return !std::is_same_v<std::remove_cv_t<typename T::value_type>, bool> &&
               copyable_as_bytes<std::remove_cv_t<typename T::value_type>>();
    else
        return true;
}

template <class T>
concept trivially_transferable = copyable_as_bytes<T>();

// Stateless types (std::monostate, empty structs) encode to nothing.
template <class T>
concept empty_transferable = std::is_empty_v<T> && std::is_trivially_copyable_v<T> &&
                             std::is_default_constructible_v<T>;

template <class T>
concept string_like = is_specialization_of<T, std::basic_string>;

// Containers rebuilt by inserting elements at their end (sequences) or by key (associative).
template <class T>
concept sequence_container =
    is_specialization_of<T, std::vector> || is_specialization_of<T, std::deque> ||
    is_specialization_of<T, std::list>;

template <class T>
concept associative_container =
    is_specialization_of<T, std::set> || is_specialization_of<T, std::multiset> ||
    is_specialization_of<T, std::map> || is_specialization_of<T, std::multimap> ||
    is_specialization_of<T, std::unordered_set> || is_specialization_of<T, std::unordered_multiset> ||
    is_specialization_of<T, std::unordered_map> || is_specialization_of<T, std::unordered_multimap>;

template <class T>
concept cereal_serializable = std::is_class_v<T> && requires { sizeof(T); } &&
                              std::is_default_constructible_v<T> && !string_like<T> &&
                              !sequence_container<T> && !associative_container<T>;

// Defined in detail/cereal_bridge.hpp: whether cereal can save and load T with mproc's archives.
template <class T>
constexpr bool cereal_can_serialize();

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// What can travel.

/// Whether T can cross a process boundary (see the top of this file): `value`. Python:
/// whether an object pickles, known here at compile time.
template <class T>
struct is_transferable;

/// A type that can cross a process boundary: is_transferable<T>::value.
template <class T>
concept Transferable = is_transferable<std::remove_cv_t<T>>::value;

namespace detail {
template <template <class...> class L, class... E>
constexpr bool all_transferable(std::type_identity<L<E...>>) {
    return (Transferable<E> && ...);
}
}  // namespace detail

template <class T>
struct is_transferable {
    /// The rules of the top of this file, in order.
    static constexpr bool compute() {
        using namespace detail;
        if constexpr (has_codec<T>)
            return true;
        else if constexpr (std::is_reference_v<T> || std::is_pointer_v<T> || std::is_function_v<T>)
            return false;
        else if constexpr (is_std_array<T>)
            return Transferable<typename T::value_type>;
        else if constexpr (std::is_array_v<T>)
            return false;  // C arrays cannot be returned by value; use std::array
        else if constexpr (trivially_transferable<T> || empty_transferable<T>)
            return true;
        else if constexpr (refers_to_memory<T>())
            return false;
        else if constexpr (string_like<T> || sequence_container<T> ||
                           is_specialization_of<T, std::forward_list> || associative_container<T>)
            return Transferable<typename T::value_type>;
        else if constexpr (is_specialization_of<T, std::pair>)
            return Transferable<typename T::first_type> && Transferable<typename T::second_type>;
        else if constexpr (is_specialization_of<T, std::tuple> || is_specialization_of<T, std::variant>)
            return all_transferable(std::type_identity<T>{});
        else if constexpr (is_specialization_of<T, std::optional>)
            return Transferable<typename T::value_type>;
        else if constexpr (cereal_serializable<T>)
            return cereal_can_serialize<T>();
        else
            return false;
    }
    /// Whether T can travel.
    static constexpr bool value = compute();
};

/// Fails compilation with a message that says how to make T travel; the compiler's note names T.
template <class T>
constexpr void require_transferable() {
    static_assert(Transferable<T>,
                  "mproc: this type cannot cross a process boundary. Make it trivially copyable "
                  "without pointers, use standard strings/containers/tuples/optional/variant of "
                  "such types, or give it a cereal serialize(Archive&) function (or specialize "
                  "mproc::Codec<T>). Pointers, references, std::span, std::string_view and "
                  "std::function refer to one process's memory and can never travel.");
}

namespace detail {
// Blocks at least this large are decoded into memory prepared with prepare_large_block().
inline constexpr std::size_t large_block = std::size_t{4} << 20;
// Advises the kernel to back [data, data + bytes) with huge pages. Defined in src/large_block.cpp.
void prepare_large_block(void* data, std::size_t bytes) noexcept;
}  // namespace detail

/// Appends the encoding of a Transferable value (see the top of this file). Python:
/// pickle.Pickler.dump. Throws mproc::SerializationError for a value that fails to encode at run
/// time (a valueless variant, a cereal error). Thread safety: safe from any thread, each with its
/// own Writer. Cost: one memcpy for trivially copyable values and contiguous blocks of them.
template <class T>
void encode(Writer& out, const T& value);
/// Reads a T written by encode. Python: pickle.Unpickler.load. Throws mproc::SerializationError
/// for truncated or corrupt input; never reads past its end. Thread safety: as encode.
template <class T>
T decode(Reader& in);

template <class T>
constexpr std::size_t min_encoded_size();
namespace detail {
template <class... E>
constexpr std::size_t tuple_min_encoded_size(std::type_identity<std::tuple<E...>>) {
    return (std::size_t{0} + ... + min_encoded_size<E>());
}
}  // namespace detail

/// The smallest number of bytes an encoded T can take; bounds lengths read from a message.
template <class T>
constexpr std::size_t min_encoded_size() {
    using namespace detail;
    if constexpr (has_codec<T>)
        return 0;
    else if constexpr (is_std_array<T>)
        return std::tuple_size_v<T> * min_encoded_size<typename T::value_type>();
    else if constexpr (empty_transferable<T>)
        return 0;
    else if constexpr (trivially_transferable<T>)
        return sizeof(T);
    else if constexpr (is_specialization_of<T, std::pair>)
        return min_encoded_size<typename T::first_type>() + min_encoded_size<typename T::second_type>();
    else if constexpr (is_specialization_of<T, std::tuple>)
        return tuple_min_encoded_size(std::type_identity<T>{});
    else if constexpr (is_specialization_of<T, std::variant>)
        return sizeof(std::uint32_t);
    else if constexpr (is_specialization_of<T, std::optional>)
        return 1;
    else
        return sizeof(std::uint64_t);  // a length prefix
}

}  // namespace mproc

#include <mproc/detail/cereal_bridge.hpp>

namespace mproc {

namespace detail {

template <class T>
void encode_length(Writer& out, const T& container) {
    out.write_value(static_cast<std::uint64_t>(std::ranges::distance(container)));
}

// What a container's elements are decoded as: maps decode pair<key, mapped> (the key not const).
// A trait rather than std::conditional_t, which would name T::key_type even for a std::deque.
template <class T>
struct decoded_element {
    using type = typename T::value_type;
};
template <class T>
    requires requires { typename T::mapped_type; }
struct decoded_element<T> {
    using type = std::pair<typename T::key_type, typename T::mapped_type>;
};

template <class Tuple, std::size_t... I>
Tuple decode_tuple(Reader& in, std::index_sequence<I...>) {
    // Braced initialization evaluates its elements left to right.
    return Tuple{decode<std::tuple_element_t<I, Tuple>>(in)...};
}

template <class Variant, std::size_t... I>
Variant decode_variant(Reader& in, std::size_t index, std::index_sequence<I...>) {
    using Factory = Variant (*)(Reader&);
    static constexpr Factory factories[] = {+[](Reader& r) {
        return Variant(std::in_place_index<I>, decode<std::variant_alternative_t<I, Variant>>(r));
    }...};
    return factories[index](in);
}

}  // namespace detail

template <class T>
void encode(Writer& out, const T& value) {
    using namespace detail;
    require_transferable<T>();
    if constexpr (has_codec<T>) {
        Codec<T>::encode(out, value);
    } else if constexpr (empty_transferable<T>) {
    } else if constexpr (trivially_transferable<T>) {
        out.write_value(value);
    } else if constexpr (is_std_array<T>) {
        for (const auto& element : value) encode(out, element);
    } else if constexpr (string_like<T> || is_specialization_of<T, std::vector>) {
        using E = typename T::value_type;
        out.write_value(static_cast<std::uint64_t>(value.size()));
        if constexpr (trivially_transferable<E> && !std::is_same_v<E, bool>)
            out.write(value.data(), value.size() * sizeof(E));
        else
            for (const auto& element : value) encode(out, static_cast<const E&>(element));
    } else if constexpr (sequence_container<T> || associative_container<T> ||
                         is_specialization_of<T, std::forward_list>) {
        encode_length(out, value);
        for (const auto& element : value) encode(out, element);
    } else if constexpr (is_specialization_of<T, std::pair>) {
        encode(out, value.first);
        encode(out, value.second);
    } else if constexpr (is_specialization_of<T, std::tuple>) {
        std::apply([&](const auto&... element) { (encode(out, element), ...); }, value);
    } else if constexpr (is_specialization_of<T, std::optional>) {
        out.write_value(static_cast<std::uint8_t>(value.has_value()));
        if (value) encode(out, *value);
    } else if constexpr (is_specialization_of<T, std::variant>) {
        if (value.valueless_by_exception())
            throw SerializationError("mproc: cannot encode a valueless std::variant");
        out.write_value(static_cast<std::uint32_t>(value.index()));
        std::visit([&](const auto& alternative) { encode(out, alternative); }, value);
    } else {
        cereal_encode(out, value);
    }
}

template <class T>
T decode(Reader& in) {
    using namespace detail;
    require_transferable<T>();
    if constexpr (has_codec<T>) {
        return Codec<T>::decode(in);
    } else if constexpr (empty_transferable<T>) {
        return T{};
    } else if constexpr (std::is_same_v<T, bool>) {
        const auto byte = in.read_value<std::uint8_t>();
        if (byte > 1) in.fail("invalid bool");
        return byte == 1;
    } else if constexpr (trivially_transferable<T>) {
        // Trivially copyable types need not be default constructible (lambda closures are not).
        alignas(T) std::byte storage[sizeof(T)];
        in.read(storage, sizeof(T));
        return *std::launder(reinterpret_cast<T*>(storage));
    } else if constexpr (is_std_array<T>) {
        return decode_tuple<T>(in, std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (string_like<T> || is_specialization_of<T, std::vector>) {
        using E = typename T::value_type;
        T out;
        const std::size_t length = in.read_length(min_encoded_size<E>());
        if constexpr (trivially_transferable<E> && !std::is_same_v<E, bool>) {
            const std::size_t bytes = length * sizeof(E);
            if (bytes >= large_block) {
                // Fresh memory costs a page fault per 4 KiB: ask for huge pages before touching it.
                out.reserve(length);
                prepare_large_block(out.data(), bytes);
            }
            if constexpr (sizeof(E) == 1) {
                const auto block = in.take(bytes);
                const auto* first = reinterpret_cast<const E*>(block.data());
                out.insert(out.end(), first, first + length);  // one pass: no zero-filling first
            } else {
                out.resize(length);
                in.read(out.data(), bytes);
            }
        } else {
            out.reserve(length);
            for (std::size_t i = 0; i < length; ++i) out.push_back(decode<E>(in));
        }
        return out;
    } else if constexpr (is_specialization_of<T, std::forward_list>) {
        using E = typename T::value_type;
        T out;
        const std::size_t length = in.read_length(min_encoded_size<E>());
        auto tail = out.before_begin();
        for (std::size_t i = 0; i < length; ++i) tail = out.insert_after(tail, decode<E>(in));
        return out;
    } else if constexpr (sequence_container<T> || associative_container<T>) {
        using E = typename decoded_element<T>::type;
        T out;
        const std::size_t length = in.read_length(min_encoded_size<E>());
        for (std::size_t i = 0; i < length; ++i) out.insert(out.end(), decode<E>(in));
        return out;
    } else if constexpr (is_specialization_of<T, std::pair>) {
        auto first = decode<typename T::first_type>(in);
        return T{std::move(first), decode<typename T::second_type>(in)};
    } else if constexpr (is_specialization_of<T, std::tuple>) {
        return decode_tuple<T>(in, std::make_index_sequence<std::tuple_size_v<T>>{});
    } else if constexpr (is_specialization_of<T, std::optional>) {
        const auto present = in.read_value<std::uint8_t>();
        if (present > 1) in.fail("invalid std::optional flag");
        if (!present) return T{};
        return T{decode<typename T::value_type>(in)};
    } else if constexpr (is_specialization_of<T, std::variant>) {
        const auto index = in.read_value<std::uint32_t>();
        if (index >= std::variant_size_v<T>) in.fail("std::variant index out of range");
        return decode_variant<T>(in, index, std::make_index_sequence<std::variant_size_v<T>>{});
    } else {
        return cereal_decode<T>(in);
    }
}

/// Convenience: a whole value to bytes and back. deserialize requires the input to be consumed
/// exactly: trailing bytes are an error. Python: pickle.dumps and pickle.loads. Throws
/// mproc::SerializationError as encode and decode do. Thread safety: safe from any thread.
// Unconstrained on purpose: for a type that cannot travel, require_transferable's message is the
// error the user sees, rather than "no matching function".
template <class T>
std::vector<std::byte> serialize(const T& value) {
    std::vector<std::byte> bytes;
    Writer out(bytes);
    encode(out, value);
    return bytes;
}

/// Decodes the bytes serialize made; trailing bytes are an error (SerializationError).
template <class T>
T deserialize(std::span<const std::byte> bytes) {
    Reader in(bytes);
    T value = decode<T>(in);
    if (!in.at_end()) in.fail(std::to_string(in.remaining()) + " unexpected trailing bytes");
    return value;
}

}  // namespace mproc
