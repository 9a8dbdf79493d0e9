// mproc/shared_dict.hpp: mproc::SharedDict<K, V>, a dictionary in shared memory that every
// process holding it reads and writes directly, with no server in between. It stands where
// Python programs use multiprocessing.Manager().dict(), for keys and values of fixed size.
//
//   mproc::SharedDict<mproc::FixedString<32>, long> counts(1000);   // room for 1000 entries
//   auto work = [](mproc::SharedDict<mproc::FixedString<32>, long> c, std::string word) {
//       c.fetch_add(word, 1);               // atomic: no update is lost between processes
//   };
//   counts["apples"] = 3;                   // Python: d["apples"] = 3
//   long n = counts.at("apples");           // d["apples"] (std::out_of_range is KeyError)
//   std::optional<long> m = counts.get("pears");   // d.get("pears")
//   for (auto& [word, count] : counts.items()) ...  // a snapshot, as list(d.items())
//
// Keys and values: trivially copyable types holding no pointers (numbers, enums, plain structs,
// std::array) and mproc::FixedString<N> for text (mproc/fixed_string.hpp). Keys are hashed and
// compared byte by byte, so a key type must have no padding and no two representations of one
// value (std::has_unique_object_representations): integers, enums, FixedString, structs of
// those without holes. Floating-point keys are refused at compile time.
//
// Capacity. SharedDict(capacity) sizes a fixed table; it never grows or moves. The table is cut
// into stripes (1 to 64, about one per 32 entries of capacity), each an open-addressing hash table
// with its own lock and room for twice its share of `capacity` plus 16. A key belongs to one
// stripe, chosen by its hash: `capacity` entries with hashed keys fit with overwhelming
// probability, and more often fit. Inserting a new key into a stripe with no free slot throws
// mproc::Full; the table is unchanged.
//
// What is atomic. Each operation on one key (set, get, pop, setdefault, update(key, fn),
// fetch_add, ...) is atomic with respect to every other operation, in every process: it runs
// under its stripe's lock. get, at and contains take no lock at all: they read the stripe under
// its sequence number and retry when a write overlapped (a reader that keeps losing the race
// takes the lock). size() sums the stripes' counts without locking. clear, items, keys and
// values take the stripes one after another: each stripe is seen at one instant, the whole table
// is not (Python's manager answers them at one instant; entries changed meanwhile in stripes
// already visited are missed). Iteration order is the table's, not insertion order.
//
// A holder's death. The stripe locks are robust process-shared mutexes. A process killed while
// it holds one does not block the others: the next process to take that lock repairs the stripe
// and goes on, without an error. The entry the dead process was writing is either as it was
// before or as it was to become, never a mix: a new entry is written while its slot is still
// free and then published with one store of its state; a changed value of 2, 4 or 8 bytes is
// one store, and a larger one is first copied to the stripe's journal, which the repair puts back
// if the write did not finish; a removal is one store. The stripe's count is recounted.
//
// Memory layout (one unnamed shared block; no pointers anywhere):
//   [0, 64)            DictLayout: ObjectHeader, key and value sizes, stripe count and size
//   then per stripe, stripe_stride bytes each, 64-byte aligned:
//                      DictStripe (lock, sequence number, count, journal slot),
//                      the journal (one V), slots_per_stripe slots {state, K, V}.
//
// Handles: copies of a SharedDict, copies inherited by forked children and copies sent to a
// Process or a pool task (under every start method) all refer to the same table; the memory is
// freed with the last process holding it, however it ended.
//
// Thread safety: any number of threads and processes may use one dict at once. The function
// given to update(key, fn) runs while its key's stripe is locked: it must not use the same dict
// (doing so throws mproc::StateError when it reaches the same stripe), and it should be short.
// As with any lock, fork() while another thread of the parent is inside an operation leaves that
// stripe locked in the child.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>
#include <mproc/fixed_string.hpp>
#include <mproc/serialize.hpp>

