// mproc/shared.hpp: values and arrays in shared memory (Python's multiprocessing.Value, Array,
// RawValue and RawArray), and the table of Python typecodes.
//
//   mproc::Value<double> counter(0.0);                 // Python: Value('d', 0.0)
//   auto work = [](mproc::Value<double> c) {
//       for (int i = 0; i < 10000; ++i) {
//           std::lock_guard guard(c.get_lock());       // Python: with c.get_lock():
//           c.value() += 1;                            //             c.value += 1
//       }
//   };
//   mproc::Array<int> squares(std::views::iota(0, 10));  // Python: Array('i', range(10))
//   squares[3] = 9; for (int x : squares) ...; std::span<int> view = squares.span();
//
// Value<T> and Array<T> hold trivially copyable T (no pointers) in unnamed shared memory. Copies
// of the object, copies inherited by forked children and copies sent to another process all
// refer to the same memory; nothing is left behind when the processes using it are gone.
//
// As in Python, each has a lock (get_lock()) that protects nothing by itself: hold it while you
// read-modify-write. By default it is a new RLock of the object's own; the `lock` option is
// Python's lock= argument:
//
//   mproc::Lock lock;                                   // Python: lock = Lock()
//   mproc::Value<int> a(0, {.lock = lock});             //         a = Value('i', 0, lock=lock)
//   mproc::Array<double> b(10, {.lock = lock});        //         b = Array('d', 10, lock=lock)
//   mproc::Value<int> c(0, {.lock = false});            //         c = Value('i', 0, lock=False)
//
// An existing Lock or RLock (or another object's get_lock()) is shared, not copied: get_lock()
// returns it (as an AnyLock, equal to it), and every copy of the object, in this process or sent
// to another, keeps referring to that same lock. Nothing but a Lock or an RLock is accepted (a
// Semaphore or a Condition does not compile). RawValue and RawArray never have a lock;
// get_lock() on an object without one throws StateError. If a process dies holding the lock, the
// next acquirer is told with mproc::OwnerDied (see mproc/sync.hpp).
//
// Value<T> also offers lock-free atomic access (load, store, exchange, compare_exchange,
// fetch_add, fetch_sub) when std::atomic_ref<T> is always lock-free for T, as it is for the
// arithmetic types: counter.fetch_add(1.0) needs no lock.
//
// Python typecodes, for code ported from Python: Value<mproc::typecode<'d'>> is Value<double>.
//   'c' char          'b' signed char   'B' unsigned char   '?' bool
//   'h' short         'H' unsigned short
//   'i' int           'I' unsigned int
//   'l' long          'L' unsigned long
//   'q' long long     'Q' unsigned long long
//   'f' float         'd' double        'u' wchar_t
// and ctypes' names: mproc::c_double, mproc::c_int, ... (see below).
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <new>
#include <optional>
#include <ranges>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <mproc/detail/shared_block.hpp>
#include <mproc/errors.hpp>
#include <mproc/serialize.hpp>
#include <mproc/sync.hpp>

