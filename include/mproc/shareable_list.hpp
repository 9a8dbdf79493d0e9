// mproc/shareable_list.hpp: a fixed-length list of numbers, strings and bytes in a named
// SharedMemory (Python's multiprocessing.shared_memory.ShareableList), and SharedMemoryManager
// (Python's multiprocessing.managers.SharedMemoryManager), which unlinks the segments it created
// when it shuts down.
//
//   using None = mproc::ShareableList::None;
//   mproc::ShareableList list({"howdy", mproc::Bytes{std::byte{1}}, -273.154, 100, None{}, true});
//   list[3];                                   // Item(std::int64_t{100})   Python: sl[3]
//   list.get<std::string>(0);                  // "howdy"                   (typed read)
//   list.set(3, 42);                           //                           Python: sl[3] = 42
//   list.set(0, "hi");                         // a str may shrink, never outgrow its slot
//   mproc::ShareableList same(list.name());    // attach by name            Python: ShareableList(name=...)
//   list.shm().close();  list.shm().unlink();  //                           Python: sl.shm.close() ...
//
// The memory layout is Python 3.11's own, byte for byte, so a Python program attaches by name to a
// list this program created and the other way round:
//   8 bytes     the number of items N (int64)
//   (N+1) * 8   the offset of each item's slot from the start of the data area, and its end (int64)
//   ...         the data area: each item in a slot of 8 bytes (int, float, bool, None) or, for a
//               str or bytes, of its length rounded up past the next multiple of 8
//   N * 8       each item's struct format ("q", "d", "xxxxxxx?", "xxxxxx?x", "16s"), NUL-padded
//   N           each item's back-transform code (0 number or bool, 1 str, 2 bytes, 3 None)
// Native byte order, as Python's struct without a prefix.
//
// Items are Python's types: Item is a std::variant of None (std::monostate), std::int64_t (int),
// double (float), bool, std::string (str, UTF-8) and Bytes (bytes). The length is fixed; an item
// may change type (a str slot can take an int and later a str again), but a str or bytes item
// never grows past the slot it was created with (a str's slot is sized by its UTF-8 bytes;
// Python 3.11 counts characters, and cuts non-ASCII text short). Python's quirks are kept,
// since they are the layout's: trailing NUL characters of a str or bytes item are lost
// (b"ab\0" reads back as b"ab"), as there is no length field.
//
// Errors, Python's in brackets: std::out_of_range for an index >= size() (IndexError);
// std::length_error when a str or bytes item exceeds its slot (ValueError "bytes/str item exceeds
// available storage"); std::invalid_argument for a str that is not valid UTF-8 (UnicodeEncodeError)
// and from index() for a value not in the list (ValueError); std::bad_variant_access from get<T>
// for an item of another type; mproc::SerializationError when a segment does not hold a valid
// list; SharedMemory's errors (OSError ENOENT for a missing name, EEXIST for a taken one,
// StateError after close()).
//
// Thread and process safety: as for SharedMemory's bytes, nothing is locked (Python neither). A
// read racing with a write of the same item, in any process, may see a mix of old and new; guard
// such items with an mproc::Lock. Reads and writes of different items never interfere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include <mproc/detail/codec_fwd.hpp>
#include <mproc/shared_memory.hpp>

namespace mproc {

/// Python's bytes, as an item of a ShareableList.
using Bytes = std::vector<std::byte>;

/// A fixed-length list of int, float, bool, str, bytes and None items in a named SharedMemory
/// segment, attachable by name from this program, another mproc program or Python. Python:
/// multiprocessing.shared_memory.ShareableList. See the top of this header for the layout, the
/// errors and the thread safety.
///
/// A ShareableList is a handle: copies refer to the same segment (and share its SharedMemory
/// handle, so shm().close() closes it for every copy in this process). Passed to a Process or a
/// pool task it travels as SharedMemory does, as a descriptor: it arrives even after unlink()
/// (Python re-attaches by name, and fails once the name is gone).
class ShareableList {
public:
    /// Python's None.
    using None = std::monostate;
    /// One item: None, int, float, bool, str (UTF-8) or bytes.
    using Item = std::variant<None, std::int64_t, double, bool, std::string, Bytes>;

    /// Creates a list of these items in a new segment with a fresh name ("psm_" and 8 hex
    /// digits). Python: ShareableList(sequence).
    ShareableList(std::initializer_list<Item> items, SharedMemoryOptions options = {});
    /// The same from a span (or a std::vector<Item>).
    explicit ShareableList(std::span<const Item> items, SharedMemoryOptions options = {});
    /// The same from any range whose elements convert to Item: ShareableList(std::views::iota(0, 10))
    /// is Python's ShareableList(range(10)). A string is not taken for a range of characters:
    /// ShareableList("name") attaches by name.
    template <std::ranges::input_range Range>
        requires(!std::is_convertible_v<Range, std::string_view> &&
                 !std::is_same_v<std::remove_cvref_t<Range>, ShareableList> &&
                 !std::is_convertible_v<Range, std::span<const Item>> &&
                 std::is_convertible_v<std::ranges::range_reference_t<Range>, Item>)
    explicit ShareableList(Range&& items, SharedMemoryOptions options = {})
        : ShareableList(std::span<const Item>(collect(std::forward<Range>(items))), options) {}