namespace mproc {

template <class K, class V>
class SharedDict;

namespace detail {

// The block's first 64 bytes.
struct DictLayout {
    ObjectHeader header;
    std::uint32_t key_size;
    std::uint32_t value_size;
    std::uint32_t stripe_count;  // a power of two
    std::uint32_t slots_per_stripe;
    std::uint64_t capacity;
    std::uint64_t stripe_stride;  // bytes from one stripe to the next
    std::uint8_t reserved[16];
};
static_assert(std::is_trivially_copyable_v<DictLayout> && sizeof(DictLayout) == 64, "fixed layout");

// The head of each stripe: its lock and what the lock protects besides the slots. Written only
// under the lock; `seq` and `count` are also read without it (through std::atomic_ref).
struct alignas(64) DictStripe {
    MutexState mutex;
    std::uint32_t seq;           // odd while a write is in progress: lock-free readers retry
    std::uint32_t count;         // live entries
    std::uint32_t journal_slot;  // 1 + the slot whose previous value is in the journal; 0: none
    std::uint32_t reserved;
};
static_assert(std::is_trivially_copyable_v<DictStripe> && sizeof(DictStripe) == 64, "fixed layout");
static_assert(std::atomic_ref<std::uint32_t>::is_always_lock_free, "stripe words must be lock-free atomics");

enum DictSlotState : std::uint32_t { slot_empty = 0, slot_occupied = 1, slot_removed = 2 };

template <class K, class V>
struct DictSlot {
    std::uint32_t state;  // DictSlotState, through std::atomic_ref
    K key;
    V value;
};

// Called, when set, in the middle of writing an entry: tests kill the process there.
inline void (*shared_dict_fault_hook)() = nullptr;

inline std::uint64_t mix_bits(std::uint64_t h) noexcept {  // MurmurHash3's finalizer
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

// The same in every process: it depends only on the key's bytes.
template <class K>
std::uint64_t hash_bytes(const K& key) noexcept {
    const auto* bytes = reinterpret_cast<const unsigned char*>(&key);
    std::uint64_t h = sizeof(K);
    std::size_t at = 0;
    for (; at + 8 <= sizeof(K); at += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes + at, 8);
        h = mix_bits(h ^ word) + 0x9e3779b97f4a7c15ULL;
    }
    if (at < sizeof(K)) {
        std::uint64_t word = 0;
        std::memcpy(&word, bytes + at, sizeof(K) - at);
        h ^= word;
    }
    return mix_bits(h);
}

template <class T>
concept shared_dict_storable = std::is_trivially_copyable_v<T> && !std::is_array_v<T> && !refers_to_memory<T>();

}  // namespace detail

/// A fixed-capacity dictionary in shared memory, used by every process directly. Python:
/// multiprocessing.Manager().dict(), without the server. See the top of this file for what is
/// atomic, the capacity rule and what a holder's death leaves.
///
/// Errors: the constructor throws std::invalid_argument for capacity 0, std::length_error for a
/// capacity too large to map, mproc::OSError when the shared memory cannot be made. Inserting a
/// key into a full stripe throws mproc::Full. at, pop(key) and update(key, fn) throw
/// std::out_of_range for a missing key (Python's KeyError).
///
/// Thread safety: the handle may be used from any number of threads and processes at once.
/// Cost: get, at and contains are a hash and a few loads, no lock and no system call; the other
/// operations on one key lock one stripe (an atomic instruction when uncontended).
template <class K, class V>
class SharedDict {
    static_assert(detail::shared_dict_storable<K>,
                  "mproc::SharedDict needs trivially copyable keys without pointers: use "
                  "mproc::FixedString<N> for strings");
    static_assert(detail::shared_dict_storable<V>,
                  "mproc::SharedDict needs trivially copyable values without pointers: use "
                  "mproc::FixedString<N> for strings, std::array for fixed-size lists");
    static_assert(!std::is_floating_point_v<K>,
                  "mproc::SharedDict compares keys byte by byte, which floating-point numbers do not "
                  "allow (0.0 and -0.0): use an integer key");
    static_assert(std::has_unique_object_representations_v<K>,
                  "mproc::SharedDict compares keys byte by byte: the key type must have no padding "
                  "(reorder or widen its members, or use a std::array of bytes)");
    static_assert(alignof(K) <= 64 && alignof(V) <= 64, "mproc::SharedDict: over-aligned keys or values");

