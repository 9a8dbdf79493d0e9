// Tests for mproc/serialize.hpp: what can cross a process boundary, how it is encoded, and what
// the decoder does with truncated or corrupt input.
//
// Round trips are randomized (seeded std::mt19937, random sizes including 0) per family of types.
// The corruption tests run under AddressSanitizer and UndefinedBehaviorSanitizer in the sanitizer
// build: that is what checks that decoding never reads past its input and never builds an object
// that breaks its own invariants (a bool that is neither 0 nor 1, a variant with a bad index).
#include <mproc/serialize.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <bitset>
#include <chrono>
#include <complex>
#include <cstdint>
#include <cstring>
#include <deque>
#include <forward_list>
#include <functional>
#include <limits>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace {

using Bytes = std::vector<std::byte>;

template <class T, template <class...> class Template>
inline constexpr bool is_instance_of = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_instance_of<Template<Args...>, Template> = true;

template <class T>
inline constexpr bool is_std_array = false;
template <class T, std::size_t N>
inline constexpr bool is_std_array<std::array<T, N>> = true;

// Random values of (almost) any transferable type. Sizes are small and 0 comes up often, so that
// empty containers are exercised as much as full ones.
class RandomValues {
public:
    explicit RandomValues(std::uint32_t seed) : engine_(seed) {}

    std::mt19937& engine() { return engine_; }

    std::uint64_t bits() { return (std::uint64_t{engine_()} << 32) | engine_(); }

    std::size_t size(std::size_t max = 12) {
        if (engine_() % 5 == 0) return 0;
        return std::uniform_int_distribution<std::size_t>(0, max)(engine_);
    }

    bool coin() { return (engine_() & 1) != 0; }

    template <class T>
    T make() {
        if constexpr (requires { T::random(*this); }) {
            return T::random(*this);
        } else if constexpr (std::is_same_v<T, bool>) {
            return coin();
        } else if constexpr (std::is_enum_v<T>) {
            // Every enum used here has at least four valid values.
            return static_cast<T>(engine_() % 4);
        } else if constexpr (std::is_integral_v<T>) {
            return static_cast<T>(bits());
        } else if constexpr (std::is_floating_point_v<T>) {
            switch (engine_() % 8) {
                case 0:
                    return T{0};
                case 1:
                    return -T{0};
                case 2:
                    return std::numeric_limits<T>::infinity();
                case 3:
                    return std::numeric_limits<T>::denorm_min();
                default:
                    return std::uniform_real_distribution<T>(-1e6, 1e6)(engine_);
            }
        } else if constexpr (std::is_same_v<T, std::monostate> || std::is_same_v<T, std::tuple<>>) {
            return T{};
        } else if constexpr (is_instance_of<T, std::basic_string>) {
            T out;
            const std::size_t length = size(40);
            for (std::size_t i = 0; i < length; ++i)
                // Embedded NULs are frequent on purpose.
                out.push_back(engine_() % 4 == 0 ? typename T::value_type{}
                                                 : make<typename T::value_type>());
            return out;
        } else if constexpr (is_std_array<T>) {
            T out{};
            for (auto& element : out) element = make<typename T::value_type>();
            return out;
        } else if constexpr (is_instance_of<T, std::vector> || is_instance_of<T, std::deque> ||
                             is_instance_of<T, std::list>) {
            T out;
            const std::size_t length = size();
            for (std::size_t i = 0; i < length; ++i) out.push_back(make<typename T::value_type>());
            return out;
        } else if constexpr (is_instance_of<T, std::forward_list>) {
            T out;
            const std::size_t length = size();
            for (std::size_t i = 0; i < length; ++i) out.push_front(make<typename T::value_type>());
            return out;
        } else if constexpr (requires { typename T::key_type; }) {
            T out;
            const std::size_t length = size();
            for (std::size_t i = 0; i < length; ++i) {
                if constexpr (requires { typename T::mapped_type; })
                    out.insert(make<std::pair<typename T::key_type, typename T::mapped_type>>());
                else
                    out.insert(make<typename T::key_type>());
                // Repeat some elements so that multisets and multimaps hold duplicates.
                if (engine_() % 3 == 0 && !out.empty()) out.insert(*out.begin());
            }
            return out;
        } else if constexpr (is_instance_of<T, std::pair>) {
            auto first = make<typename T::first_type>();
            return T{std::move(first), make<typename T::second_type>()};
        } else if constexpr (is_instance_of<T, std::tuple>) {
            return make_tuple<T>(std::make_index_sequence<std::tuple_size_v<T>>{});
        } else if constexpr (is_instance_of<T, std::optional>) {
            if (coin()) return std::nullopt;
            return make<typename T::value_type>();
        } else if constexpr (is_instance_of<T, std::variant>) {
            return make_alternative<T>(engine_() % std::variant_size_v<T>);
        } else {
            static_assert(sizeof(T) == 0, "RandomValues cannot make this type");
        }
    }

    // A variant holding a random value of alternative `index`.
    template <class Variant>
    Variant make_alternative(std::size_t index) {
        return make_alternative_impl<Variant>(
            index, std::make_index_sequence<std::variant_size_v<Variant>>{});
    }

private:
    template <class Tuple, std::size_t... I>
    Tuple make_tuple(std::index_sequence<I...>) {
        return Tuple{make<std::tuple_element_t<I, Tuple>>()...};  // braces: left to right
    }

    template <class Variant, std::size_t... I>
    Variant make_alternative_impl(std::size_t index, std::index_sequence<I...>) {
        Variant out;
        ((I == index ? void(out.template emplace<I>(make<std::variant_alternative_t<I, Variant>>()))
                     : void()),
         ...);
        return out;
    }

    std::mt19937 engine_;
};

// ---------------------------------------------------------------------------------------------
// Types used by the tests.

enum class Color : std::uint8_t { red, green, blue, alpha };
enum Direction { north, east, south, west };  // unscoped, no fixed underlying type
enum Priority : std::int64_t { low = -1, normal = 0, high = 1, urgent = 1ll << 40 };

// Trivially copyable, no padding: its encoding is exactly its object representation.
struct Sample {
    std::int32_t id = 0;
    float value = 0;
    std::uint64_t timestamp = 0;

    static Sample random(RandomValues& random) {
        return {static_cast<std::int32_t>(random.bits()), random.make<float>(), random.bits()};
    }
    bool operator==(const Sample&) const = default;
};
static_assert(std::is_trivially_copyable_v<Sample> && sizeof(Sample) == 16);

