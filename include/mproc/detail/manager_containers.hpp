// What a Manager's server holds behind DictProxy, ListProxy (and ArrayProxy), ValueProxy and
// QueueProxy (internal to mproc): plain containers, one call at a time on each (serialized), so
// that every method is atomic; and a queue, whose calls block.
#pragma once

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <condition_variable>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <mproc/detail/manager_served.hpp>

namespace mproc::detail::manager {

template <class K, class V>
struct DictObject {
    using Init = std::map<K, V>;
    static constexpr bool serialized = true;
    std::map<K, V> items;

    explicit DictObject(Init init) : items(std::move(init)) {}

    V getitem(const K& key) {
        const auto found = items.find(key);
        if (found == items.end()) throw std::out_of_range("mproc: KeyError: the manager's dict has no such key");
        return found->second;
    }
    void setitem(const K& key, const V& value) { items.insert_or_assign(key, value); }
    void delitem(const K& key) {
        if (items.erase(key) == 0) throw std::out_of_range("mproc: KeyError: the manager's dict has no such key");
    }
    std::optional<V> get(const K& key) {
        const auto found = items.find(key);
        if (found == items.end()) return std::nullopt;
        return found->second;
    }
    std::optional<V> pop(const K& key) {
        const auto found = items.find(key);
        if (found == items.end()) return std::nullopt;
        V value = std::move(found->second);
        items.erase(found);
        return value;
    }
    std::pair<K, V> popitem() {
        if (items.empty()) throw std::out_of_range("mproc: KeyError: popitem(): the manager's dict is empty");
        auto last = std::prev(items.end());
        std::pair<K, V> item(last->first, std::move(last->second));
        items.erase(last);
        return item;
    }
    V setdefault(const K& key, const V& value) { return items.try_emplace(key, value).first->second; }
    bool contains(const K& key) { return items.contains(key); }
    std::uint64_t len() { return items.size(); }
    std::vector<K> keys() {
        std::vector<K> out;
        for (const auto& item : items) out.push_back(item.first);
        return out;
    }
    std::vector<V> values() {
        std::vector<V> out;
        for (const auto& item : items) out.push_back(item.second);
        return out;
    }
    std::map<K, V> copy() { return items; }
    void update(const std::map<K, V>& other) {
        for (const auto& [key, value] : other) items.insert_or_assign(key, value);
    }
    void clear() { items.clear(); }

    static void describe(MethodTable<DictObject>& t) {
        t.add("__getitem__", &DictObject::getitem);
        t.add("__setitem__", &DictObject::setitem);
        t.add("__delitem__", &DictObject::delitem);
        t.add("__contains__", &DictObject::contains);
        t.add("__len__", &DictObject::len);
        t.add("get", &DictObject::get);
        t.add("pop", &DictObject::pop);
        t.add("popitem", &DictObject::popitem);
        t.add("setdefault", &DictObject::setdefault);
        t.add("keys", &DictObject::keys);
        t.add("values", &DictObject::values);
        t.add("copy", &DictObject::copy);
        t.add("update", &DictObject::update);
        t.add("clear", &DictObject::clear);
    }
};

template <class T>
struct ListObject {
    using Init = std::vector<T>;
    static constexpr bool serialized = true;
    std::vector<T> items;

    explicit ListObject(Init init) : items(std::move(init)) {}

    // Python's index: negative counts from the end; IndexError (std::out_of_range) outside.
    std::size_t position(std::int64_t index) const {
        const auto size = static_cast<std::int64_t>(items.size());
        const std::int64_t at = index < 0 ? index + size : index;
        if (at < 0 || at >= size) throw std::out_of_range("mproc: IndexError: list index out of range");
        return static_cast<std::size_t>(at);
    }
    T getitem(std::int64_t index) { return items[position(index)]; }
    void setitem(std::int64_t index, const T& value) { items[position(index)] = value; }
    void delitem(std::int64_t index) { items.erase(items.begin() + static_cast<std::ptrdiff_t>(position(index))); }
    void append(const T& value) { items.push_back(value); }
    void extend(const std::vector<T>& values) { items.insert(items.end(), values.begin(), values.end()); }
    void insert(std::int64_t index, const T& value) {
        // Python's insert clamps the index.
        const auto size = static_cast<std::int64_t>(items.size());
        std::int64_t at = index < 0 ? index + size : index;
        at = std::clamp<std::int64_t>(at, 0, size);
        items.insert(items.begin() + static_cast<std::ptrdiff_t>(at), value);
    }
    T pop(std::int64_t index) {
        if (items.empty()) throw std::out_of_range("mproc: IndexError: pop from empty list");
        const std::size_t at = position(index);
        T value = std::move(items[at]);
        items.erase(items.begin() + static_cast<std::ptrdiff_t>(at));
        return value;
    }
    std::uint64_t len() { return items.size(); }
    std::vector<T> copy() { return items; }
    void reverse() { std::reverse(items.begin(), items.end()); }
    void clear() { items.clear(); }
    std::uint64_t count(const T& value) { return static_cast<std::uint64_t>(std::count(items.begin(), items.end(), value)); }
    std::uint64_t index(const T& value) {
        const auto found = std::find(items.begin(), items.end(), value);
        if (found == items.end()) throw std::invalid_argument("mproc: ValueError: value is not in the list");
        return static_cast<std::uint64_t>(found - items.begin());
    }
    void remove(const T& value) { items.erase(items.begin() + static_cast<std::ptrdiff_t>(index(value))); }
    void sort() { std::sort(items.begin(), items.end()); }

