// ShareableList and SharedMemoryManager (mproc/shareable_list.hpp): Python 3.11's layout of a
// ShareableList, read and written in place.
#include <mproc/shareable_list.hpp>

#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>

#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>

#include "os/named_memory.hpp"
#include "resource_tracker.hpp"

namespace mproc {

struct ShareableList::Layout {
    std::size_t count = 0;
    std::size_t data_start = 0;          // (count + 2) * 8: after the count and the offsets
    std::size_t formats_start = 0;       // after the data area: count formats of 8 bytes
    std::size_t codes_start = 0;         // count back-transform codes of 1 byte
    std::vector<std::uint64_t> offsets;  // count + 1 slot bounds, relative to data_start
};

namespace {

using Item = ShareableList::Item;

constexpr std::size_t alignment = 8;
constexpr std::size_t format_size = 8;
// A format is at most 8 characters: "9999999s" is the largest str or bytes slot.
constexpr std::size_t max_slot = 9'999'999;

// Python's _back_transforms_mapping.
enum BackTransform : std::int8_t { as_is = 0, as_str = 1, as_bytes = 2, as_none = 3 };

// Python's _types_mapping, NUL-padded as struct's "8s" stores them.
using Format = std::array<char, format_size>;
constexpr Format int_format{'q'};
constexpr Format float_format{'d'};
constexpr Format bool_format{'x', 'x', 'x', 'x', 'x', 'x', 'x', '?'};
constexpr Format none_format{'x', 'x', 'x', 'x', 'x', 'x', '?', 'x'};

Format string_format(std::size_t slot) {
    Format format{};
    const auto written = std::to_chars(format.data(), format.data() + format.size() - 1, slot);
    *written.ptr = 's';
    return format;
}

std::string_view format_text(const Format& format) {
    return {format.data(), ::strnlen(format.data(), format.size())};
}

bool is_text(const Item& item) { return std::holds_alternative<std::string>(item) || std::holds_alternative<Bytes>(item); }

std::span<const std::byte> text_bytes(const Item& item) {
    if (const auto* text = std::get_if<std::string>(&item)) return std::as_bytes(std::span(*text));
    return std::span(std::get<Bytes>(item));
}

// Python's encoder refuses what is not Unicode (lone surrogates included); the decoder of the
// other side would refuse it too.
bool valid_utf8(std::string_view text) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
    const std::size_t size = text.size();
    for (std::size_t i = 0; i < size;) {
        const unsigned lead = bytes[i];
        if (lead < 0x80) {
            ++i;
            continue;
        }
        std::size_t length;
        std::uint32_t point;
        if ((lead & 0xE0) == 0xC0) length = 2, point = lead & 0x1F;
        else if ((lead & 0xF0) == 0xE0) length = 3, point = lead & 0x0F;
        else if ((lead & 0xF8) == 0xF0) length = 4, point = lead & 0x07;
        else return false;
        if (size - i < length) return false;
        for (std::size_t k = 1; k < length; ++k) {
            if ((bytes[i + k] & 0xC0) != 0x80) return false;
            point = (point << 6) | (bytes[i + k] & 0x3F);
        }
        constexpr std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        if (point < smallest[length] || point > 0x10FFFF || (point >= 0xD800 && point <= 0xDFFF)) return false;
        i += length;
    }
    return true;
}

// The slot a new item gets: 8 bytes, or for a str or bytes its length rounded up past the next
// multiple of 8 (Python counts a str's characters, which truncates non-ASCII text; its UTF-8
// bytes are counted here, which Python reads the same).
std::size_t slot_for(const Item& item) {
    if (!is_text(item)) return alignment;
    if (const auto* text = std::get_if<std::string>(&item); text && !valid_utf8(*text))
        throw std::invalid_argument("mproc::ShareableList: a str item must be valid UTF-8 (use Bytes for bytes)");
    const std::size_t slot = alignment * (text_bytes(item).size() / alignment + 1);
    if (slot > max_slot)
        throw std::length_error("mproc::ShareableList: a str or bytes item of " +
                                std::to_string(text_bytes(item).size()) +
                                " bytes is too long: at most 9999991 bytes fit in Python's layout");
    return slot;
}

template <class T>
T load(const std::byte* at) {
    T value;
    std::memcpy(&value, at, sizeof value);
    return value;
}

template <class T>
void store(std::byte* at, const T& value) {
    std::memcpy(at, &value, sizeof value);
}

[[noreturn]] void corrupt(const std::string& name, const std::string& what) {
    throw SerializationError("mproc::ShareableList: segment \"" + name + "\" does not hold a valid list: " + what);
}

void check_index(std::size_t index, std::size_t size) {
    if (index >= size)
        throw std::out_of_range("mproc::ShareableList: index " + std::to_string(index) + " out of range (size " +
                                std::to_string(size) + ")");
}

// Writes item `index` as Python's __setitem__ does: its format and code, then its value.
void write_item(std::byte* base, std::size_t data_start, std::size_t formats_start, std::size_t codes_start,
                std::uint64_t slot_offset, std::size_t slot, std::size_t index, const Item& value) {
    std::byte* data = base + data_start + slot_offset;
    Format format{};
    BackTransform code = as_is;
    std::visit(
        [&](const auto& item) {
            using T = std::decay_t<decltype(item)>;
            if constexpr (std::is_same_v<T, ShareableList::None>) {
                format = none_format, code = as_none;
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                format = int_format;
            } else if constexpr (std::is_same_v<T, double>) {
                format = float_format;
            } else if constexpr (std::is_same_v<T, bool>) {
                format = bool_format;
            } else {
                format = string_format(slot);
                code = std::is_same_v<T, std::string> ? as_str : as_bytes;
            }
        },
        value);
    std::memcpy(base + formats_start + index * format_size, format.data(), format_size);
    store(base + codes_start + index, static_cast<std::int8_t>(code));
    std::visit(
        [&](const auto& item) {
            using T = std::decay_t<decltype(item)>;
            if constexpr (std::is_same_v<T, ShareableList::None>) {
                std::memset(data, 0, alignment);
            } else if constexpr (std::is_same_v<T, bool>) {
                std::memset(data, 0, alignment - 1);
                data[alignment - 1] = std::byte{item};
            } else if constexpr (std::is_arithmetic_v<T>) {
                store(data, item);
            } else {
                const auto bytes = text_bytes(value);
                std::memcpy(data, bytes.data(), bytes.size());
                std::memset(data + bytes.size(), 0, slot - bytes.size());  // struct's "Ns" pads with NUL
            }
        },
        value);
}

std::string repr_text(std::string_view text, bool is_bytes) {
    const bool double_quotes = text.find('\'') != std::string_view::npos && text.find('"') == std::string_view::npos;
    const char quote = double_quotes ? '"' : '\'';
    std::string out = is_bytes ? "b" : "";
    out += quote;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == quote || c == '\\') out += '\\', out += c;
        else if (c == '\t') out += "\\t";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (byte < 0x20 || byte == 0x7f || (is_bytes && byte > 0x7f)) {
            static const char digits[] = "0123456789abcdef";
            out += "\\x", out += digits[byte >> 4], out += digits[byte & 15];
        } else out += c;
    }
    out += quote;
    return out;
}