    using Slot = detail::DictSlot<K, V>;
    using Stripe = detail::DictStripe;
    static constexpr std::uint32_t npos = ~std::uint32_t{0};
    static constexpr std::size_t journal_offset = sizeof(Stripe);
    static constexpr std::size_t slots_offset =
        (journal_offset + sizeof(V) + alignof(Slot) - 1) / alignof(Slot) * alignof(Slot);
    static constexpr std::size_t max_capacity = std::size_t{1} << 30;
    // Whether one aligned store writes a value whole (2, 4 or 8 bytes, aligned to its size, as the
    // slots are laid out): such a value is never journalled.
    static constexpr bool stored_whole =
        (sizeof(V) == 2 || sizeof(V) == 4 || sizeof(V) == 8) && alignof(V) == sizeof(V);
    // A reader that sees this many writes overlap its read takes the lock instead.
    static constexpr int lock_free_read_attempts = 64;

public:
    /// K.
    using key_type = K;
    /// V.
    using mapped_type = V;
    /// What items() holds.
    using value_type = std::pair<K, V>;
    /// std::size_t.
    using size_type = std::size_t;

    /// An empty dict with room for `capacity` entries (see the capacity rule at the top of this
    /// file). Python: Manager().dict().
    explicit SharedDict(std::size_t capacity) {
        if (capacity == 0) throw std::invalid_argument("mproc::SharedDict: capacity must be at least 1");
        if (capacity > max_capacity)
            throw std::length_error("mproc::SharedDict: capacity " + std::to_string(capacity) +
                                    " is more than the largest table (" + std::to_string(max_capacity) + ")");
        const auto stripes =
            static_cast<std::uint32_t>(std::min<std::size_t>(64, std::bit_floor(std::max<std::size_t>(1, capacity / 32))));
        const std::size_t share = (capacity + stripes - 1) / stripes;
        const auto slots = static_cast<std::uint32_t>(2 * share + 16);
        const std::size_t stride = stripe_stride(slots);
        block_ = detail::SharedBlock::create("mproc-dict", sizeof(detail::DictLayout) + stripes * stride);
        detail::init_header(block_.data(), detail::ObjectKind::dict, sizeof(Slot), alignof(Slot));
        auto& layout = *std::launder(reinterpret_cast<detail::DictLayout*>(block_.data()));
        layout.key_size = sizeof(K);
        layout.value_size = sizeof(V);
        layout.stripe_count = stripes;
        layout.slots_per_stripe = slots;
        layout.capacity = capacity;
        layout.stripe_stride = stride;
        attach_layout();
        for (std::uint32_t s = 0; s < stripes; ++s) detail::mutex_init(stripe(s).mutex, false);
    }

    /// A dict with room for `capacity` entries, holding `items`. Python: Manager().dict(items).
    SharedDict(std::size_t capacity, std::initializer_list<value_type> items) : SharedDict(capacity) {
        update(items);
    }

    /// @name Python's dict operations
    /// @{

    /// Sets d[key] = value. Full when the key is new and its stripe has no free slot.
    void set(const K& key, const V& value) {
        Locked locked(*this, key);
        const std::uint32_t at = locked.find();
        if (at != npos)
            locked.write_value(at, value);
        else
            locked.insert(value);
    }

    /// d[key] = value, value = d[key] (std::out_of_range when missing), and d[key] += delta
    /// (atomic, as update(key, fn); std::out_of_range when missing). See Entry.
    class Entry;
    /// An Entry for `key`, for d[key] = value, reads of d[key] and d[key] += delta.
    Entry operator[](const K& key) { return Entry(*this, key); }

