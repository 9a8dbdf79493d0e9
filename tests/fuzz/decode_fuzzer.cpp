// libFuzzer target for mproc's decoder: the first byte of the input picks a type, the rest is fed
// to mproc::deserialize as that type. The types together reach every decoder path: memcpy'd
// values, checked bools, strings, vectors (as one block and element by element), deque, list,
// forward_list, ordered and unordered containers, pair, tuple, optional, variant, empty types,
// std::array, a Codec specialization, user types through cereal with cereal's std types, and
// mproc::partial. One more selector feeds the input to the decoder of a task's reply, which
// rebuilds exceptions thrown in a worker (every mproc error with its fields, the standard ones,
// RemoteError).
//
// Decoding may succeed or throw mproc::SerializationError; anything else (another exception, a
// crash, a sanitizer report, a hang, a huge allocation) is a bug. A decoded value must be whole
// (it is compared with a copy of itself, which reads all of it) and must encode again and decode
// back: a value the decoder accepts is one the encoder can send. The same holds for a decoded
// exception: encoded again as a worker would, it decodes to the same type and what().
//
// Build with Clang and -DMPROC_BUILD_FUZZERS=ON; run as
//   build/tests/fuzz/mproc_fuzz_decode -max_total_time=60 CORPUS_DIR tests/fuzz/corpus
// `mproc_fuzz_decode --write-seeds=DIR` writes a valid encoding of each type into DIR (that is
// how tests/fuzz/corpus was made).
#include <mproc/detail/task.hpp>
#include <mproc/errors.hpp>
#include <mproc/partial.hpp>
#include <mproc/serialize.hpp>

#include "seeds.hpp"

#include <bitset>
#include <chrono>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <forward_list>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

namespace {

enum class Shade : std::uint8_t { light, dark };

struct Reading {  // trivially copyable: memcpy'd
    std::int32_t sensor;
    float value;
    Shade shade;
    bool operator==(const Reading&) const = default;
};

// A user type with a member serialize, through cereal's std types.
struct Record {
    std::string name;
    std::vector<int> numbers;
    std::vector<bool> bits;
    std::vector<std::string> words;
    std::map<std::string, std::vector<double>> series;
    std::unordered_map<int, std::string> index;
    std::set<std::int16_t> keys;
    std::deque<char> queue;
    std::list<std::pair<int, bool>> pairs;
    std::forward_list<std::uint8_t> chain;
    std::optional<std::string> comment;
    std::variant<std::monostate, int, std::string> tag;
    std::tuple<int, std::string, bool> header;
    std::array<bool, 3> flags{};
    std::array<std::string, 2> labels;
    std::bitset<12> mask;
    std::chrono::seconds age{0};
    std::complex<float> phase;
    Shade shade = Shade::light;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(name, numbers, bits, words, series, index, keys, queue, pairs, chain, comment, tag,
                header, flags, labels, mask, age, phase, shade);
    }
    bool operator==(const Record&) const = default;
};

// A user type with free save and load.
struct Measure {
    std::string unit;
    double amount = 0;
    bool operator==(const Measure&) const = default;
};
template <class Archive>
void save(Archive& archive, const Measure& measure) {
    archive(measure.unit, measure.amount);
}
template <class Archive>
void load(Archive& archive, Measure& measure) {
    archive(measure.unit, measure.amount);
}

// Travels through a Codec, like mproc's shared objects: a small key, checked on decode.
struct Handle {
    std::uint16_t key = 0;
    bool operator==(const Handle&) const = default;
};

}  // namespace

template <>
struct mproc::Codec<Handle> {
    static void encode(Writer& out, const Handle& handle) { out.write_value(handle.key); }
    static Handle decode(Reader& in) {
        const auto key = in.read_value<std::uint16_t>();
        if (key >= 1000) in.fail("no such handle");
        return Handle{key};
    }
};