namespace mproc {

// ---------------------------------------------------------------------------------------------
// Typecodes.

/// @name ctypes' type names
/// @{

/// The C++ type of the ctypes type of the same name (mproc::c_double is double): Value<c_double>
/// reads as Python's Value(ctypes.c_double).
using c_char = char;
using c_byte = signed char;
using c_ubyte = unsigned char;
using c_bool = bool;
using c_short = short;
using c_ushort = unsigned short;
using c_int = int;
using c_uint = unsigned int;
using c_long = long;
using c_ulong = unsigned long;
using c_longlong = long long;
using c_ulonglong = unsigned long long;
using c_float = float;
using c_double = double;
using c_wchar = wchar_t;
using c_size_t = std::size_t;
using c_ssize_t = std::ptrdiff_t;
using c_int8 = std::int8_t;
using c_uint8 = std::uint8_t;
using c_int16 = std::int16_t;
using c_uint16 = std::uint16_t;
using c_int32 = std::int32_t;
using c_uint32 = std::uint32_t;
using c_int64 = std::int64_t;
using c_uint64 = std::uint64_t;

/// @}

namespace detail {
template <char Code>
struct typecode_type {
    static_assert(Code != Code, "mproc::typecode: unknown Python typecode; use one of "
                                "c b B ? h H i I l L q Q f d u");
};
template <> struct typecode_type<'c'> { using type = char; };
template <> struct typecode_type<'b'> { using type = signed char; };
template <> struct typecode_type<'B'> { using type = unsigned char; };
template <> struct typecode_type<'?'> { using type = bool; };
template <> struct typecode_type<'h'> { using type = short; };
template <> struct typecode_type<'H'> { using type = unsigned short; };
template <> struct typecode_type<'i'> { using type = int; };
template <> struct typecode_type<'I'> { using type = unsigned int; };
template <> struct typecode_type<'l'> { using type = long; };
template <> struct typecode_type<'L'> { using type = unsigned long; };
template <> struct typecode_type<'q'> { using type = long long; };
template <> struct typecode_type<'Q'> { using type = unsigned long long; };
template <> struct typecode_type<'f'> { using type = float; };
template <> struct typecode_type<'d'> { using type = double; };
template <> struct typecode_type<'u'> { using type = wchar_t; };
}  // namespace detail

/// The C++ type of a Python typecode: typecode<'d'> is double.
template <char Code>
using typecode = typename detail::typecode_type<Code>::type;

/// What Python's lock= argument of Value and Array may be: true (a new RLock of the object's own,
/// the default), false (no lock), or an existing Lock or RLock, which the object then shares.
class LockChoice {
public:
    /// Only a bool: a pointer or a number converting to one is not a lock.
    template <std::same_as<bool> B>
    LockChoice(B own) : own_(own) {}
    /// Share this Lock.
    LockChoice(const Lock& lock) : existing_(AnyLock(lock)) {}
    /// Share this RLock.
    LockChoice(const RLock& lock) : existing_(AnyLock(lock)) {}
    /// Share this lock (another object's get_lock()).
    LockChoice(const AnyLock& lock) : existing_(lock) {}

private:
    bool own_ = false;
    std::optional<AnyLock> existing_;
    template <class T>
    friend class detail::ValueStorage;
};

/// Options of Value and Array.
struct SharedOptions {
    /// true: a new RLock of its own (get_lock()), as Python does by default; false: none; or a
    /// Lock or RLock to share.
    LockChoice lock = true;
};

namespace detail {

template <class T>
concept lock_free_atomic = std::is_trivially_copyable_v<T> && std::atomic_ref<T>::is_always_lock_free;

template <class T>
concept atomic_arithmetic = lock_free_atomic<T> && (std::is_integral_v<T> || std::is_floating_point_v<T>) &&
                            !std::is_same_v<T, bool>;

// What Value and Array share: one block holding an optional lock and `count` elements of T.
// Layout (fixed; no pointers): ObjectHeader, MutexState (used when the object has its own lock),
// the element count, then the elements at `data_offset`. The header and the lock fill the first
// cache line; the elements start in the second, which CPUs fetch along with the first: under
// contention a lock handed to another process brings the value with it (a Value's locked
// increments run about half again as fast as with the value a line further).
template <class T>
class ValueStorage {
    static_assert(std::is_trivially_copyable_v<T> && !std::is_array_v<T>,
                  "mproc::Value/Array: T must be trivially copyable (it lives in shared memory and "
                  "is never constructed or destroyed there); use a Queue for other types");
    static_assert(!refers_to_memory<T>(),
                  "mproc::Value/Array: T must not hold pointers, references, spans or string_views: "
                  "they would point into one process's memory");

protected:
    struct Layout {
        ObjectHeader header;
        MutexState mutex;
        std::uint64_t count;
    };
    static_assert(std::is_trivially_copyable_v<Layout> && sizeof(Layout) == 72, "fixed layout");
    static constexpr std::size_t data_alignment = std::max<std::size_t>(alignof(T), 8);
    static constexpr std::size_t data_offset = (sizeof(Layout) + data_alignment - 1) / data_alignment * data_alignment;