    /// The value of `key`, or nothing. Python: d.get(key). Takes no lock.
    [[nodiscard]] std::optional<V> get(const K& key) const {
        const auto [s, home] = place(key);
        Stripe& st = stripe(s);
        for (int attempt = 0; attempt < lock_free_read_attempts; ++attempt) {
            const std::uint32_t before = std::atomic_ref(st.seq).load(std::memory_order_acquire);
            if (before & 1) continue;
            std::optional<std::array<std::byte, sizeof(V)>> bytes;
            if (const std::uint32_t at = find(s, home, key, nullptr); at != npos) {
                bytes.emplace();
                std::memcpy(bytes->data(), &slots(s)[at].value, sizeof(V));
            }
            std::atomic_thread_fence(std::memory_order_acquire);
            if (std::atomic_ref(st.seq).load(std::memory_order_relaxed) != before) continue;
            if (!bytes) return std::nullopt;
            return std::bit_cast<V>(*bytes);
        }
        Locked locked(*this, key);
        const std::uint32_t at = locked.find();
        if (at == npos) return std::nullopt;
        return slots(s)[at].value;
    }

    /// The value of `key`, or `fallback`. Python: d.get(key, default).
    [[nodiscard]] V get(const K& key, const V& fallback) const { return get(key).value_or(fallback); }

    /// The value of `key`; std::out_of_range when missing. Python: d[key] (KeyError).
    V at(const K& key) const {
        if (auto value = get(key)) return *value;
        throw std::out_of_range("mproc::SharedDict::at: key not found");
    }

    /// Whether `key` is present. Python: key in d.
    [[nodiscard]] bool contains(const K& key) const { return get(key).has_value(); }

    /// Removes `key`; whether it was present. Python: del d[key], without the KeyError.
    bool erase(const K& key) {
        Locked locked(*this, key);
        const std::uint32_t at = locked.find();
        if (at == npos) return false;
        locked.remove(at);
        return true;
    }

    /// Removes `key` and returns its value; std::out_of_range when missing. Python: d.pop(key).
    V pop(const K& key) {
        if (auto value = pop_if_present(key)) return *value;
        throw std::out_of_range("mproc::SharedDict::pop: key not found");
    }

    /// Removes `key` and returns its value, or `fallback` when missing. Python: d.pop(key, default).
    V pop(const K& key, const V& fallback) { return pop_if_present(key).value_or(fallback); }

    /// The value of `key`, first setting it to `fallback` when missing (atomically). Python:
    /// d.setdefault(key, default). Full as set.
    V setdefault(const K& key, const V& fallback) {
        Locked locked(*this, key);
        if (const std::uint32_t at = locked.find(); at != npos) return slots(locked.s)[at].value;
        locked.insert(fallback);
        return fallback;
    }

    /// Sets every (key, value) pair of `items`, one after another (each is atomic, the whole is
    /// not). Python: d.update(items). Full as set; the pairs before the full one are set.
    template <std::ranges::input_range R>
        requires requires(std::ranges::range_reference_t<R> item) {
            { std::get<0>(item) } -> std::convertible_to<const K&>;
            { std::get<1>(item) } -> std::convertible_to<const V&>;
        }
    void update(R&& items) {
        for (auto&& item : items) set(std::get<0>(item), std::get<1>(item));
    }
    /// Sets every pair of `items`. Python: d.update({...}).
    void update(std::initializer_list<value_type> items) {
        for (const auto& [key, value] : items) set(key, value);
    }