namespace {

using Nested = std::map<std::string, std::vector<std::optional<std::pair<int, std::string>>>>;
using Sequences =
    std::tuple<std::deque<double>, std::list<std::string>, std::forward_list<std::int16_t>>;
using Associative = std::tuple<std::set<int>, std::multiset<std::string>,
                               std::multimap<int, std::string>, std::unordered_set<std::string>,
                               std::unordered_multimap<int, int>, std::unordered_multiset<char>>;
using Alternatives = std::variant<std::monostate, int, std::string, std::vector<std::tuple<>>, bool,
                                  Reading, std::optional<float>>;
using Arrays =
    std::tuple<std::array<int, 3>, std::array<bool, 4>, std::array<std::optional<bool>, 2>,
               std::array<std::string, 2>, std::array<Alternatives, 1>>;
using Empties = std::vector<std::vector<std::monostate>>;
using Scalars = std::tuple<Reading, bool, Shade, std::pair<char, std::u16string>, std::tuple<>,
                           std::optional<std::uint64_t>>;
using Handles = std::pair<std::vector<Handle>, std::optional<Handle>>;
using Users = std::tuple<Record, Measure, std::vector<Measure>>;

template <class T>
void decode_as(std::span<const std::byte> bytes) {
    T value;
    try {
        value = mproc::deserialize<T>(bytes);
    } catch (const mproc::SerializationError&) {
        return;
    }
    // Accepted input: comparing the value with a copy of itself reads all of it (a variant with
    // a bad index or a bool that is neither 0 nor 1 would be caught by the sanitizers here)...
    const T copy = value;
    static_cast<void>(copy == value);
    // ...and the value must travel again.
    const auto again = mproc::serialize(value);
    try {
        static_cast<void>(mproc::deserialize<T>(again));
    } catch (const mproc::SerializationError& error) {
        std::fprintf(stderr, "a decoded value does not decode again: %s\n", error.what());
        std::abort();
    }
}

// Partials of a function (sent as a code offset) and of a stateless function object.
int scaled(double factor, const std::string& unit, int x) { return static_cast<int>(factor * x) + static_cast<int>(unit.size()); }
struct Weigh {
    int operator()(const std::vector<int>& weights, int x) const { return x * static_cast<int>(weights.size()); }
};
auto make_partials(double factor, std::string unit, std::vector<int> weights) {
    return std::tuple(mproc::partial(mproc::partial(scaled, factor), std::move(unit)),
                      mproc::partial(Weigh{}, std::move(weights)));
}
using Partials = decltype(make_partials(0, {}, {}));

void decode_partials(std::span<const std::byte> bytes) {
    std::optional<Partials> value;
    try {
        value.emplace(mproc::deserialize<Partials>(bytes));
    } catch (const mproc::SerializationError&) {
        return;
    }
    // Read all of it. (The function a code offset resolved to is not called: an offset is trusted
    // to name a function of the right type, as every process runs the same binary.)
    auto& [first, second] = *value;
    static_cast<void>(first.args() == first.args() && first.func().args() == first.func().args());
    static_cast<void>(second(1));
    const auto again = mproc::serialize(*value);
    try {
        static_cast<void>(mproc::deserialize<Partials>(again));
    } catch (const mproc::SerializationError& error) {
        std::fprintf(stderr, "decoded partials do not decode again: %s\n", error.what());
        std::abort();
    }
}

// An exception reply, as a worker writes it (see detail/task.hpp).
std::exception_ptr decode_exception(std::span<const std::byte> bytes) {
    mproc::Reader in(bytes);
    try {
        mproc::detail::unpack_reply<int>(in);
    } catch (const mproc::SerializationError&) {
        return nullptr;  // corrupt, or a SerializationError that was sent: both fine
    } catch (...) {
        return std::current_exception();
    }
    return nullptr;  // a value reply
}

std::string describe(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return std::string(typeid(e).name()) + ": " + e.what();
    } catch (...) {
        std::fprintf(stderr, "the reply decoder threw something that is not a std::exception\n");
        std::abort();
    }
}

void decode_exception_reply(std::span<const std::byte> bytes) {
    const auto error = decode_exception(bytes);
    if (!error) return;
    std::vector<std::byte> again;
    mproc::Writer out(again);
    try {
        std::rethrow_exception(error);
    } catch (...) {
        mproc::detail::encode_current_exception(out);
    }
    const auto rebuilt = decode_exception(again);
    if (!rebuilt || describe(rebuilt) != describe(error)) {
        std::fprintf(stderr, "a decoded exception does not travel again: %s\n", describe(error).c_str());
        std::abort();
    }
}

using Decoder = void (*)(std::span<const std::byte>);
constexpr Decoder decoders[] = {
    decode_as<std::string>,
    decode_as<std::vector<int>>,
    decode_as<std::vector<bool>>,
    decode_as<std::vector<std::string>>,
    decode_as<Nested>,
    decode_as<Sequences>,
    decode_as<Associative>,
    decode_as<Alternatives>,
    decode_as<Arrays>,
    decode_as<Empties>,
    decode_as<Scalars>,
    decode_as<Handles>,
    decode_as<Record>,
    decode_as<Users>,
    decode_as<std::vector<Record>>,
    decode_as<std::optional<std::variant<Measure, std::vector<std::optional<Record>>>>>,
    decode_partials,
    decode_exception_reply,
};
constexpr std::uint8_t partial_selector = 16;
constexpr std::uint8_t exception_selector = 17;
constexpr std::size_t decoder_count = sizeof(decoders) / sizeof(decoders[0]);