// Trivially copyable with padding; compared member by member.
struct Pixel {
    std::int16_t x = 0;
    Color color = Color::red;
    double brightness = 0;

    static Pixel random(RandomValues& random) {
        return {random.make<std::int16_t>(), random.make<Color>(), random.make<double>()};
    }
    bool operator==(const Pixel&) const = default;
};

// A user type with a member cereal serialize function.
struct Particle {
    std::string name;
    std::vector<double> position;
    int charge = 0;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(name, position, charge);
    }
    static Particle random(RandomValues& random) {
        return {random.make<std::string>(), random.make<std::vector<double>>(), random.make<int>()};
    }
    bool operator==(const Particle&) const = default;
};

// A user type with free cereal save and load functions.
struct Temperature {
    std::string unit;
    double degrees = 0;

    static Temperature random(RandomValues& random) {
        return {random.make<std::string>(), random.make<double>()};
    }
    bool operator==(const Temperature&) const = default;
};
template <class Archive>
void save(Archive& archive, const Temperature& temperature) {
    archive(temperature.unit, temperature.degrees);
}
template <class Archive>
void load(Archive& archive, Temperature& temperature) {
    archive(temperature.unit, temperature.degrees);
}

// A user type made of standard containers, encoded through cereal's own std types.
struct Catalogue {
    std::map<std::string, std::vector<int>> shelves;
    std::set<std::string> tags;
    std::unordered_map<int, std::string> index;
    std::deque<float> weights;
    std::list<std::pair<int, std::string>> notes;
    std::forward_list<std::int16_t> codes;
    std::optional<std::string> comment;
    std::variant<int, std::string, std::vector<bool>> label;
    std::tuple<int, std::string, bool> header;
    std::array<bool, 5> flags{};
    std::bitset<70> mask;
    std::chrono::milliseconds age{0};
    std::complex<double> phase;
    std::vector<Particle> particles;

    template <class Archive>
    void serialize(Archive& archive) {
        archive(shelves, tags, index, weights, notes, codes, comment, label, header, flags, mask,
                age, phase, particles);
    }
    static Catalogue random(RandomValues& random) {
        Catalogue out;
        out.shelves = random.make<decltype(shelves)>();
        out.tags = random.make<decltype(tags)>();
        out.index = random.make<decltype(index)>();
        out.weights = random.make<decltype(weights)>();
        out.notes = random.make<decltype(notes)>();
        out.codes = random.make<decltype(codes)>();
        out.comment = random.make<decltype(comment)>();
        out.label = random.make<decltype(label)>();
        out.header = random.make<decltype(header)>();
        out.flags = random.make<decltype(flags)>();
        out.mask = std::bitset<70>(random.bits()) << 6;
        out.age = std::chrono::milliseconds(random.make<std::int32_t>());
        out.phase = {random.make<double>(), random.make<double>()};
        out.particles = random.make<decltype(particles)>();
        return out;
    }
    bool operator==(const Catalogue&) const = default;
};

// Stands for one of mproc's shared objects: a handle that is only meaningful in this process
// (it holds a pointer) and travels as a key, through a Codec specialization. It is trivially
// copyable, so the test also shows that a Codec takes precedence over memcpy.
std::map<std::uint32_t, std::string>& registry() {
    static std::map<std::uint32_t, std::string> entries{{1, "one"}, {2, "two"}, {3, "three"}};
    return entries;
}
struct RegistryHandle {
    std::uint32_t key;
    const std::string* entry;

    explicit RegistryHandle(std::uint32_t k) : key(k), entry(&registry().at(k)) {}
    bool operator==(const RegistryHandle&) const = default;
};

// Holds a std::string but has no serialize function: cannot travel.
struct NamedButNotSerializable {
    std::string name;
    int count = 0;
};

// Holds a std::function: cannot travel.
struct WithCallback {
    std::function<void()> callback;
};

// Encodes more than it decodes: a layout disagreement that the cereal length prefix catches.
// (The string only keeps it from being trivially copyable, which would bypass cereal.)
struct LopsidedSaveLoad {
    int value = 0;
    std::string unused;
    template <class Archive>
    void save(Archive& archive) const {
        archive(value, std::string("extra"));
    }
    template <class Archive>
    void load(Archive& archive) {
        archive(value);
    }
};

struct HoldsBitset {
    std::bitset<8> bits;
    ~HoldsBitset() {}  // not trivially copyable, so that it goes through cereal
    template <class Archive>
    void serialize(Archive& archive) {
        archive(bits);
    }
};

}  // namespace

namespace mproc {
template <>
struct Codec<RegistryHandle> {
    static void encode(Writer& out, const RegistryHandle& handle) { out.write_value(handle.key); }
    static RegistryHandle decode(Reader& in) {
        const auto key = in.read_value<std::uint32_t>();
        if (!registry().contains(key)) in.fail("unknown registry key");
        return RegistryHandle(key);
    }
};
}  // namespace mproc