    enum class LockMode : std::uint8_t { none = 0, own = 1, shared_with = 2 };

    ValueStorage() = default;

    void create(ObjectKind kind, std::size_t count, const LockChoice& lock) {
        if (count > (std::size_t{1} << 40) / (sizeof(T) ? sizeof(T) : 1))
            throw std::length_error("mproc: shared array too large");
        block_ = SharedBlock::create(kind == ObjectKind::value ? "mproc-value" : "mproc-array",
                                     data_offset + count * sizeof(T));
        init_header(block_.data(), kind, sizeof(T), alignof(T));
        layout().count = count;
        data_ = std::launder(reinterpret_cast<T*>(block_.data() + data_offset));
        size_ = count;
        if (lock.own_) {
            mutex_init(layout().mutex, true);
            lock_ = own_lock(block_);
        } else if (lock.existing_) {
            lock_ = *lock.existing_;
        }
    }

    void encode_storage(Writer& out) const {
        block_.encode(out);
        if (!lock_.state_) {
            out.write_value(LockMode::none);
        } else if (lock_.state_ == &layout().mutex) {
            out.write_value(LockMode::own);
        } else {
            out.write_value(LockMode::shared_with);
            mproc::encode(out, lock_);
        }
    }

    void decode_storage(Reader& in, ObjectKind kind, const char* what) {
        SharedBlock block = SharedBlock::decode(in, data_offset);
        check_header(block, kind, what, sizeof(T), alignof(T));
        auto* layout = std::launder(reinterpret_cast<Layout*>(block.data()));
        const std::uint64_t count = layout->count;
        if (count > (block.size_when_mapped() - data_offset) / (sizeof(T) ? sizeof(T) : 1))
            in.fail(std::string(what) + " element count exceeds its shared memory");
        const auto mode = in.read_value<LockMode>();
        if (mode == LockMode::own) {
            if (layout->mutex.recursive != 1) in.fail(std::string(what) + " has no lock of its own");
            lock_ = own_lock(block);
        } else if (mode == LockMode::shared_with) {
            lock_ = mproc::decode<AnyLock>(in);
        } else if (mode != LockMode::none) {
            in.fail("invalid lock mode");
        }
        data_ = std::launder(reinterpret_cast<T*>(block.data() + data_offset));
        size_ = static_cast<std::size_t>(count);
        block_ = std::move(block);
    }

    Layout& layout() const noexcept { return *std::launder(reinterpret_cast<Layout*>(block_.data())); }

    static AnyLock own_lock(const SharedBlock& block) {
        return AnyLock(RLock(block, &std::launder(reinterpret_cast<Layout*>(block.data()))->mutex));
    }

    bool lock_present() const noexcept { return lock_.state_ != nullptr; }

    AnyLock& lock_or_throw(const char* what) {
        if (!lock_.state_)
            throw StateError(std::string("mproc::") + what +
                             "::get_lock: this object was created without a lock ({.lock = false} or Raw" +
                             what + ")");
        return lock_;
    }

    SharedBlock block_;
    T* data_ = nullptr;
    std::size_t size_ = 0;
    AnyLock lock_{MutexHandle(SharedBlock{}, nullptr)};  // no lock when state_ is null
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Value

/// One T in shared memory, with a lock. Python: multiprocessing.Value (its .value is value()).
/// See the top of this file.
///
/// Errors: the constructors throw mproc::OSError if the shared memory cannot be made;
/// get_lock() throws mproc::StateError on an object made without a lock; acquiring the lock
/// throws mproc::OwnerDied when its holder died.
///
/// Thread safety: the handle may be used from any number of threads and processes at once. The
/// value itself is plain shared memory: as in Python, hold get_lock() around a read-modify-write,
/// or use the atomic operations (load, store, fetch_add, ...). Cost: value() is plain memory
/// access, no system call; an atomic operation is one lock-free atomic instruction.
template <class T>
class Value : public detail::ValueStorage<T> {
    using Base = detail::ValueStorage<T>;

public:
    /// T.
    using value_type = T;