// One valid encoding per decoder, prefixed with the decoder's byte.
std::vector<std::vector<std::byte>> seed_inputs() {
    Record record;
    record.name = std::string("rec\0ord", 7);
    record.numbers = {1, -2, 3};
    record.bits = {true, false, true};
    record.words = {"", "a", "bc"};
    record.series = {{"x", {1.5, 2.5}}, {"", {}}};
    record.index = {{1, "one"}, {2, "two"}};
    record.keys = {-1, 7};
    record.queue = {'q', '\0'};
    record.pairs = {{1, true}, {2, false}};
    record.chain = {9, 8};
    record.comment = "note";
    record.tag = std::string("tag");
    record.header = {4, "four", true};
    record.flags = {true, false, true};
    record.labels = {"l", "m"};
    record.mask = std::bitset<12>(0xABC);
    record.age = std::chrono::seconds(42);
    record.phase = {1.0f, -1.0f};
    record.shade = Shade::dark;
    const Measure measure{"kg", 2.5};
    const Reading reading{3, 0.5f, Shade::dark};

    std::vector<std::vector<std::byte>> seeds;
    auto add = [&](std::uint8_t selector, const auto& value) {
        std::vector<std::byte> input{std::byte{selector}};
        const auto bytes = mproc::serialize(value);
        input.insert(input.end(), bytes.begin(), bytes.end());
        seeds.push_back(std::move(input));
    };
    add(0, std::string("hello\0world", 11));
    add(1, std::vector<int>{1, 2, 3, 4});
    add(2, std::vector<bool>{true, false, false, true, true});
    add(3, std::vector<std::string>{"alpha", "", "gamma"});
    add(4, Nested{{"k", {std::nullopt, std::pair<int, std::string>{1, "v"}}}, {"", {}}});
    add(5, Sequences{{1.0, 2.0}, {"a", "b"}, {5, 6, 7}});
    add(6,
        Associative{{1, 2}, {"x", "x"}, {{1, "a"}, {1, "b"}}, {"s"}, {{1, 1}, {1, 2}}, {'c', 'c'}});
    add(7, Alternatives(std::vector<std::tuple<>>(5)));
    add(7, Alternatives(reading));
    add(8, Arrays{{1, 2, 3},
                  {true, false, true, false},
                  {true, std::nullopt},
                  {"p", "q"},
                  {Alternatives(9)}});
    add(9, Empties{{{}, {}}, {}, {{}}});
    add(10, Scalars{reading, true, Shade::light, {'c', u"wide"}, {}, 77u});
    add(11, Handles{{Handle{1}, Handle{999}}, Handle{5}});
    add(12, record);
    add(13, Users{record, measure, {measure, measure}});
    add(14, std::vector<Record>{record, Record{}});
    add(15, std::optional<std::variant<Measure, std::vector<std::optional<Record>>>>(
                std::vector<std::optional<Record>>{record, std::nullopt}));
    add(partial_selector, make_partials(2.5, "kg", {1, 2, 3}));
    // Replies carrying each exception a worker can send back, as the worker encodes them.
    const std::exception_ptr errors[] = {
        std::make_exception_ptr(std::runtime_error("runtime")),
        std::make_exception_ptr(std::bad_alloc()),
        std::make_exception_ptr(mproc::OSError("open", 2)),
        std::make_exception_ptr(mproc::WorkerCrashed(12, -9, 3)),
        std::make_exception_ptr(mproc::WorkerCrashed(12, 1, std::nullopt)),
        std::make_exception_ptr(mproc::RemoteError("Type", "message", 34)),
        std::make_exception_ptr(mproc::Full("full")),
        std::make_exception_ptr(mproc::BrokenBarrierError("broken")),
        std::make_exception_ptr(mproc::BufferTooShort("short", {std::byte{7}, std::byte{8}})),
        std::make_exception_ptr(mproc::AuthenticationError("wrong key")),
        std::make_exception_ptr(42),
    };
    for (const auto& error : errors) {
        std::vector<std::byte> input{std::byte{exception_selector}};
        mproc::Writer out(input);
        try {
            std::rethrow_exception(error);
        } catch (...) {
            mproc::detail::encode_current_exception(out);
        }
        seeds.push_back(std::move(input));
    }
    return seeds;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
    mproc::fuzz::write_seeds_if_asked(*argc, *argv, seed_inputs(), "type");
    // Every seed must decode: a seed that does not is a bug in the encoder or the decoder.
    for (const auto& seed : seed_inputs())
        decoders[static_cast<std::size_t>(seed[0]) % decoder_count](std::span(seed).subspan(1));
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    mproc::fuzz::feed(decoders, data, size);
    return 0;
}