    /// Atomically sets d[key] = fn(d[key]) and returns the new value; std::out_of_range when
    /// missing. `fn` runs with the key's stripe locked (see the top of this file); if it throws,
    /// nothing changes. Python has no atomic form: with a manager dict, d[key] = fn(d[key]) may
    /// lose updates.
    template <class Fn>
        requires std::convertible_to<std::invoke_result_t<Fn&, const V&>, V>
    V update(const K& key, Fn fn) {
        Locked locked(*this, key);
        const std::uint32_t at = locked.find();
        if (at == npos) throw std::out_of_range("mproc::SharedDict::update: key not found");
        const V current = slots(locked.s)[at].value;
        const V next = static_cast<V>(fn(current));
        locked.write_value(at, next);
        return next;
    }

    /// Atomically adds `delta` to d[key], a missing key counting as V{} (as a
    /// collections.Counter does), and returns the value before. The counter of many processes.
    /// Full as set.
    V fetch_add(const K& key, const V& delta)
        requires std::default_initializable<V> && requires(const V& a) {
            { a + a } -> std::convertible_to<V>;
        }
    {
        Locked locked(*this, key);
        if (const std::uint32_t at = locked.find(); at != npos) {
            const V before = slots(locked.s)[at].value;
            locked.write_value(at, static_cast<V>(before + delta));
            return before;
        }
        locked.insert(static_cast<V>(V{} + delta));
        return V{};
    }

    /// The number of entries. Python: len(d). Takes no lock: under concurrent changes, a count
    /// each stripe had at some moment while it ran.
    [[nodiscard]] std::size_t size() const noexcept {
        std::size_t total = 0;
        for (std::uint32_t s = 0; s < stripe_count_; ++s)
            total += std::atomic_ref(stripe(s).count).load(std::memory_order_relaxed);
        return total;
    }
    /// Whether size() is 0.
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }
    /// The capacity it was made with.
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

    /// Removes every entry, stripe after stripe. Python: d.clear().
    void clear() {
        for (std::uint32_t s = 0; s < stripe_count_; ++s) {
            Locked locked(*this, Place{s, 0});
            locked.clear();
        }
    }

    /// A copy of every (key, value) pair, stripe after stripe. Python: list(d.items()).
    [[nodiscard]] std::vector<value_type> items() const {
        std::vector<value_type> out;
        for_each_entry([&](const Slot& slot) { out.emplace_back(slot.key, slot.value); });
        return out;
    }
    /// A copy of every key. Python: list(d.keys()).
    [[nodiscard]] std::vector<K> keys() const {
        std::vector<K> out;
        for_each_entry([&](const Slot& slot) { out.push_back(slot.key); });
        return out;
    }
    /// A copy of every value. Python: list(d.values()).
    [[nodiscard]] std::vector<V> values() const {
        std::vector<V> out;
        for_each_entry([&](const Slot& slot) { out.push_back(slot.value); });
        return out;
    }

    /// @}

    /// Whether two handles refer to the same table (in this process).
    friend bool operator==(const SharedDict& a, const SharedDict& b) noexcept { return a.block_.same_mapping(b.block_); }

private:
    struct Place {
        std::uint32_t stripe;
        std::uint32_t home;
    };

    static std::size_t stripe_stride(std::uint32_t slots) noexcept {
        return (slots_offset + std::size_t{slots} * sizeof(Slot) + 63) / 64 * 64;
    }

    void attach_layout() noexcept {
        const auto& layout = *std::launder(reinterpret_cast<const detail::DictLayout*>(block_.data()));
        stripe_count_ = layout.stripe_count;
        slots_per_stripe_ = layout.slots_per_stripe;
        stripe_stride_ = static_cast<std::size_t>(layout.stripe_stride);
        capacity_ = static_cast<std::size_t>(layout.capacity);
        stripes_ = block_.data() + sizeof(detail::DictLayout);
    }