namespace {

// ---------------------------------------------------------------------------------------------
// Helpers.

template <class T>
T round_trip(const T& value) {
    const Bytes bytes = mproc::serialize(value);
    return mproc::deserialize<T>(bytes);
}

// The 8-byte length that starts an encoded string or container.
std::uint64_t length_prefix(const Bytes& bytes) {
    std::uint64_t length = 0;
    std::memcpy(&length, bytes.data(), sizeof(length));
    return length;
}

// Encodes `iterations` random values of T and checks that each decodes to an equal value.
template <class T>
void expect_random_round_trips(std::uint32_t seed, int iterations = 300) {
    RandomValues random(seed);
    for (int i = 0; i < iterations; ++i) {
        const T value = random.make<T>();
        const Bytes bytes = mproc::serialize(value);
        const T decoded = mproc::deserialize<T>(bytes);
        ASSERT_TRUE(decoded == value) << "iteration " << i << " of seed " << seed;
        // Unordered containers may iterate in another order, but the size is the same.
        ASSERT_EQ(mproc::serialize(decoded).size(), bytes.size());
    }
}

// One encoded value and a way to decode it as its own type, so that the corruption tests can
// treat values of many types alike.
struct EncodedCase {
    std::string name;
    Bytes bytes;
    // Decodes and, on success, compares the result with itself and re-encodes it: that touches
    // every part of the decoded value, so that an object with a broken invariant (a bool that is
    // neither 0 nor 1, a variant index out of range) is caught by the sanitizers.
    std::function<void(std::span<const std::byte>)> decode;
};

template <class T>
EncodedCase encoded_case(std::string name, const T& value) {
    return {std::move(name), mproc::serialize(value), [](std::span<const std::byte> bytes) {
                const T decoded = mproc::deserialize<T>(bytes);
                const T copy = decoded;
                static_cast<void>(copy == decoded);
                static_cast<void>(mproc::serialize(decoded));
            }};
}

using NestedMap = std::map<std::string, std::vector<std::optional<std::pair<int, std::string>>>>;
using Everything =
    std::tuple<int, bool, std::string, std::vector<bool>, std::optional<Sample>,
               std::variant<std::monostate, double, std::string>, std::array<bool, 3>,
               std::list<std::optional<bool>>, std::forward_list<Color>>;

std::vector<EncodedCase> corruption_cases() {
    RandomValues random(20240611);
    std::vector<EncodedCase> cases;
    cases.push_back(encoded_case("int", 123456789));
    cases.push_back(encoded_case("bool", true));
    cases.push_back(encoded_case("Sample", Sample{7, 2.5f, 99}));
    cases.push_back(encoded_case("string", std::string("hello\0world", 11)));
    cases.push_back(encoded_case("vector<int>", std::vector<int>{1, 2, 3, 4, 5}));
    cases.push_back(encoded_case("vector<bool>", std::vector<bool>{true, false, true, true}));
    cases.push_back(encoded_case("vector<string>", std::vector<std::string>{"a", "", "bcd"}));
    cases.push_back(encoded_case("deque<string>", std::deque<std::string>{"x", "yz"}));
    cases.push_back(encoded_case("list<Sample>", std::list<Sample>{{1, 1, 1}, {2, 2, 2}}));
    cases.push_back(encoded_case("forward_list<int>", std::forward_list<int>{3, 1, 2}));
    cases.push_back(encoded_case("set<string>", std::set<std::string>{"a", "b", "c"}));
    cases.push_back(encoded_case("multimap<int,string>",
                                 std::multimap<int, std::string>{{1, "a"}, {1, "b"}, {2, "c"}}));
    cases.push_back(encoded_case("unordered_map<string,int>",
                                 std::unordered_map<std::string, int>{{"a", 1}, {"bb", 2}}));
    cases.push_back(encoded_case("pair<int,string>", std::pair<int, std::string>{5, "five"}));
    cases.push_back(encoded_case("tuple", std::tuple<int, std::string, double>{1, "two", 3.0}));
    cases.push_back(encoded_case("optional<string>", std::optional<std::string>("maybe")));
    cases.push_back(encoded_case("optional<int>", std::optional<int>(42)));
    cases.push_back(encoded_case("variant<int,string>", std::variant<int, std::string>("alt")));
    cases.push_back(encoded_case("variant<int,float>", std::variant<int, float>(1.5f)));
    cases.push_back(encoded_case("array<bool,4>", std::array<bool, 4>{true, false, true, false}));
    cases.push_back(encoded_case("vector<tuple<>>", std::vector<std::tuple<>>(3)));
    cases.push_back(encoded_case("vector<vector<monostate>>",
                                 std::vector<std::vector<std::monostate>>{{{}, {}}, {}, {{}}}));
    cases.push_back(encoded_case("NestedMap", random.make<NestedMap>()));
    cases.push_back(encoded_case("Everything", random.make<Everything>()));
    cases.push_back(encoded_case("Particle", Particle{"electron", {0.5, -1.0}, -1}));
    cases.push_back(encoded_case("Temperature", Temperature{"K", 273.15}));
    cases.push_back(encoded_case("Catalogue", Catalogue::random(random)));
    cases.push_back(encoded_case("map<string,Particle>", std::map<std::string, Particle>{
                                                             {"p", Particle{"proton", {1}, 1}}}));
    cases.push_back(
        encoded_case("vector<RegistryHandle>",
                     std::vector<RegistryHandle>{RegistryHandle(1), RegistryHandle(3)}));
    return cases;
}

// ---------------------------------------------------------------------------------------------
// What can travel: compile-time checks, run as a test so that they show up in the test list.

TEST(Transferable, RejectsTypesThatReferToOneProcesssMemory) {
    static_assert(!mproc::Transferable<int*>);
    static_assert(!mproc::Transferable<const char*>);
    static_assert(!mproc::Transferable<void*>);
    static_assert(!mproc::Transferable<int (*)(int)>);
    static_assert(!mproc::Transferable<int Sample::*>);
    static_assert(!mproc::Transferable<int&>);
    static_assert(!mproc::Transferable<const std::string&>);
    static_assert(!mproc::Transferable<std::string&&>);
    static_assert(!mproc::Transferable<std::string_view>);
    static_assert(!mproc::Transferable<std::u16string_view>);
    static_assert(!mproc::Transferable<std::span<int>>);
    static_assert(!mproc::Transferable<std::span<const int, 4>>);
    static_assert(!mproc::Transferable<std::function<int(int)>>);
    static_assert(!mproc::Transferable<std::reference_wrapper<int>>);
    static_assert(!mproc::Transferable<std::array<int*, 3>>);
    static_assert(!mproc::Transferable<std::array<std::string_view, 2>>);
    static_assert(!mproc::Transferable<std::pair<int, int*>>);
    static_assert(!mproc::Transferable<std::pair<std::string, std::reference_wrapper<int>>>);
    static_assert(!mproc::Transferable<std::tuple<int, std::string_view>>);
    static_assert(!mproc::Transferable<std::optional<int*>>);
    static_assert(!mproc::Transferable<std::variant<int, const char*>>);
    static_assert(!mproc::Transferable<std::vector<int*>>);
    static_assert(!mproc::Transferable<std::map<std::string, std::function<void()>>>);
    static_assert(!mproc::Transferable<NamedButNotSerializable>);
    static_assert(!mproc::Transferable<std::vector<NamedButNotSerializable>>);
    static_assert(!mproc::Transferable<WithCallback>);
    static_assert(!mproc::Transferable<std::unique_ptr<int>>);
    static_assert(!mproc::Transferable<std::shared_ptr<int>>);
    static_assert(!mproc::Transferable<int[3]>);
}

TEST(Transferable, AcceptsValuesStringsContainersAndSerializableTypes) {
    static_assert(mproc::Transferable<int>);
    static_assert(mproc::Transferable<const int>);
    static_assert(mproc::Transferable<bool>);
    static_assert(mproc::Transferable<long double>);
    static_assert(mproc::Transferable<Color>);
    static_assert(mproc::Transferable<Direction>);
    static_assert(mproc::Transferable<Sample>);
    static_assert(mproc::Transferable<Pixel>);
    static_assert(mproc::Transferable<std::array<int, 4>>);
    static_assert(mproc::Transferable<std::array<std::string, 2>>);
    static_assert(mproc::Transferable<std::string>);
    static_assert(mproc::Transferable<std::u32string>);
    static_assert(mproc::Transferable<std::vector<int>>);
    static_assert(mproc::Transferable<std::vector<bool>>);
    static_assert(mproc::Transferable<std::vector<std::string>>);
    static_assert(mproc::Transferable<std::deque<Sample>>);
    static_assert(mproc::Transferable<std::list<std::string>>);
    static_assert(mproc::Transferable<std::forward_list<int>>);
    static_assert(mproc::Transferable<std::set<std::string>>);
    static_assert(mproc::Transferable<std::multiset<int>>);
    static_assert(mproc::Transferable<std::map<std::string, std::vector<int>>>);
    static_assert(mproc::Transferable<std::multimap<int, std::string>>);
    static_assert(mproc::Transferable<std::unordered_set<std::string>>);
    static_assert(mproc::Transferable<std::unordered_multiset<int>>);
    static_assert(mproc::Transferable<std::unordered_map<int, std::string>>);
    static_assert(mproc::Transferable<std::unordered_multimap<std::string, int>>);
    static_assert(mproc::Transferable<std::pair<int, std::string>>);
    static_assert(mproc::Transferable<std::tuple<>>);
    static_assert(mproc::Transferable<std::tuple<int, std::string, double>>);
    static_assert(mproc::Transferable<std::optional<std::string>>);
    static_assert(mproc::Transferable<std::optional<int>>);
    static_assert(mproc::Transferable<std::variant<std::monostate, int, std::string>>);
    static_assert(mproc::Transferable<std::monostate>);
    static_assert(mproc::Transferable<NestedMap>);
    static_assert(mproc::Transferable<Particle>);
    static_assert(mproc::Transferable<Temperature>);
    static_assert(mproc::Transferable<Catalogue>);
    static_assert(mproc::Transferable<RegistryHandle>);
    static_assert(mproc::Transferable<std::vector<RegistryHandle>>);
    static_assert(mproc::Transferable<std::chrono::nanoseconds>);
}

// ---------------------------------------------------------------------------------------------
// Randomized round trips, one family at a time.

template <class T>
void expect_arithmetic_round_trips_bit_for_bit(RandomValues& random) {
    for (int i = 0; i < 200; ++i) {
        T value;
        if constexpr (std::is_same_v<T, bool>) {
            value = random.coin();
        } else {
            // Any bit pattern, NaNs included; compared as bytes.
            const std::array<std::uint64_t, 2> bits{random.bits(), random.bits()};
            std::memcpy(&value, bits.data(), sizeof(T));
        }
        const Bytes bytes = mproc::serialize(value);
        ASSERT_EQ(bytes.size(), sizeof(T));
        const T decoded = mproc::deserialize<T>(bytes);
        ASSERT_EQ(std::memcmp(&decoded, &value, sizeof(T)), 0)
            << typeid(T).name() << " iteration " << i;
    }
}

TEST(SerializeRoundTrip, ArithmeticValuesRoundTripBitForBit) {
    RandomValues random(1);
    expect_arithmetic_round_trips_bit_for_bit<bool>(random);
    expect_arithmetic_round_trips_bit_for_bit<char>(random);
    expect_arithmetic_round_trips_bit_for_bit<signed char>(random);
    expect_arithmetic_round_trips_bit_for_bit<unsigned char>(random);
    expect_arithmetic_round_trips_bit_for_bit<char8_t>(random);
    expect_arithmetic_round_trips_bit_for_bit<char16_t>(random);
    expect_arithmetic_round_trips_bit_for_bit<char32_t>(random);
    expect_arithmetic_round_trips_bit_for_bit<wchar_t>(random);
    expect_arithmetic_round_trips_bit_for_bit<short>(random);
    expect_arithmetic_round_trips_bit_for_bit<unsigned short>(random);
    expect_arithmetic_round_trips_bit_for_bit<int>(random);
    expect_arithmetic_round_trips_bit_for_bit<unsigned>(random);
    expect_arithmetic_round_trips_bit_for_bit<long>(random);
    expect_arithmetic_round_trips_bit_for_bit<unsigned long>(random);
    expect_arithmetic_round_trips_bit_for_bit<long long>(random);
    expect_arithmetic_round_trips_bit_for_bit<unsigned long long>(random);
    expect_arithmetic_round_trips_bit_for_bit<float>(random);
    expect_arithmetic_round_trips_bit_for_bit<double>(random);
}

TEST(SerializeRoundTrip, LongDoubleRoundTripsByValue) {
    // long double has padding bytes that need not survive a copy: compare values.
    expect_random_round_trips<long double>(2);
    EXPECT_EQ(round_trip(std::numeric_limits<long double>::max()),
              std::numeric_limits<long double>::max());
}

TEST(SerializeRoundTrip, EnumsRoundTripAsTheirUnderlyingType) {
    expect_random_round_trips<Color>(3);
    expect_random_round_trips<Direction>(4);
    expect_random_round_trips<Priority>(5);
    EXPECT_EQ(round_trip(urgent), urgent);
    EXPECT_EQ(round_trip(low), low);
    EXPECT_EQ(mproc::serialize(Color::blue).size(), sizeof(Color));
    EXPECT_EQ(mproc::serialize(urgent).size(), sizeof(std::int64_t));
}

TEST(SerializeRoundTrip, TriviallyCopyableStructRoundTripsByMemcpy) {
    RandomValues random(6);
    for (int i = 0; i < 300; ++i) {
        const Sample value = random.make<Sample>();
        const Bytes bytes = mproc::serialize(value);
        ASSERT_EQ(bytes.size(), sizeof(Sample));
        ASSERT_EQ(std::memcmp(bytes.data(), &value, sizeof(Sample)), 0);
        ASSERT_EQ(mproc::deserialize<Sample>(bytes), value);
    }
    expect_random_round_trips<Pixel>(7);
    EXPECT_EQ(mproc::serialize(Pixel{}).size(), sizeof(Pixel));
}

TEST(SerializeRoundTrip, StdArraysRoundTrip) {
    expect_random_round_trips<std::array<int, 5>>(8);
    expect_random_round_trips<std::array<Sample, 3>>(9);
    expect_random_round_trips<std::array<std::string, 3>>(10);
    expect_random_round_trips<std::array<bool, 9>>(11);
    expect_random_round_trips<std::array<std::optional<int>, 4>>(12);
    expect_random_round_trips<std::array<std::array<std::vector<int>, 2>, 2>>(13);
    EXPECT_EQ(round_trip(std::array<std::string, 0>{}), (std::array<std::string, 0>{}));
    EXPECT_EQ(mproc::serialize(std::array<std::int32_t, 5>{}).size(), 5 * sizeof(std::int32_t));
    // Arrays of bool are checked element by element, one byte each.
    EXPECT_EQ(mproc::serialize(std::array<bool, 9>{}).size(), 9u);
}

TEST(SerializeRoundTrip, StringsRoundTripIncludingEmbeddedNuls) {
    expect_random_round_trips<std::string>(14, 1000);
    expect_random_round_trips<std::u16string>(15);
    expect_random_round_trips<std::u32string>(16);
    expect_random_round_trips<std::wstring>(17);

    const std::string with_nuls("\0a\0\0b\0", 6);
    const Bytes bytes = mproc::serialize(with_nuls);
    ASSERT_EQ(bytes.size(), 8 + with_nuls.size());
    EXPECT_EQ(length_prefix(bytes), with_nuls.size());
    EXPECT_EQ(std::memcmp(bytes.data() + 8, with_nuls.data(), with_nuls.size()), 0);
    const auto decoded = mproc::deserialize<std::string>(bytes);
    EXPECT_EQ(decoded.size(), 6u);
    EXPECT_EQ(decoded, with_nuls);
    EXPECT_EQ(mproc::serialize(std::string()).size(), 8u);
}

template <class T>
void expect_vector_encoded_as_one_block(std::uint32_t seed) {
    RandomValues random(seed);
    for (int i = 0; i < 300; ++i) {
        const auto value = random.make<std::vector<T>>();
        const Bytes bytes = mproc::serialize(value);
        ASSERT_EQ(bytes.size(), 8 + value.size() * sizeof(T));
        ASSERT_EQ(length_prefix(bytes), value.size());
        if (!value.empty()) {
            ASSERT_EQ(std::memcmp(bytes.data() + 8, value.data(), value.size() * sizeof(T)), 0);
        }
        ASSERT_TRUE(mproc::deserialize<std::vector<T>>(bytes) == value);
    }
}

TEST(SerializeRoundTrip, VectorOfTriviallyCopyableIsEncodedAsOneBlock) {
    expect_vector_encoded_as_one_block<int>(18);
    expect_vector_encoded_as_one_block<char>(19);
    expect_vector_encoded_as_one_block<std::uint64_t>(20);
    expect_vector_encoded_as_one_block<Sample>(21);
    expect_random_round_trips<std::vector<double>>(22);
    expect_random_round_trips<std::vector<Pixel>>(23);
}

TEST(SerializeRoundTrip, VectorOfBoolRoundTripsOneByteperElement) {
    expect_random_round_trips<std::vector<bool>>(24, 1000);
    RandomValues random(25);
    for (std::size_t length : {0, 1, 7, 8, 9, 63, 64, 65, 1000}) {
        std::vector<bool> value(length);
        for (std::size_t i = 0; i < length; ++i) value[i] = random.coin();
        const Bytes bytes = mproc::serialize(value);
        EXPECT_EQ(bytes.size(), 8 + length);
        EXPECT_EQ(mproc::deserialize<std::vector<bool>>(bytes), value);
    }
}

TEST(SerializeRoundTrip, VectorOfStringsRoundTrips) {
    expect_random_round_trips<std::vector<std::string>>(26, 500);
    expect_random_round_trips<std::vector<std::vector<std::string>>>(27);
}

TEST(SerializeRoundTrip, DequesRoundTrip) {
    expect_random_round_trips<std::deque<int>>(28);
    expect_random_round_trips<std::deque<std::string>>(29);
    expect_random_round_trips<std::deque<bool>>(30);
}

TEST(SerializeRoundTrip, ListsRoundTrip) {
    expect_random_round_trips<std::list<Sample>>(31);
    expect_random_round_trips<std::list<std::string>>(32);
}

TEST(SerializeRoundTrip, ForwardListsRoundTripInOrder) {
    expect_random_round_trips<std::forward_list<int>>(33);
    expect_random_round_trips<std::forward_list<std::string>>(34);
    const std::forward_list<int> ordered{5, 1, 4, 2, 3};
    EXPECT_EQ(round_trip(ordered), ordered);
}

TEST(SerializeRoundTrip, OrderedAssociativeContainersRoundTrip) {
    expect_random_round_trips<std::set<int>>(35);
    expect_random_round_trips<std::set<std::string>>(36);
    expect_random_round_trips<std::multiset<std::int8_t>>(37);
    expect_random_round_trips<std::map<int, std::string>>(38);
    expect_random_round_trips<std::map<std::string, std::vector<int>>>(39);
    expect_random_round_trips<std::multimap<std::int8_t, std::string>>(40);
    const std::multimap<int, std::string> duplicates{{1, "a"}, {1, "b"}, {1, "a"}, {0, ""}};
    EXPECT_EQ(round_trip(duplicates), duplicates);
}

TEST(SerializeRoundTrip, UnorderedContainersRoundTrip) {
    expect_random_round_trips<std::unordered_set<std::string>>(41);
    expect_random_round_trips<std::unordered_multiset<std::int8_t>>(42);
    expect_random_round_trips<std::unordered_map<int, double>>(43);
    expect_random_round_trips<std::unordered_multimap<std::string, int>>(44);
}

TEST(SerializeRoundTrip, PairsAndTuplesRoundTrip) {
    expect_random_round_trips<std::pair<int, std::string>>(45);
    expect_random_round_trips<std::pair<std::string, std::vector<int>>>(46);
    expect_random_round_trips<std::tuple<int>>(47);
    expect_random_round_trips<std::tuple<int, std::string, double, bool>>(48);
    expect_random_round_trips<std::tuple<std::tuple<>, int, std::tuple<std::string>>>(49);
    EXPECT_EQ(round_trip(std::tuple<>{}), std::tuple<>{});
}

TEST(SerializeRoundTrip, EmptyTupleAndMonostateEncodeToNothing) {
    EXPECT_TRUE(mproc::serialize(std::tuple<>{}).empty());
    EXPECT_TRUE(mproc::serialize(std::monostate{}).empty());
    EXPECT_EQ(mproc::deserialize<std::monostate>(Bytes{}), std::monostate{});
    EXPECT_EQ(mproc::deserialize<std::tuple<>>(Bytes{}), std::tuple<>{});
    const std::vector<std::tuple<>> many(1000);
    const Bytes bytes = mproc::serialize(many);
    EXPECT_EQ(bytes.size(), 8u);
    EXPECT_EQ(mproc::deserialize<std::vector<std::tuple<>>>(bytes).size(), 1000u);
    expect_random_round_trips<std::vector<std::monostate>>(50);
}

TEST(SerializeRoundTrip, OptionalsRoundTripEmptyAndFull) {
    expect_random_round_trips<std::optional<int>>(51);
    expect_random_round_trips<std::optional<std::string>>(52);
    expect_random_round_trips<std::optional<std::vector<int>>>(53);
    expect_random_round_trips<std::optional<std::optional<bool>>>(54);
    EXPECT_EQ(round_trip(std::optional<std::string>{}), std::nullopt);
    EXPECT_EQ(round_trip(std::optional<std::string>("")), std::optional<std::string>(""));
    // An empty optional is one flag byte; a full one is the flag and the value.
    EXPECT_EQ(mproc::serialize(std::optional<int>{}).size(), 1u);
    EXPECT_EQ(mproc::serialize(std::optional<int>(1)).size(), 1 + sizeof(int));
    EXPECT_EQ(mproc::serialize(std::optional<std::string>{}).size(), 1u);
}

TEST(SerializeRoundTrip, VariantsRoundTripEveryAlternative) {
    using Variant =
        std::variant<std::monostate, int, std::string, std::vector<double>, Sample, bool>;
    RandomValues random(55);
    for (std::size_t index = 0; index < std::variant_size_v<Variant>; ++index) {
        for (int i = 0; i < 50; ++i) {
            const auto value = random.make_alternative<Variant>(index);
            const auto decoded = round_trip(value);
            ASSERT_EQ(decoded.index(), index);
            ASSERT_TRUE(decoded == value);
        }
    }
    expect_random_round_trips<Variant>(56);
    expect_random_round_trips<std::variant<int, float>>(57);

    // Alternatives of the same type keep their index.
    using Twins = std::variant<int, int>;
    EXPECT_EQ(round_trip(Twins(std::in_place_index<1>, 7)).index(), 1u);
    EXPECT_EQ(std::get<1>(round_trip(Twins(std::in_place_index<1>, 7))), 7);
    EXPECT_EQ(round_trip(Twins(std::in_place_index<0>, 7)).index(), 0u);
    EXPECT_EQ(mproc::serialize(std::variant<int, float>(1)).size(),
              sizeof(std::uint32_t) + sizeof(int));
}

TEST(SerializeRoundTrip, MonostateRoundTrips) {
    EXPECT_EQ(round_trip(std::monostate{}), std::monostate{});
    using Variant = std::variant<std::monostate, std::string>;
    EXPECT_EQ(round_trip(Variant{}).index(), 0u);
    EXPECT_EQ(mproc::serialize(Variant{}).size(), sizeof(std::uint32_t));
}

TEST(SerializeRoundTrip, NestedCombinationsRoundTrip) {
    expect_random_round_trips<NestedMap>(58, 200);
    expect_random_round_trips<std::vector<std::map<int, std::set<std::string>>>>(59, 100);
    expect_random_round_trips<
        std::optional<std::variant<std::tuple<int, std::string>, std::list<bool>>>>(60);
    expect_random_round_trips<
        std::tuple<std::vector<std::list<int>>, std::deque<std::optional<std::string>>,
                   std::unordered_map<std::string, std::pair<bool, Sample>>>>(61, 100);
    expect_random_round_trips<Everything>(62);

    const NestedMap value{
        {"", {}},
        {"one", {std::nullopt}},
        {std::string("t\0o", 3), {std::pair<int, std::string>{2, "two"}, std::nullopt}}};
    EXPECT_EQ(round_trip(value), value);
}

TEST(SerializeRoundTrip, UserTypeWithMemberSerializeRoundTrips) {
    expect_random_round_trips<Particle>(63);
    expect_random_round_trips<std::vector<Particle>>(64, 100);
    expect_random_round_trips<std::map<std::string, Particle>>(65, 100);
}

TEST(SerializeRoundTrip, UserTypeWithFreeSaveAndLoadRoundTrips) {
    expect_random_round_trips<Temperature>(66);
    expect_random_round_trips<std::optional<Temperature>>(67);
    EXPECT_EQ(round_trip(Temperature{"C", -40}), (Temperature{"C", -40}));
}

TEST(SerializeRoundTrip, UserTypeHoldingStandardContainersRoundTrips) {
    expect_random_round_trips<Catalogue>(68, 200);
    expect_random_round_trips<std::vector<Catalogue>>(69, 20);
}

TEST(SerializeRoundTrip, CodecSpecializationTakesPrecedenceOverMemcpy) {
    const RegistryHandle handle(2);
    const Bytes bytes = mproc::serialize(handle);
    // Only the key travels, not the pointer that a memcpy would have sent.
    ASSERT_EQ(bytes.size(), sizeof(std::uint32_t));
    const auto decoded = mproc::deserialize<RegistryHandle>(bytes);
    EXPECT_EQ(decoded.key, 2u);
    EXPECT_EQ(*decoded.entry, "two");

    const std::vector<RegistryHandle> handles{RegistryHandle(3), RegistryHandle(1)};
    EXPECT_EQ(round_trip(handles), handles);
    const std::tuple<RegistryHandle, std::string> mixed{RegistryHandle(1), "mixed"};
    EXPECT_EQ(round_trip(mixed), mixed);

    const std::uint32_t unknown = 99;
    Bytes corrupt(sizeof(unknown));
    std::memcpy(corrupt.data(), &unknown, sizeof(unknown));
    EXPECT_THROW(mproc::deserialize<RegistryHandle>(corrupt), mproc::SerializationError);
}

TEST(SerializeStream, ValuesWrittenInSequenceAreReadBackInOrder) {
    RandomValues random(70);
    for (int i = 0; i < 100; ++i) {
        const auto a = random.make<std::string>();
        const auto b = random.make<std::vector<int>>();
        const auto c = random.make<std::optional<Particle>>();
        const auto d = random.make<double>();
        Bytes buffer;
        mproc::Writer out(buffer);
        mproc::encode(out, a);
        mproc::encode(out, b);
        mproc::encode(out, c);
        mproc::encode(out, d);
        mproc::Reader in(buffer);
        EXPECT_EQ(mproc::decode<std::string>(in), a);
        EXPECT_EQ(mproc::decode<std::vector<int>>(in), b);
        EXPECT_EQ(mproc::decode<std::optional<Particle>>(in), c);
        EXPECT_EQ(mproc::decode<double>(in), d);
        EXPECT_TRUE(in.at_end());
    }
}

TEST(SerializeStream, WriterAppendsToAnExistingBuffer) {
    Bytes buffer{std::byte{0xAA}};
    mproc::Writer out(buffer);
    mproc::encode(out, std::int32_t{5});
    ASSERT_EQ(buffer.size(), 1 + sizeof(std::int32_t));
    EXPECT_EQ(buffer[0], std::byte{0xAA});
    mproc::Reader in(std::span<const std::byte>(buffer).subspan(1));
    EXPECT_EQ(mproc::decode<std::int32_t>(in), 5);
}

// ---------------------------------------------------------------------------------------------
// Truncated, corrupt and malicious input.

TEST(SerializeCorruption, EveryTruncationThrowsSerializationError) {
    for (const auto& test_case : corruption_cases()) {
        SCOPED_TRACE(test_case.name);
        ASSERT_NO_THROW(test_case.decode(test_case.bytes));
        for (std::size_t length = 0; length < test_case.bytes.size(); ++length) {
            // An exactly sized copy, so that AddressSanitizer sees any read past its end.
            const Bytes prefix(test_case.bytes.begin(),
                               test_case.bytes.begin() + static_cast<std::ptrdiff_t>(length));
            EXPECT_THROW(test_case.decode(prefix), mproc::SerializationError)
                << "prefix of " << length << " bytes";
        }
    }
}

TEST(SerializeCorruption, TrailingBytesMakeDeserializeThrow) {
    for (const auto& test_case : corruption_cases()) {
        SCOPED_TRACE(test_case.name);
        for (std::size_t extra : {1, 7, 64}) {
            Bytes longer = test_case.bytes;
            longer.resize(longer.size() + extra);
            EXPECT_THROW(test_case.decode(longer), mproc::SerializationError)
                << extra << " extra bytes";
        }
    }
    // decode() itself stops at the end of the value; only deserialize insists on the whole input.
    Bytes bytes = mproc::serialize(std::string("abc"));
    bytes.push_back(std::byte{1});
    mproc::Reader in(bytes);
    EXPECT_EQ(mproc::decode<std::string>(in), "abc");
    EXPECT_EQ(in.remaining(), 1u);
}

TEST(SerializeCorruption, RandomlyCorruptedBytesDecodeOrThrowSerializationError) {
    std::mt19937 engine(71);
    for (const auto& test_case : corruption_cases()) {
        SCOPED_TRACE(test_case.name);
        if (test_case.bytes.empty()) continue;
        int decoded = 0;
        int rejected = 0;
        for (int i = 0; i < 2000; ++i) {
            Bytes corrupt = test_case.bytes;
            const auto position = [&] { return engine() % corrupt.size(); };
            switch (engine() % 4) {
                case 0:  // one random byte
                    corrupt[position()] = static_cast<std::byte>(engine());
                    break;
                case 1:  // one flipped bit
                    corrupt[position()] ^= static_cast<std::byte>(1u << (engine() % 8));
                    break;
                case 2:  // a few random bytes
                    for (int k = 0; k < 4; ++k)
                        corrupt[position()] = static_cast<std::byte>(engine());
                    break;
                default:  // a run of 0xFF, as a huge length field would be
                    for (std::size_t at = position(), k = 0; k < 8 && at + k < corrupt.size(); ++k)
                        corrupt[at + k] = std::byte{0xFF};
                    break;
            }
            try {
                test_case.decode(corrupt);
                ++decoded;
            } catch (const mproc::SerializationError&) {
                ++rejected;
            } catch (const std::exception& error) {
                FAIL() << "corrupt input threw something other than SerializationError: "
                       << error.what();
            }
        }
        EXPECT_EQ(decoded + rejected, 2000);
    }
}

// Sets the 8-byte length field at `offset` to `length`.
void set_length(Bytes& bytes, std::size_t offset, std::uint64_t length) {
    ASSERT_LE(offset + sizeof(length), bytes.size());
    std::memcpy(bytes.data() + offset, &length, sizeof(length));
}

template <class T>
void expect_huge_length_rejected(const T& value, std::size_t offset = 0) {
    for (const std::uint64_t length : {std::uint64_t{1} << 62, std::uint64_t{1} << 40,
                                       ~std::uint64_t{0}, std::uint64_t{1} << 21}) {
        Bytes bytes = mproc::serialize(value);
        set_length(bytes, offset, length);
        EXPECT_THROW(mproc::deserialize<T>(bytes), mproc::SerializationError)
            << typeid(T).name() << " with length " << length;
    }
}

TEST(SerializeCorruption, LengthOfTwoToTheSixtySecondThrowsQuickly) {
    const auto start = std::chrono::steady_clock::now();
    expect_huge_length_rejected(std::string("x"));
    expect_huge_length_rejected(std::u32string(U"x"));
    expect_huge_length_rejected(std::vector<int>{1});
    expect_huge_length_rejected(std::vector<bool>{true});
    expect_huge_length_rejected(std::vector<std::string>{"x"});
    expect_huge_length_rejected(std::deque<int>{1});
    expect_huge_length_rejected(std::list<std::string>{"x"});
    expect_huge_length_rejected(std::forward_list<int>{1});
    expect_huge_length_rejected(std::set<int>{1});
    expect_huge_length_rejected(std::map<int, std::string>{{1, "x"}});
    expect_huge_length_rejected(std::unordered_multimap<int, int>{{1, 1}});
    expect_huge_length_rejected(std::vector<std::tuple<>>(1));
    expect_huge_length_rejected(std::vector<std::monostate>(1));
    expect_huge_length_rejected(std::vector<RegistryHandle>{RegistryHandle(1)});
    // A cereal-encoded value: its own length prefix, then a length inside it.
    expect_huge_length_rejected(Particle{"p", {1.0}, 1});
    expect_huge_length_rejected(Particle{"p", {1.0}, 1}, 8);
    expect_huge_length_rejected(Particle{"p", {1.0}, 1}, 8 + 8 + 1);
    expect_huge_length_rejected(Temperature{"K", 1.0}, 8);
    // A length nested inside a container.
    expect_huge_length_rejected(std::vector<std::string>{"x"}, 8);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_LT(elapsed, std::chrono::seconds(2));
}

TEST(SerializeCorruption, NestedEmptyElementsShareOneBudgetPerMessage) {
    // Elements that encode to nothing cannot be bounded by the message size. A single vector may
    // claim up to 2^20 of them...
    constexpr std::uint64_t budget = std::uint64_t{1} << 20;
    Bytes bytes = mproc::serialize(std::vector<std::tuple<>>{});
    set_length(bytes, 0, budget);
    EXPECT_EQ(mproc::deserialize<std::vector<std::tuple<>>>(bytes).size(), budget);
    set_length(bytes, 0, budget + 1);
    EXPECT_THROW(mproc::deserialize<std::vector<std::tuple<>>>(bytes), mproc::SerializationError);

    // ...but nesting cannot multiply that: a few bytes claiming 2^20 empty elements in each of
    // many inner vectors would otherwise allocate gigabytes.
    std::vector<std::vector<std::monostate>> nested(64);
    bytes = mproc::serialize(nested);
    for (std::size_t i = 0; i < nested.size(); ++i) set_length(bytes, 8 + 8 * i, budget);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW((mproc::deserialize<std::vector<std::vector<std::monostate>>>(bytes)),
                 mproc::SerializationError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));