// Python's repr(float): the shortest digits that read back the same, in fixed notation when the
// exponent lies in [-4, 16), with ".0" added to an integral value.
std::string repr_float(double value) {
    if (std::isnan(value)) return "nan";
    if (std::isinf(value)) return value < 0 ? "-inf" : "inf";
    char buffer[64];
    const auto written = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::scientific);
    const std::string_view text(buffer, static_cast<std::size_t>(written.ptr - buffer));
    const bool negative = text.front() == '-';
    const std::size_t e = text.find('e');
    std::string digits;
    for (const char c : text.substr(negative ? 1 : 0, e - (negative ? 1 : 0)))
        if (c != '.') digits += c;
    int exponent = 0;
    std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(), exponent);
    std::string out = negative ? "-" : "";
    if (exponent >= -4 && exponent < 16) {
        if (exponent < 0) {
            out += "0." + std::string(static_cast<std::size_t>(-exponent - 1), '0') + digits;
        } else {
            const auto integral = static_cast<std::size_t>(exponent) + 1;
            if (digits.size() <= integral) out += digits + std::string(integral - digits.size(), '0') + ".0";
            else out += digits.substr(0, integral) + "." + digits.substr(integral);
        }
    } else {
        out += digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        out += exponent < 0 ? "e-" : "e+";
        const std::string magnitude = std::to_string(std::abs(exponent));
        out += (magnitude.size() < 2 ? "0" : "") + magnitude;
    }
    return out;
}

// A number of the item as Python compares it; nothing for str, bytes and None.
struct Number {
    bool is_float = false;
    std::int64_t integer = 0;
    double floating = 0;
};