    Stripe& stripe(std::uint32_t s) const noexcept {
        return *std::launder(reinterpret_cast<Stripe*>(stripes_ + s * stripe_stride_));
    }
    V* journal(std::uint32_t s) const noexcept {
        return std::launder(reinterpret_cast<V*>(stripes_ + s * stripe_stride_ + journal_offset));
    }
    Slot* slots(std::uint32_t s) const noexcept {
        return std::launder(reinterpret_cast<Slot*>(stripes_ + s * stripe_stride_ + slots_offset));
    }
    static std::uint32_t state_of(Slot& slot) noexcept {
        return std::atomic_ref(slot.state).load(std::memory_order_acquire);
    }
    static void set_state(Slot& slot, std::uint32_t state) noexcept {
        std::atomic_ref(slot.state).store(state, std::memory_order_release);
    }

    Place place(const K& key) const noexcept {
        const std::uint64_t h = detail::hash_bytes(key);
        return {static_cast<std::uint32_t>(h >> 40) & (stripe_count_ - 1),
                static_cast<std::uint32_t>((std::uint64_t{static_cast<std::uint32_t>(h)} * slots_per_stripe_) >> 32)};
    }

    // The slot holding `key` in stripe s, or npos. When `free` is given, it receives the first
    // free slot on the key's probe path (npos if none). Probing stops at an empty slot: a slot
    // never becomes empty again while a live entry lies beyond it on some probe path (see remove).
    std::uint32_t find(std::uint32_t s, std::uint32_t home, const K& key, std::uint32_t* free) const noexcept {
        Slot* table = slots(s);
        std::uint32_t i = home;
        for (std::uint32_t step = 0; step < slots_per_stripe_; ++step) {
            const std::uint32_t state = state_of(table[i]);
            if (state == detail::slot_empty) {
                if (free && *free == npos) *free = i;
                return npos;
            }
            if (state == detail::slot_occupied) {
                if (std::memcmp(&table[i].key, &key, sizeof(K)) == 0) return i;
            } else if (free && *free == npos) {
                *free = i;
            }
            if (++i == slots_per_stripe_) i = 0;
        }
        return npos;
    }

    // Takes stripe s's lock; after a holder's death, repairs the stripe first.
    void lock(std::uint32_t s) const {
        try {
            detail::mutex_lock(stripe(s).mutex);
        } catch (const OwnerDied&) {
            repair(s);  // we hold the lock now
        }
    }

    // Undoes the dead holder's unfinished value write, recounts, and ends its write section.
    void repair(std::uint32_t s) const noexcept {
        Stripe& st = stripe(s);
        Slot* table = slots(s);
        if (st.journal_slot != 0 && st.journal_slot <= slots_per_stripe_)
            std::memcpy(static_cast<void*>(&table[st.journal_slot - 1].value), journal(s), sizeof(V));
        std::atomic_ref(st.journal_slot).store(0, std::memory_order_release);
        std::uint32_t live = 0;
        for (std::uint32_t i = 0; i < slots_per_stripe_; ++i) live += state_of(table[i]) == detail::slot_occupied;
        std::atomic_ref(st.count).store(live, std::memory_order_relaxed);
        const std::uint32_t seq = st.seq;
        if (seq & 1) std::atomic_ref(st.seq).store(seq + 1, std::memory_order_release);
    }

    // One stripe, locked for the life of this object; its writes bracketed by the sequence number.
    class Locked {
    public:
        Locked(const SharedDict& d, const K& key) : Locked(d, d.place(key)) { key_ = &key; }
        // The whole stripe, for operations on all its slots.
        Locked(const SharedDict& d, Place where)
            : dict(d), s(where.stripe), home(where.home), st(d.stripe(where.stripe)), table(d.slots(where.stripe)) {
            dict.lock(s);
        }
        ~Locked() {
            if (writing_) std::atomic_ref(st.seq).store(st.seq + 1, std::memory_order_release);
            detail::mutex_unlock(st.mutex);
        }
        Locked(const Locked&) = delete;
        Locked& operator=(const Locked&) = delete;

        std::uint32_t find() {
            free_ = npos;
            return dict.find(s, home, *key_, &free_);
        }