    /// Creates the list under `name` (OSError EEXIST if it is taken). Python:
    /// ShareableList(sequence, name=name).
    static ShareableList create(const std::string& name, std::span<const Item> items, SharedMemoryOptions options = {});
    /// The same from a braced list.
    static ShareableList create(const std::string& name, std::initializer_list<Item> items,
                                SharedMemoryOptions options = {});

    /// Attaches to the list in segment `name`, created by this or another program, mproc or Python.
    /// Python: ShareableList(name=name). Write it with parentheses: ShareableList{"x"} is a new
    /// list holding the str "x".
    explicit ShareableList(const std::string& name);
    /// Attaches to the list in an open segment (shm is kept, not copied).
    explicit ShareableList(mproc::SharedMemory shm);

    /// The number of items, fixed at creation. Python: len(sl).
    std::size_t size() const noexcept { return count_; }
    /// Whether it has no items.
    bool empty() const noexcept { return size() == 0; }

    /// The item at `index`: std::out_of_range past the end. Python: sl[index] (no negative
    /// indexes: write sl[size() - 1] for sl[-1]). A value, not a reference: use set() to write.
    Item operator[](std::size_t index) const;
    /// The item at `index` as a T (one of Item's types): std::bad_variant_access when it holds
    /// another type (no conversion: an int item is not read as a double), std::out_of_range past
    /// the end.
    template <class T>
    T get(std::size_t index) const {
        return std::get<T>((*this)[index]);
    }
    /// Replaces the item at `index`, which may change its type. std::out_of_range past the end;
    /// std::length_error for a str or bytes longer than the slot's allocation (slot_capacity());
    /// std::invalid_argument for a str that is not UTF-8. Python: sl[index] = value.
    void set(std::size_t index, const Item& value);
    /// How many bytes a str or bytes item at `index` may take: the slot's size, at least 8.
    std::size_t slot_capacity(std::size_t index) const;

    /// How many items equal `value`, compared as Python's ==: numbers by value across int, float
    /// and bool (1 == 1.0 == true), str only to str, bytes only to bytes, None only to None, a NaN
    /// to nothing. Python: sl.count(value).
    std::size_t count(const Item& value) const;
    /// The position of the first item equal to `value` (as in count()): std::invalid_argument if
    /// there is none. Python: sl.index(value).
    std::size_t index(const Item& value) const;

    /// Every item's struct format, concatenated ("8s8sdqxxxxxx?xxxxxxxx?q"). Python: sl.format.
    std::string format() const;
    /// The items, copied out. Python: list(sl).
    std::vector<Item> to_vector() const;
    /// Python's repr: "ShareableList(['howdy', b'HoWdY', -273.154, 100, None, True], name='psm_...')".
    std::string repr() const;

    /// The segment's name, without the leading '/'. Python: sl.shm.name.
    const std::string& name() const { return shm_.name(); }
    /// The segment that holds the list: close() it when done in this process, unlink() it once.
    /// Python: sl.shm.
    mproc::SharedMemory& shm() noexcept { return shm_; }
    /// The same, read-only.
    const mproc::SharedMemory& shm() const noexcept { return shm_; }

    /// Reads items in order, each as a value (an input iterator, as Python's iteration).
    class iterator {
    public:
        /// @{
        /// The standard iterator types: a forward traversal whose reference is a value.
        using iterator_concept = std::forward_iterator_tag;
        using iterator_category = std::input_iterator_tag;
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        using reference = Item;
        /// @}
        /// An iterator of no list.
        iterator() = default;
        /// The item it is at (read now, from the segment).
        Item operator*() const { return (*list_)[index_]; }
        /// To the next item.
        iterator& operator++() {
            ++index_;
            return *this;
        }
        /// To the next item, returning where it was.
        iterator operator++(int) {
            auto before = *this;
            ++index_;
            return before;
        }
        /// Whether both are at the same position.
        bool operator==(const iterator& other) const noexcept { return index_ == other.index_; }

    private:
        friend class ShareableList;
        iterator(const ShareableList* list, std::size_t index) : list_(list), index_(index) {}
        const ShareableList* list_ = nullptr;
        std::size_t index_ = 0;
    };
    /// At the first item. Python: iter(sl).
    iterator begin() const { return {this, 0}; }
    /// Past the last item.
    iterator end() const { return {this, size()}; }