    /// A value-initialized T (0 for numbers), with its own RLock. Python: Value(typecode).
    Value()
        requires std::default_initializable<T>
        : Value(T{}) {}
    /// `initial`, with the lock SharedOptions::lock says. Python: Value(typecode, initial,
    /// lock=...).
    explicit Value(const T& initial, SharedOptions options = {}) {
        this->create(detail::ObjectKind::value, 1, options.lock);
        new (this->data_) T(initial);
    }

    /// The value in shared memory. Hold get_lock() while doing read-modify-write through it.
    /// Python: v.value.
    T& value() noexcept { return *this->data_; }
    /// The value in shared memory, read-only.
    const T& value() const noexcept { return *this->data_; }

    /// The object's lock: its own RLock, or the Lock or RLock it was given.
    /// StateError if it has none. Python: get_lock().
    AnyLock& get_lock() { return this->lock_or_throw("Value"); }
    /// Whether it has a lock (false for {.lock = false} and RawValue).
    bool has_lock() const noexcept { return this->lock_present(); }

    /// @name Atomic access, without the lock (for lock-free T: the arithmetic types)
    /// Python has no counterpart: it needs the lock for these.
    /// @{

    /// Atomic access, without the lock.
    T load(std::memory_order order = std::memory_order_seq_cst) const
        requires detail::lock_free_atomic<T>
    {
        return ref().load(order);
    }
    /// Stores `desired` atomically.
    void store(const T& desired, std::memory_order order = std::memory_order_seq_cst)
        requires detail::lock_free_atomic<T>
    {
        ref().store(desired, order);
    }
    /// Stores `desired` atomically and returns the previous value.
    T exchange(const T& desired, std::memory_order order = std::memory_order_seq_cst)
        requires detail::lock_free_atomic<T>
    {
        return ref().exchange(desired, order);
    }
    /// As std::atomic's compare_exchange_strong: on failure, `expected` receives the current value.
    bool compare_exchange(T& expected, const T& desired, std::memory_order order = std::memory_order_seq_cst)
        requires detail::lock_free_atomic<T>
    {
        return ref().compare_exchange_strong(expected, desired, order);
    }
    /// Adds atomically; returns the previous value.
    T fetch_add(T operand, std::memory_order order = std::memory_order_seq_cst)
        requires detail::atomic_arithmetic<T>
    {
        return ref().fetch_add(operand, order);
    }
    /// Subtracts atomically; returns the previous value.
    T fetch_sub(T operand, std::memory_order order = std::memory_order_seq_cst)
        requires detail::atomic_arithmetic<T>
    {
        return ref().fetch_sub(operand, order);
    }

    /// @}

private:
    std::atomic_ref<T> ref() const noexcept { return std::atomic_ref<T>(*this->data_); }

    struct Decoding {};
    explicit Value(Decoding) {}
    friend struct Codec<Value<T>>;
    template <class U>
    friend class RawValue;
};

/// A Value without a lock (Python's RawValue). Errors and cost as Value's; there is no
/// get_lock(): synchronize through atomics, or a Lock of your own.
/// Thread safety: as Value's: the handle from any number of threads and processes at once; the
/// value is plain shared memory.
template <class T>
class RawValue : public Value<T> {
public:
    /// A value-initialized T. Python: RawValue(typecode).
    RawValue()
        requires std::default_initializable<T>
        : RawValue(T{}) {}
    /// Python: RawValue(typecode, initial).
    explicit RawValue(const T& initial) : Value<T>(initial, SharedOptions{.lock = false}) {}
    AnyLock& get_lock() = delete;  // a RawValue has no lock: use Value<T>

private:
    explicit RawValue(Value<T> value) : Value<T>(std::move(value)) {}
    friend struct Codec<RawValue<T>>;
};

// ---------------------------------------------------------------------------------------------
// Array

/// A fixed number of T in shared memory, with a lock: a contiguous range (begin/end, operator[],
/// span()). Python: multiprocessing.Array. See the top of this file.
///
/// Errors: the constructors throw mproc::OSError if the shared memory cannot be made; at()
/// throws std::out_of_range (Python: IndexError); get_lock() throws mproc::StateError on an
/// object made without a lock.
///
/// Thread safety: the handle may be used from any number of threads and processes at once. The
/// elements are plain shared memory: as in Python, hold get_lock() while several processes write
/// them, or give each writer its own elements. Cost: element access is plain memory access, no
/// system call and no lock.
template <class T>
class Array : public detail::ValueStorage<T> {
public:
    /// @name Container types
    /// @{