        // The value of slot `at` becomes `value`: journalled, so that a death half-way is undone.
        // A value one aligned store writes whole needs no journal: it cannot be left half-written,
        // and the journal's cache line is one fewer that each set pays for.
        void write_value(std::uint32_t at, const V& value) {
            begin_write();
            Slot& slot = table[at];
            if constexpr (stored_whole) {
                using Word = std::conditional_t<sizeof(V) == 8, std::uint64_t,
                                                std::conditional_t<sizeof(V) == 4, std::uint32_t, std::uint16_t>>;
                std::atomic_ref(*reinterpret_cast<Word*>(&slot.value)).store(std::bit_cast<Word>(value), std::memory_order_relaxed);
                if (detail::shared_dict_fault_hook) [[unlikely]] detail::shared_dict_fault_hook();
                return;
            }
            std::memcpy(static_cast<void*>(dict.journal(s)), &slot.value, sizeof(V));
            std::atomic_ref(st.journal_slot).store(at + 1, std::memory_order_release);
            std::atomic_thread_fence(std::memory_order_release);
            auto* target = reinterpret_cast<std::byte*>(&slot.value);
            const auto* source = reinterpret_cast<const std::byte*>(&value);
            if (detail::shared_dict_fault_hook) [[unlikely]] {
                std::memcpy(target, source, sizeof(V) / 2);
                detail::shared_dict_fault_hook();
                std::memcpy(target + sizeof(V) / 2, source + sizeof(V) / 2, sizeof(V) - sizeof(V) / 2);
            } else {
                std::memcpy(target, source, sizeof(V));
            }
            std::atomic_ref(st.journal_slot).store(0, std::memory_order_release);
        }

        // A new entry for the key (find() said it is missing), in the first free slot on its path.
        void insert(const V& value) {
            if (free_ == npos)
                throw Full("mproc::SharedDict: no room for a new key (the table was made for " +
                           std::to_string(dict.capacity_) + " entries; make it larger)");
            begin_write();
            Slot& slot = table[free_];
            std::memcpy(static_cast<void*>(&slot.key), key_, sizeof(K));
            std::memcpy(static_cast<void*>(&slot.value), &value, sizeof(V));
            if (detail::shared_dict_fault_hook) [[unlikely]] detail::shared_dict_fault_hook();
            set_state(slot, detail::slot_occupied);  // published
            std::atomic_ref(st.count).store(st.count + 1, std::memory_order_relaxed);
        }

        // Removes the entry in slot `at`. A removed slot followed by an empty one ends every probe
        // path through it just as an empty slot would: such slots are emptied, walking back.
        void remove(std::uint32_t at) {
            begin_write();
            set_state(table[at], detail::slot_removed);
            std::atomic_ref(st.count).store(st.count - 1, std::memory_order_relaxed);
            const std::uint32_t n = dict.slots_per_stripe_;
            if (state_of(table[at + 1 == n ? 0 : at + 1]) != detail::slot_empty) return;
            for (std::uint32_t i = at, steps = 0; steps < n && state_of(table[i]) == detail::slot_removed; ++steps) {
                set_state(table[i], detail::slot_empty);
                i = i == 0 ? n - 1 : i - 1;
            }
        }

        // Every entry removed first, then every slot emptied: a death in between leaves no live
        // entry behind an empty slot.
        void clear() {
            begin_write();
            const std::uint32_t n = dict.slots_per_stripe_;
            for (std::uint32_t i = 0; i < n; ++i)
                if (state_of(table[i]) == detail::slot_occupied) set_state(table[i], detail::slot_removed);
            std::atomic_ref(st.count).store(0, std::memory_order_relaxed);
            for (std::uint32_t i = 0; i < n; ++i) set_state(table[i], detail::slot_empty);
        }

        const SharedDict& dict;
        const std::uint32_t s;
        const std::uint32_t home;
        Stripe& st;
        Slot* const table;

    private:
        void begin_write() noexcept {
            if (writing_) return;
            writing_ = true;
            std::atomic_ref(st.seq).store(st.seq + 1, std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_release);
        }