    /// Python's repr of one item: None, 42, -273.154, True, 'howdy', b'HoWdY'.
    static std::string repr(const Item& item);
    /// Python's == between two items (see count()).
    static bool equal(const Item& a, const Item& b) noexcept;

private:
    struct Layout;  // where the parts of the list lie in its segment (src/shareable_list.cpp)
    template <class Range>
    static std::vector<Item> collect(Range&& items) {
        std::vector<Item> collected;
        if constexpr (std::ranges::sized_range<Range>) collected.reserve(std::ranges::size(items));
        for (auto&& item : items) collected.emplace_back(Item(std::forward<decltype(item)>(item)));
        return collected;
    }
    // A new segment holding `items`, under `name` or a fresh one.
    static mproc::SharedMemory create_segment(const std::optional<std::string>& name, std::span<const Item> items,
                                              SharedMemoryOptions options);

    const Layout& layout() const noexcept { return *layout_; }

    mproc::SharedMemory shm_;
    std::shared_ptr<const Layout> layout_;  // read once when attached: it never changes
    std::size_t count_ = 0;
    friend struct Codec<ShareableList>;
};

template <>
struct Codec<ShareableList> {
    static void encode(Writer& out, const ShareableList& list);
    static ShareableList decode(Reader& in);
};

/// Creates SharedMemory segments and ShareableLists and unlinks them all when it shuts down, at
/// the latest when it is destroyed (the end of Python's `with SharedMemoryManager() as smm:`).
/// Python: multiprocessing.managers.SharedMemoryManager.
///
///   mproc::SharedMemoryManager smm;
///   smm.start();
///   mproc::ShareableList list = smm.ShareableList({1, 2, 3});
///   mproc::SharedMemory block = smm.SharedMemory(4096);
///   ...                                       // pass them to Processes and pool tasks
///   smm.shutdown();                           // unlinks both (so does the destructor)
///
/// Python runs the manager as a server process that other processes can connect to; this one
/// lives in the process that started it and costs no process: segments are created here, their
/// names kept in a list, and shutdown() unlinks them. The segments are tracked by the resource
/// tracker as any created SharedMemory (unless the options say {.track = false}): if this
/// process is killed before shutdown(), they are unlinked once the program is gone, as Python's
/// tracker does. What it cannot do: be connected to from another process (Python's address,
/// authkey and connect()); a forked copy of a manager is inert (its segments belong to the
/// process that started it: creating through it throws StateError, shutting it down does
/// nothing).
///
/// Errors: StateError from SharedMemory() and ShareableList() before start() or after
/// shutdown() (Python: ValueError or ProcessError), and from start() twice or after shutdown()
/// (Python: ProcessError); the errors of SharedMemory and ShareableList. shutdown() never throws:
/// a segment someone else already unlinked is skipped.
/// Thread safety: every member may be called from any thread at once.
class SharedMemoryManager {
public:
    /// A manager not started yet. `options` apply to every segment it creates.
    explicit SharedMemoryManager(SharedMemoryOptions options = {});
    /// shutdown(), in the process that started it.
    ~SharedMemoryManager();
    SharedMemoryManager(const SharedMemoryManager&) = delete;
    SharedMemoryManager& operator=(const SharedMemoryManager&) = delete;

    /// Starts it (and the resource tracker, so that the processes started from now on share it,
    /// as Python's manager does). Python: start().
    void start();
    /// Unlinks every segment it created, and stops it: no segment can be created through it any
    /// more. Idempotent; does nothing in a process other than the one that started it. Python:
    /// shutdown().
    void shutdown() noexcept;
    /// Whether start() was called and shutdown() was not.
    bool running() const;

    /// A new segment of `size` bytes, unlinked at shutdown. Python: smm.SharedMemory(size).
    mproc::SharedMemory SharedMemory(std::size_t size);
    /// A new list of these items, unlinked at shutdown. Python: smm.ShareableList(sequence).
    mproc::ShareableList ShareableList(std::initializer_list<mproc::ShareableList::Item> items);
    /// The same from a span or a std::vector of items.
    mproc::ShareableList ShareableList(std::span<const mproc::ShareableList::Item> items);
    /// The same from any range of values that convert to an item (std::views::iota(0, 10)).
    template <std::ranges::input_range Range>
        requires(!std::is_convertible_v<Range, std::span<const mproc::ShareableList::Item>> &&
                 std::is_convertible_v<std::ranges::range_reference_t<Range>, mproc::ShareableList::Item>)
    mproc::ShareableList ShareableList(Range&& items) {
        std::vector<mproc::ShareableList::Item> collected;
        for (auto&& item : items) collected.emplace_back(mproc::ShareableList::Item(std::forward<decltype(item)>(item)));
        return ShareableList(std::span<const mproc::ShareableList::Item>(collected));
    }

    /// The names of the segments it created and has not unlinked yet, oldest first. Python: the
    /// server's list_segments().
    std::vector<std::string> segment_names() const;

private:
    enum class State { initial, started, shut_down };
    void check_running_here() const;
    void adopt(const std::string& name);

    SharedMemoryOptions options_;
    mutable std::mutex mutex_;
    State state_ = State::initial;
    int owner_pid_ = 0;
    std::vector<std::string> names_;
};

}  // namespace mproc
