// mproc/detail/cereal_bridge.hpp: user types with a cereal serialize/save/load travel through a
// pair of cereal archives that write straight into mproc's message buffer. Sizes of containers
// are checked against the bytes left, so corrupt input cannot trigger huge allocations.
// Included by mproc/serialize.hpp; not meant to be included directly.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/bitset.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/complex.hpp>
#include <cereal/types/deque.hpp>
#include <cereal/types/forward_list.hpp>
#include <cereal/types/list.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>

namespace mproc::detail {

class CerealWriter : public cereal::OutputArchive<CerealWriter, cereal::AllowEmptyClassElision> {
public:
    explicit CerealWriter(Writer& out) : OutputArchive(this), out_(out) {}
    void save_binary(const void* data, std::size_t size) { out_.write(data, size); }

private:
    Writer& out_;
};

class CerealReader : public cereal::InputArchive<CerealReader, cereal::AllowEmptyClassElision> {
public:
    explicit CerealReader(Reader& in) : InputArchive(this), in_(in) {}
    void load_binary(void* data, std::size_t size) { in_.read(data, size); }
    std::uint64_t load_size() {
        // Every element of a cereal container takes at least one byte, except empty classes.
        return in_.read_length(1);
    }

private:
    Reader& in_;
};

template <class T>
    requires std::is_arithmetic_v<T>
void CEREAL_SAVE_FUNCTION_NAME(CerealWriter& archive, const T& value) {
    archive.save_binary(std::addressof(value), sizeof(value));
}
template <class T>
    requires std::is_arithmetic_v<T>
void CEREAL_LOAD_FUNCTION_NAME(CerealReader& archive, T& value) {
    if constexpr (std::is_same_v<T, bool>) {
        std::uint8_t byte = 0;
        archive.load_binary(&byte, 1);
        if (byte > 1) throw cereal::Exception("invalid bool");
        value = byte == 1;
    } else {
        archive.load_binary(std::addressof(value), sizeof(value));
    }
}

template <class Archive, class T>
    requires std::is_same_v<Archive, CerealWriter> || std::is_same_v<Archive, CerealReader>
void CEREAL_SERIALIZE_FUNCTION_NAME(Archive& archive, cereal::NameValuePair<T>& pair) {
    archive(pair.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealWriter& archive, const cereal::SizeTag<T>& tag) {
    const auto size = static_cast<std::uint64_t>(tag.size);
    archive.save_binary(&size, sizeof(size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealReader& archive, cereal::SizeTag<T>& tag) {
    tag.size = static_cast<std::remove_reference_t<T>>(archive.load_size());
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(CerealWriter& archive, const cereal::BinaryData<T>& data) {
    archive.save_binary(data.data, static_cast<std::size_t>(data.size));
}
template <class T>
void CEREAL_LOAD_FUNCTION_NAME(CerealReader& archive, cereal::BinaryData<T>& data) {
    archive.load_binary(data.data, static_cast<std::size_t>(data.size));
    // cereal loads std::array<bool, N> as one block: each byte must still be a valid bool.
    using Element = std::remove_cv_t<std::remove_pointer_t<std::remove_reference_t<T>>>;
    if constexpr (std::is_same_v<Element, bool>) {
        const auto* bytes = static_cast<const unsigned char*>(data.data);
        for (std::size_t i = 0; i < static_cast<std::size_t>(data.size); ++i)
            if (bytes[i] > 1) throw cereal::Exception("invalid bool");
    }
}

template <class T>
constexpr bool cereal_can_serialize() {
    return cereal::traits::is_output_serializable<T, CerealWriter>::value &&
           cereal::traits::is_input_serializable<T, CerealReader>::value;
}

// A cereal-encoded value is prefixed with its length, so a decoder that disagrees about its layout
// fails on this value instead of misreading everything after it.
template <class T>
void cereal_encode(Writer& out, const T& value) {
    const std::size_t length_at = out.size();
    out.write_value(std::uint64_t{0});
    try {
        CerealWriter archive(out);
        archive(value);
    } catch (const cereal::Exception& error) {
        throw SerializationError(std::string("mproc: cereal failed to encode a value: ") + error.what());
    }
    const auto length = static_cast<std::uint64_t>(out.size() - length_at - sizeof(std::uint64_t));
    std::memcpy(out.data_at(length_at), &length, sizeof(length));
}

template <class T>
T cereal_decode(Reader& in) {
    const std::size_t length = in.read_length(1);
    Reader body(in.take(length));
    T value{};
    try {
        CerealReader archive(body);
        archive(value);
    } catch (const cereal::Exception& error) {
        body.fail(std::string("cereal: ") + error.what());
    } catch (const std::logic_error& error) {
        // Standard constructors reject some corrupt values themselves (std::bitset from a string
        // that is not all '0' and '1' throws std::invalid_argument).
        body.fail(std::string("cereal: ") + error.what());
    }
    if (!body.at_end()) body.fail("a cereal-encoded value left " + std::to_string(body.remaining()) +
                                  " bytes unread");
    return value;
}

}  // namespace mproc::detail

CEREAL_REGISTER_ARCHIVE(mproc::detail::CerealWriter)
CEREAL_REGISTER_ARCHIVE(mproc::detail::CerealReader)
CEREAL_SETUP_ARCHIVE_TRAITS(mproc::detail::CerealReader, mproc::detail::CerealWriter)