        const K* key_ = nullptr;
        std::uint32_t free_ = npos;
        bool writing_ = false;
    };

    std::optional<V> pop_if_present(const K& key) {
        Locked locked(*this, key);
        const std::uint32_t at = locked.find();
        if (at == npos) return std::nullopt;
        const V value = slots(locked.s)[at].value;
        locked.remove(at);
        return value;
    }

    template <class Fn>
    void for_each_entry(Fn&& fn) const {
        for (std::uint32_t s = 0; s < stripe_count_; ++s) {
            Locked locked(*this, Place{s, 0});
            for (std::uint32_t i = 0; i < slots_per_stripe_; ++i)
                if (state_of(locked.table[i]) == detail::slot_occupied) fn(locked.table[i]);
        }
    }

    struct Decoding {};
    explicit SharedDict(Decoding) {}
    friend struct Codec<SharedDict>;

    detail::SharedBlock block_;
    std::byte* stripes_ = nullptr;
    std::uint32_t stripe_count_ = 0;
    std::uint32_t slots_per_stripe_ = 0;
    std::size_t stripe_stride_ = 0;
    std::size_t capacity_ = 0;
};

/// What d[key] gives: assign to set, read to get (std::out_of_range when missing, as Python's
/// KeyError), += and -= to change atomically (std::out_of_range when missing).
template <class K, class V>
class SharedDict<K, V>::Entry {
public:
    /// d[key] = value.
    Entry& operator=(const V& value) {
        dict_.set(key_, value);
        return *this;
    }
    /// d[key] = other_dict[other_key].
    Entry& operator=(const Entry& other) { return *this = static_cast<V>(other); }
    /// The value; std::out_of_range when missing.
    operator V() const { return dict_.at(key_); }
    /// Atomically d[key] = d[key] + delta; the new value.
    V operator+=(const V& delta)
        requires requires(const V& a) { { a + a } -> std::convertible_to<V>; }
    {
        return dict_.update(key_, [&](const V& value) { return static_cast<V>(value + delta); });
    }
    /// Atomically d[key] = d[key] - delta; the new value.
    V operator-=(const V& delta)
        requires requires(const V& a) { { a - a } -> std::convertible_to<V>; }
    {
        return dict_.update(key_, [&](const V& value) { return static_cast<V>(value - delta); });
    }

private:
    Entry(SharedDict& dict, const K& key) : dict_(dict), key_(key) {}
    friend class SharedDict;
    SharedDict& dict_;
    K key_;
};

/// How a SharedDict travels: its block, as a descriptor.
template <class K, class V>
struct Codec<SharedDict<K, V>> {
    static void encode(Writer& out, const SharedDict<K, V>& dict) { dict.block_.encode(out); }
    static SharedDict<K, V> decode(Reader& in) {
        using Dict = SharedDict<K, V>;
        Dict dict{typename Dict::Decoding{}};
        auto block = detail::SharedBlock::decode(in, sizeof(detail::DictLayout));
        detail::check_header(block, detail::ObjectKind::dict, "SharedDict", sizeof(typename Dict::Slot),
                             alignof(typename Dict::Slot));
        detail::DictLayout layout;
        std::memcpy(&layout, block.data(), sizeof layout);
        const bool sane = layout.key_size == sizeof(K) && layout.value_size == sizeof(V) &&
                          std::has_single_bit(layout.stripe_count) && layout.stripe_count <= 64 &&
                          layout.slots_per_stripe > 0 &&
                          layout.stripe_stride == Dict::stripe_stride(layout.slots_per_stripe) &&
                          layout.stripe_stride * layout.stripe_count + sizeof layout <= block.size_when_mapped() &&
                          layout.stripe_stride * layout.stripe_count + sizeof layout <= block.mapped_size();
        if (!sane) in.fail("SharedDict layout does not match its shared memory");
        dict.block_ = std::move(block);
        dict.attach_layout();
        return dict;
    }
};

}  // namespace mproc