    /// The member types of a contiguous container of T, as std::vector's (iterators are T*).
    using value_type = T;
    using size_type = std::size_t;
    using difference_type = std::ptrdiff_t;
    using reference = T&;
    using const_reference = const T&;
    using iterator = T*;
    using const_iterator = const T*;

    /// @}

    /// `count` value-initialized elements (zeros for arithmetic types).
    explicit Array(std::size_t count, SharedOptions options = {})
        requires std::default_initializable<T>
    {
        this->create(detail::ObjectKind::array, count, options.lock);
        for (std::size_t i = 0; i < count; ++i) new (this->data_ + i) T();
    }
    /// The given elements. Python: Array(typecode, [values...]).
    Array(std::initializer_list<T> values, SharedOptions options = {}) { assign(values, options); }
    /// The elements of any input range (a container, a view, a generator).
    template <std::ranges::input_range R>
        requires(!std::is_integral_v<std::remove_cvref_t<R>> &&
                 !std::is_same_v<std::remove_cvref_t<R>, Array> &&
                 std::convertible_to<std::ranges::range_reference_t<R>, T>)
    explicit Array(R&& values, SharedOptions options = {}) {
        if constexpr (std::ranges::sized_range<R> && std::ranges::forward_range<R>) {
            assign(values, options);
        } else {
            std::vector<T> collected;
            for (auto&& element : values) collected.push_back(static_cast<T>(element));
            assign(collected, options);
        }
    }

    /// @name Element access, as std::span and std::vector offer it
    /// Python: len(a), a[i], iteration and slices. No bounds check except in at().
    /// @{

    /// The number of elements. Python: len(a).
    std::size_t size() const noexcept { return this->size_; }
    /// Whether size() is 0.
    bool empty() const noexcept { return this->size_ == 0; }
    /// Element i, unchecked. Python: a[i].
    T& operator[](std::size_t i) noexcept { return this->data_[i]; }
    /// Element i, unchecked.
    const T& operator[](std::size_t i) const noexcept { return this->data_[i]; }
    /// Element i; std::out_of_range past the end.
    T& at(std::size_t i) {
        if (i >= this->size_) throw std::out_of_range("mproc::Array::at: index out of range");
        return this->data_[i];
    }
    /// Element i; std::out_of_range past the end.
    const T& at(std::size_t i) const {
        if (i >= this->size_) throw std::out_of_range("mproc::Array::at: index out of range");
        return this->data_[i];
    }
    /// The first element. Python: a.get_obj() comes closest.
    T* data() noexcept { return this->data_; }
    /// The first element.
    const T* data() const noexcept { return this->data_; }
    /// The first element.
    iterator begin() noexcept { return this->data_; }
    /// Past the last element.
    iterator end() noexcept { return this->data_ + this->size_; }
    /// The first element.
    const_iterator begin() const noexcept { return this->data_; }
    /// Past the last element.
    const_iterator end() const noexcept { return this->data_ + this->size_; }
    /// All the elements. Python: a[:] without the copy.
    std::span<T> span() noexcept { return {this->data_, this->size_}; }
    /// All the elements, read-only.
    std::span<const T> span() const noexcept { return {this->data_, this->size_}; }
    /// span().
    operator std::span<T>() noexcept { return span(); }
    /// span().
    operator std::span<const T>() const noexcept { return span(); }