    static void describe(MethodTable<ListObject>& t) {
        t.add("__getitem__", &ListObject::getitem);
        t.add("__setitem__", &ListObject::setitem);
        t.add("__delitem__", &ListObject::delitem);
        t.add("__len__", &ListObject::len);
        t.add("append", &ListObject::append);
        t.add("extend", &ListObject::extend);
        t.add("insert", &ListObject::insert);
        t.add("pop", &ListObject::pop);
        t.add("copy", &ListObject::copy);
        t.add("reverse", &ListObject::reverse);
        t.add("clear", &ListObject::clear);
        if constexpr (std::equality_comparable<T>) {
            t.add("count", &ListObject::count);
            t.add("index", &ListObject::index);
            t.add("remove", &ListObject::remove);
        }
        if constexpr (std::totally_ordered<T>) t.add("sort", &ListObject::sort);
    }
};

template <class T>
struct ValueObject {
    using Init = T;
    static constexpr bool serialized = true;
    T value;

    explicit ValueObject(Init init) : value(std::move(init)) {}
    T get() { return value; }
    void set(const T& v) { value = v; }

    static void describe(MethodTable<ValueObject>& t) {
        t.add("get", &ValueObject::get);
        t.add("set", &ValueObject::set);
    }
};

// Python's queue.Queue, which both manager.Queue() and manager.JoinableQueue() are at the server.
// Its calls block in the server thread of the caller's connection.
template <class T>
struct QueueObject {
    using Init = std::int64_t;  // maxsize; 0 or less: unbounded
    static constexpr bool serialized = false;
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<T> items;
    std::int64_t maxsize;
    std::int64_t unfinished = 0;

    explicit QueueObject(Init max) : maxsize(max) {}
    bool is_full() const { return maxsize > 0 && static_cast<std::int64_t>(items.size()) >= maxsize; }
    void put(const Caller& caller, const T& item, bool block, std::optional<double> timeout) {
        std::unique_lock lock(mutex);
        if (!wait_for_caller(caller, changed, lock, deadline_after(block ? timeout : std::optional(0.0)),
                             [&] { return !is_full(); }))
            throw Full("mproc: the manager's queue is full");
        items.push_back(item);
        ++unfinished;
        changed.notify_all();
    }
    T get(const Caller& caller, bool block, std::optional<double> timeout) {
        std::unique_lock lock(mutex);
        if (!wait_for_caller(caller, changed, lock, deadline_after(block ? timeout : std::optional(0.0)),
                             [&] { return !items.empty(); }))
            throw Empty("mproc: the manager's queue is empty");
        T item = std::move(items.front());
        items.pop_front();
        changed.notify_all();
        return item;
    }
    std::uint64_t qsize() {
        std::lock_guard lock(mutex);
        return items.size();
    }
    bool full() {
        std::lock_guard lock(mutex);
        return is_full();
    }
    void task_done() {
        std::lock_guard lock(mutex);
        if (unfinished <= 0) throw StateError("mproc: task_done() called too many times");
        if (--unfinished == 0) changed.notify_all();
    }
    void join(const Caller& caller) {
        std::unique_lock lock(mutex);
        (void)wait_for_caller(caller, changed, lock, std::nullopt, [&] { return unfinished == 0; });
    }

    static void describe(MethodTable<QueueObject>& t) {
        t.add("put", &QueueObject::put);
        t.add("get", &QueueObject::get);
        t.add("qsize", &QueueObject::qsize);
        t.add("full", &QueueObject::full);
        t.add("task_done", &QueueObject::task_done);
        t.add("join", &QueueObject::join);
    }
};

}  // namespace mproc::detail::manager