std::optional<Number> number_of(const Item& item) {
    if (const auto* value = std::get_if<std::int64_t>(&item)) return Number{false, *value, 0};
    if (const auto* value = std::get_if<bool>(&item)) return Number{false, *value ? 1 : 0, 0};
    if (const auto* value = std::get_if<double>(&item)) return Number{true, 0, *value};
    return std::nullopt;
}

// Python compares an int and a float exactly, not by rounding the int to a double.
bool equal_numbers(const Number& a, const Number& b) {
    if (a.is_float && b.is_float) return a.floating == b.floating;
    if (!a.is_float && !b.is_float) return a.integer == b.integer;
    const double floating = a.is_float ? a.floating : b.floating;
    const std::int64_t integer = a.is_float ? b.integer : a.integer;
    constexpr double two_to_63 = 9223372036854775808.0;
    if (!std::isfinite(floating) || std::trunc(floating) != floating) return false;
    if (floating < -two_to_63 || floating >= two_to_63) return false;
    return static_cast<std::int64_t>(floating) == integer;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// ShareableList

mproc::SharedMemory ShareableList::create_segment(const std::optional<std::string>& name, std::span<const Item> items,
                                                  SharedMemoryOptions options) {
    const std::size_t count = items.size();
    std::vector<std::uint64_t> offsets{0};
    offsets.reserve(count + 1);
    std::vector<std::size_t> slots;
    slots.reserve(count);
    for (const auto& item : items) {
        slots.push_back(slot_for(item));
        offsets.push_back(offsets.back() + slots.back());
    }
    const std::size_t data_start = (count + 2) * alignment;
    const std::size_t formats_start = data_start + offsets.back();
    const std::size_t codes_start = formats_start + count * format_size;
    const std::size_t size = codes_start + count;
    auto shm = name ? mproc::SharedMemory::create(*name, size, options) : mproc::SharedMemory::create(size, options);
    std::byte* base = shm.buf().data();
    store(base, static_cast<std::int64_t>(count));
    std::memcpy(base + alignment, offsets.data(), offsets.size() * sizeof(std::uint64_t));
    for (std::size_t i = 0; i < count; ++i)
        write_item(base, data_start, formats_start, codes_start, offsets[i], slots[i], i, items[i]);
    return shm;
}

ShareableList::ShareableList(std::initializer_list<Item> items, SharedMemoryOptions options)
    : ShareableList(std::span<const Item>(items.begin(), items.size()), options) {}

ShareableList::ShareableList(std::span<const Item> items, SharedMemoryOptions options)
    : ShareableList(create_segment(std::nullopt, items, options)) {}

ShareableList ShareableList::create(const std::string& name, std::span<const Item> items, SharedMemoryOptions options) {
    return ShareableList(create_segment(name, items, options));
}

ShareableList ShareableList::create(const std::string& name, std::initializer_list<Item> items,
                                    SharedMemoryOptions options) {
    return create(name, std::span<const Item>(items.begin(), items.size()), options);
}

ShareableList::ShareableList(const std::string& name) : ShareableList(mproc::SharedMemory(name)) {}

// Reads and checks the layout, so that no later access can reach outside the segment whatever
// another process writes into it.
ShareableList::ShareableList(mproc::SharedMemory shm) : shm_(std::move(shm)) {
    const auto bytes = shm_.buf();
    const std::string& name = shm_.name();
    if (bytes.size() < 2 * alignment) corrupt(name, "it is smaller than 16 bytes");
    const auto count = load<std::int64_t>(bytes.data());
    if (count < 0 || static_cast<std::uint64_t>(count) > bytes.size() / alignment - 2)
        corrupt(name, "an item count of " + std::to_string(count) + " does not fit in " +
                          std::to_string(bytes.size()) + " bytes");
    auto layout = std::make_shared<Layout>();
    layout->count = static_cast<std::size_t>(count);
    layout->data_start = (layout->count + 2) * alignment;
    layout->offsets.resize(layout->count + 1);
    std::memcpy(layout->offsets.data(), bytes.data() + alignment, layout->offsets.size() * sizeof(std::uint64_t));
    const std::uint64_t room = bytes.size() - layout->data_start;
    if (layout->offsets.front() != 0) corrupt(name, "the first item is not at the start of the data");
    for (std::size_t i = 0; i < layout->count; ++i)
        if (layout->offsets[i + 1] < layout->offsets[i] + alignment || layout->offsets[i + 1] > room)
            corrupt(name, "item " + std::to_string(i) + " has no slot of at least 8 bytes in the segment");
    layout->formats_start = layout->data_start + layout->offsets.back();
    layout->codes_start = layout->formats_start + layout->count * format_size;
    if (layout->codes_start + layout->count > bytes.size())
        corrupt(name, "its formats and codes do not fit in " + std::to_string(bytes.size()) + " bytes");
    count_ = layout->count;
    layout_ = std::move(layout);
}

std::size_t ShareableList::slot_capacity(std::size_t index) const {
    check_index(index, count_);
    return layout().offsets[index + 1] - layout().offsets[index];
}

Item ShareableList::operator[](std::size_t index) const {
    check_index(index, count_);
    const Layout& parts = layout();
    const std::byte* base = shm_.buf().data();
    Format format;
    std::memcpy(format.data(), base + parts.formats_start + index * format_size, format_size);
    const auto code = load<std::int8_t>(base + parts.codes_start + index);
    const std::byte* data = base + parts.data_start + parts.offsets[index];
    const std::size_t slot = parts.offsets[index + 1] - parts.offsets[index];
    // Python unpacks with the format, then applies the back transform of the code.
    if (code == as_none) {
        const std::string_view text = format_text(format);
        if (format != none_format && format != int_format && format != float_format && format != bool_format &&
            (text.empty() || text.back() != 's'))
            corrupt(shm_.name(), "item " + std::to_string(index) + " has an unknown format");
        return None{};
    }
    if (format == int_format || format == float_format || format == bool_format) {
        if (code != as_is) corrupt(shm_.name(), "item " + std::to_string(index) + " is a number with a str code");
        if (format == int_format) return load<std::int64_t>(data);
        if (format == float_format) return load<double>(data);
        return data[alignment - 1] != std::byte{0};
    }
    const std::string_view text = format_text(format);
    std::size_t length = 0;
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), length);
    if (text.size() < 2 || text.back() != 's' || parsed.ptr != text.data() + text.size() - 1 || length > slot)
        corrupt(shm_.name(), "item " + std::to_string(index) + " has the format \"" + std::string(text) + "\"");
    // str and bytes lose their trailing NULs (Python's rstrip(b'\x00')); code 0 keeps them.
    if (code != as_is)
        while (length > 0 && data[length - 1] == std::byte{0}) --length;
    const auto* chars = reinterpret_cast<const char*>(data);
    if (code == as_str) return std::string(chars, length);
    if (code == as_bytes || code == as_is) return Bytes(data, data + length);
    corrupt(shm_.name(), "item " + std::to_string(index) + " has the unknown code " + std::to_string(code));
}