    // Legitimate nested empties within the budget still decode.
    nested.assign(4, std::vector<std::monostate>(1000));
    EXPECT_EQ(round_trip(nested), nested);
}

TEST(SerializeCorruption, InvalidBoolByteThrows) {
    EXPECT_THROW(mproc::deserialize<bool>(Bytes{std::byte{2}}), mproc::SerializationError);
    EXPECT_THROW(mproc::deserialize<bool>(Bytes{std::byte{0xFF}}), mproc::SerializationError);
    EXPECT_EQ(mproc::deserialize<bool>(Bytes{std::byte{1}}), true);

    Bytes bits = mproc::serialize(std::vector<bool>{true, false});
    bits.back() = std::byte{7};
    EXPECT_THROW(mproc::deserialize<std::vector<bool>>(bits), mproc::SerializationError);

    Bytes array = mproc::serialize(std::array<bool, 2>{true, false});
    array.back() = std::byte{7};
    EXPECT_THROW((mproc::deserialize<std::array<bool, 2>>(array)), mproc::SerializationError);

    // Through cereal: an optional's flag, and a block of bools in a std::array.
    Catalogue catalogue;
    catalogue.flags = {true, true, true, true, true};
    const Bytes good = mproc::serialize(catalogue);
    // The length prefix and six empty containers come before the comment's "nullopt" flag.
    const std::size_t flag_at = 8 + 6 * 8;
    ASSERT_EQ(good.at(flag_at), std::byte{1});
    Bytes bad_flag = good;
    bad_flag[flag_at] = std::byte{2};
    EXPECT_THROW(mproc::deserialize<Catalogue>(bad_flag), mproc::SerializationError);
    bad_flag[flag_at] = std::byte{0};  // a valid flag: "has a value", then reads on
    EXPECT_NO_THROW(static_cast<void>(mproc::deserialize<Catalogue>(good)));
    bool found_flag = false;
    for (std::size_t i = 0; i + 5 <= good.size(); ++i) {
        if (std::all_of(good.begin() + static_cast<std::ptrdiff_t>(i),
                        good.begin() + static_cast<std::ptrdiff_t>(i + 5),
                        [](std::byte b) { return b == std::byte{1}; })) {
            Bytes bad = good;
            bad[i + 2] = std::byte{2};
            EXPECT_THROW(mproc::deserialize<Catalogue>(bad), mproc::SerializationError);
            found_flag = true;
            break;
        }
    }
    EXPECT_TRUE(found_flag);
}