    /// @}

    /// The object's lock: its own RLock, or the Lock or RLock it was given.
    /// StateError if it has none. Python: get_lock().
    AnyLock& get_lock() { return this->lock_or_throw("Array"); }
    /// Whether it has a lock (false for {.lock = false} and RawArray).
    bool has_lock() const noexcept { return this->lock_present(); }

private:
    template <class Range>
    void assign(const Range& values, const SharedOptions& options) {
        this->create(detail::ObjectKind::array, static_cast<std::size_t>(std::ranges::distance(values)), options.lock);
        std::size_t i = 0;
        for (auto&& element : values) new (this->data_ + i++) T(static_cast<T>(element));
    }

    struct Decoding {};
    explicit Array(Decoding) {}
    friend struct Codec<Array<T>>;
    template <class U>
    friend class RawArray;
};

/// An Array without a lock (Python's RawArray). Errors and cost as Array's; there is no
/// get_lock().
/// Thread safety: as Array's: the handle from any number of threads and processes at once; the
/// elements are plain shared memory.
template <class T>
class RawArray : public Array<T> {
public:
    /// `count` value-initialized elements. Python: RawArray(typecode, count).
    explicit RawArray(std::size_t count)
        requires std::default_initializable<T>
        : Array<T>(count, SharedOptions{.lock = false}) {}
    /// The given elements. Python: RawArray(typecode, [values...]).
    RawArray(std::initializer_list<T> values) : Array<T>(values, SharedOptions{.lock = false}) {}
    /// The elements of any input range.
    template <std::ranges::input_range R>
        requires(!std::is_integral_v<std::remove_cvref_t<R>> &&
                 !std::is_same_v<std::remove_cvref_t<R>, RawArray> &&
                 std::convertible_to<std::ranges::range_reference_t<R>, T>)
    explicit RawArray(R&& values) : Array<T>(std::forward<R>(values), SharedOptions{.lock = false}) {}
    AnyLock& get_lock() = delete;  // a RawArray has no lock: use Array<T>

private:
    explicit RawArray(Array<T> array) : Array<T>(std::move(array)) {}
    friend struct Codec<RawArray<T>>;
};

// ---------------------------------------------------------------------------------------------
// How they travel: the block as a descriptor, and how the lock is shared.

template <class T>
struct Codec<Value<T>> {
    static void encode(Writer& out, const Value<T>& value) { value.encode_storage(out); }
    static Value<T> decode(Reader& in) {
        Value<T> value{typename Value<T>::Decoding{}};
        value.decode_storage(in, detail::ObjectKind::value, "Value");
        if (value.size_ != 1) in.fail("Value must hold one element");
        return value;
    }
};

template <class T>
struct Codec<RawValue<T>> {
    static void encode(Writer& out, const RawValue<T>& value) { Codec<Value<T>>::encode(out, value); }
    static RawValue<T> decode(Reader& in) {
        Value<T> value = Codec<Value<T>>::decode(in);
        if (value.has_lock()) in.fail("a Value with a lock cannot be received as a RawValue");
        return RawValue<T>(std::move(value));
    }
};

template <class T>
struct Codec<Array<T>> {
    static void encode(Writer& out, const Array<T>& array) { array.encode_storage(out); }
    static Array<T> decode(Reader& in) {
        Array<T> array{typename Array<T>::Decoding{}};
        array.decode_storage(in, detail::ObjectKind::array, "Array");
        return array;
    }
};

template <class T>
struct Codec<RawArray<T>> {
    static void encode(Writer& out, const RawArray<T>& array) { Codec<Array<T>>::encode(out, array); }
    static RawArray<T> decode(Reader& in) {
        Array<T> array = Codec<Array<T>>::decode(in);
        if (array.has_lock()) in.fail("an Array with a lock cannot be received as a RawArray");
        return RawArray<T>(std::move(array));
    }
};

}  // namespace mproc