void ShareableList::set(std::size_t index, const Item& value) {
    check_index(index, count_);
    const Layout& parts = layout();
    const std::size_t slot = parts.offsets[index + 1] - parts.offsets[index];
    if (is_text(value)) {
        if (const auto* text = std::get_if<std::string>(&value); text && !valid_utf8(*text))
            throw std::invalid_argument("mproc::ShareableList: a str item must be valid UTF-8 (use Bytes for bytes)");
        if (const auto length = text_bytes(value).size(); length > slot)
            throw std::length_error("mproc::ShareableList: bytes/str item exceeds available storage: " +
                                    std::to_string(length) + " bytes for a slot of " + std::to_string(slot) +
                                    " at index " + std::to_string(index));
    }
    write_item(shm_.buf().data(), parts.data_start, parts.formats_start, parts.codes_start, parts.offsets[index],
               slot, index, value);
}

std::size_t ShareableList::count(const Item& value) const {
    std::size_t found = 0;
    for (std::size_t i = 0; i < count_; ++i) found += equal((*this)[i], value) ? 1 : 0;
    return found;
}

std::size_t ShareableList::index(const Item& value) const {
    for (std::size_t i = 0; i < count_; ++i)
        if (equal((*this)[i], value)) return i;
    throw std::invalid_argument("mproc::ShareableList: " + repr(value) + " not in this container");
}

std::string ShareableList::format() const {
    const Layout& parts = layout();
    const std::byte* base = shm_.buf().data();
    std::string formats;
    for (std::size_t i = 0; i < count_; ++i) {
        Format format;
        std::memcpy(format.data(), base + parts.formats_start + i * format_size, format_size);
        formats += format_text(format);
    }
    return formats;
}

std::vector<Item> ShareableList::to_vector() const {
    std::vector<Item> items;
    items.reserve(count_);
    for (std::size_t i = 0; i < count_; ++i) items.push_back((*this)[i]);
    return items;
}

std::string ShareableList::repr() const {
    std::string out = "ShareableList([";
    for (std::size_t i = 0; i < count_; ++i) out += (i ? ", " : "") + repr((*this)[i]);
    return out + "], name=" + repr_text(name(), false) + ")";
}