TEST(SerializeCorruption, InvalidOptionalFlagThrows) {
    Bytes bytes = mproc::serialize(std::optional<int>(3));
    bytes[0] = std::byte{2};
    EXPECT_THROW(mproc::deserialize<std::optional<int>>(bytes), mproc::SerializationError);
    bytes = mproc::serialize(std::optional<std::string>{});
    bytes[0] = std::byte{0x80};
    EXPECT_THROW(mproc::deserialize<std::optional<std::string>>(bytes), mproc::SerializationError);
}

TEST(SerializeCorruption, OutOfRangeVariantIndexThrows) {
    using Variant = std::variant<int, float>;
    for (std::uint32_t index : {2u, 3u, 255u, 0xFFFFFFFFu}) {
        Bytes bytes = mproc::serialize(Variant(1));
        std::memcpy(bytes.data(), &index, sizeof(index));
        EXPECT_THROW(mproc::deserialize<Variant>(bytes), mproc::SerializationError) << index;
    }
}

TEST(SerializeCorruption, CerealValueThatLoadsLessThanItSavedThrows) {
    const Bytes bytes = mproc::serialize(LopsidedSaveLoad{5, ""});
    EXPECT_THROW(mproc::deserialize<LopsidedSaveLoad>(bytes), mproc::SerializationError);
}

TEST(SerializeCorruption, CorruptBitsetRepresentationThrowsSerializationError) {
    // cereal's bitset may arrive as a string of '0' and '1'; anything else must be a
    // SerializationError, not the std::invalid_argument that std::bitset throws.
    const std::string text = "0101x101";
    // [length of the cereal value] [representation tag] [string length] [string]
    Bytes bytes(8 + 1 + 8 + text.size());
    set_length(bytes, 0, bytes.size() - 8);
    bytes[8] = std::byte{2};  // cereal::bitset_detail::type::string
    set_length(bytes, 9, text.size());
    std::memcpy(bytes.data() + 17, text.data(), text.size());
    EXPECT_THROW(mproc::deserialize<HoldsBitset>(bytes), mproc::SerializationError);

    // The same message with a valid string decodes.
    bytes[9 + 8 + 4] = static_cast<std::byte>('1');
    EXPECT_EQ(mproc::deserialize<HoldsBitset>(bytes).bits, std::bitset<8>("01011101"));

    // An unknown representation tag.
    bytes[8] = std::byte{9};
    EXPECT_THROW(mproc::deserialize<HoldsBitset>(bytes), mproc::SerializationError);
}

TEST(SerializeCorruption, ErrorMessageSaysWhereDecodingFailed) {
    const Bytes bytes = mproc::serialize(std::string("abcdef"));
    try {
        static_cast<void>(mproc::deserialize<std::string>(std::span(bytes).first(10)));
        FAIL() << "expected a SerializationError";
    } catch (const mproc::SerializationError& error) {
        const std::string what = error.what();
        EXPECT_NE(what.find("does not fit in the 2 bytes left"), std::string::npos) << what;
        EXPECT_NE(what.find("of 10"), std::string::npos) << what;
    }
}

}  // namespace