std::string ShareableList::repr(const Item& item) {
    return std::visit(
        [](const auto& value) -> std::string {
            using T = std::decay_t<decltype(value)>;
            if constexpr (std::is_same_v<T, None>) return "None";
            else if constexpr (std::is_same_v<T, bool>) return value ? "True" : "False";
            else if constexpr (std::is_same_v<T, std::int64_t>) return std::to_string(value);
            else if constexpr (std::is_same_v<T, double>) return repr_float(value);
            else if constexpr (std::is_same_v<T, std::string>) return repr_text(value, false);
            else return repr_text({reinterpret_cast<const char*>(value.data()), value.size()}, true);
        },
        item);
}

bool ShareableList::equal(const Item& a, const Item& b) noexcept {
    const auto first = number_of(a), second = number_of(b);
    if (first || second) return first && second && equal_numbers(*first, *second);
    return a == b;  // None, str and bytes: equal only to their own kind
}

void Codec<ShareableList>::encode(Writer& out, const ShareableList& list) { mproc::encode(out, list.shm_); }

ShareableList Codec<ShareableList>::decode(Reader& in) {
    return ShareableList(mproc::decode<mproc::SharedMemory>(in));
}

// ---------------------------------------------------------------------------------------------
// SharedMemoryManager

SharedMemoryManager::SharedMemoryManager(SharedMemoryOptions options) : options_(options) {}

SharedMemoryManager::~SharedMemoryManager() { shutdown(); }

void SharedMemoryManager::start() {
    std::lock_guard guard(mutex_);
    if (state_ == State::started) throw StateError("mproc::SharedMemoryManager: already started");
    if (state_ == State::shut_down) throw StateError("mproc::SharedMemoryManager: it has shut down");
    // As Python's manager (bpo-36867): the processes started from now on share this tracker.
    if (options_.track) detail::ensure_resource_tracker();
    owner_pid_ = ::getpid();
    state_ = State::started;
}

bool SharedMemoryManager::running() const {
    std::lock_guard guard(mutex_);
    return state_ == State::started;
}

void SharedMemoryManager::check_running_here() const {
    if (state_ == State::initial)
        throw StateError("mproc::SharedMemoryManager: not started: call start() first");
    if (state_ == State::shut_down) throw StateError("mproc::SharedMemoryManager: it has shut down");
    if (owner_pid_ != ::getpid())
        throw StateError("mproc::SharedMemoryManager: this is a copy of the manager of process " +
                         std::to_string(owner_pid_) + ": create segments there");
}

// Keeps the name of a segment just created, or unlinks it if the manager shut down meanwhile.
void SharedMemoryManager::adopt(const std::string& name) {
    std::unique_lock guard(mutex_);
    if (state_ == State::started) {
        names_.push_back(name);
        return;
    }
    guard.unlock();
    mproc::SharedMemory(name).unlink();
    throw StateError("mproc::SharedMemoryManager: it has shut down");
}

mproc::SharedMemory SharedMemoryManager::SharedMemory(std::size_t size) {
    {
        std::lock_guard guard(mutex_);
        check_running_here();
    }
    auto shm = mproc::SharedMemory::create(size, options_);
    adopt(shm.name());
    return shm;
}

mproc::ShareableList SharedMemoryManager::ShareableList(std::initializer_list<mproc::ShareableList::Item> items) {
    return ShareableList(std::span<const mproc::ShareableList::Item>(items.begin(), items.size()));
}

mproc::ShareableList SharedMemoryManager::ShareableList(std::span<const mproc::ShareableList::Item> items) {
    {
        std::lock_guard guard(mutex_);
        check_running_here();
    }
    mproc::ShareableList list(items, options_);
    adopt(list.name());
    return list;
}

std::vector<std::string> SharedMemoryManager::segment_names() const {
    std::lock_guard guard(mutex_);
    return names_;
}

void SharedMemoryManager::shutdown() noexcept {
    std::vector<std::string> names;
    {
        std::lock_guard guard(mutex_);
        if (state_ != State::started || owner_pid_ != ::getpid()) return;
        state_ = State::shut_down;
        names.swap(names_);
    }
    for (const auto& name : names) {
        const std::string path = "/" + name;
        const auto unlinked = os::unlink_named_memory(path.c_str());
        // Gone either way: the tracker must not unlink a segment created later under this name.
        if (options_.track && (unlinked || unlinked.error().code == ENOENT)) detail::untrack_segment(name);
    }
}

}  // namespace mproc
