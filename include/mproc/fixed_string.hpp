// mproc/fixed_string.hpp: mproc::FixedString<N>, a string of at most N chars stored inline, for
// keys and values of shared memory objects (SharedDict, Value, Array) where std::string cannot go.
//
//   mproc::SharedDict<mproc::FixedString<32>, long> hits(1000);
//   hits.fetch_add("/index.html", 1);           // converts from std::string_view, const char*,
//   std::string_view page = key;                // std::string; converts back to std::string_view
//
// A FixedString is trivially copyable and holds no pointer: its length and its N chars (any
// bytes, '\0' included) live in the object, and the unused tail is always zero, so two equal
// strings are equal byte for byte (which is how SharedDict hashes and compares keys).
// Building one from text longer than N throws std::length_error (Python has no such limit: this
// is the price of living in shared memory without an allocator).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace mproc {

/// A string of at most N chars, stored inline: trivially copyable, so it can live in shared
/// memory. Converts implicitly from and to std::string_view. See the top of this file.
///
/// Errors: building one from more than N chars throws std::length_error.
/// Thread safety: a plain value, as std::array<char, N>.
template <std::size_t N>
class FixedString {
    static_assert(N > 0 && N <= (std::size_t{1} << 30), "mproc::FixedString<N>: N must be between 1 and 2^30");

public:
    /// The most chars it holds.
    static constexpr std::size_t max_size() noexcept { return N; }

    /// The empty string.
    constexpr FixedString() noexcept = default;
    /// A copy of `text`; std::length_error when it is longer than N.
    FixedString(std::string_view text) {
        if (text.size() > N)
            throw std::length_error("mproc::FixedString<" + std::to_string(N) + ">: a string of " +
                                    std::to_string(text.size()) + " chars does not fit (use a larger N)");
        size_ = static_cast<std::uint32_t>(text.size());
        if (!text.empty()) std::memcpy(chars_, text.data(), text.size());
    }
    /// A copy of the NUL-terminated `text`; std::length_error when it is longer than N.
    FixedString(const char* text) : FixedString(std::string_view(text)) {}
    /// A copy of `text`; std::length_error when it is longer than N.
    FixedString(const std::string& text) : FixedString(std::string_view(text)) {}

    /// The chars, as a view into this object.
    std::string_view view() const noexcept { return {chars_, size_}; }
    /// view().
    operator std::string_view() const noexcept { return view(); }
    /// A std::string copy.
    std::string str() const { return std::string(view()); }
    /// The first char (not NUL-terminated: use view() or str()).
    const char* data() const noexcept { return chars_; }
    /// The number of chars.
    std::size_t size() const noexcept { return size_; }
    /// Whether size() is 0.
    bool empty() const noexcept { return size_ == 0; }

    /// Equal when they hold the same chars (a template, so that text converts to string_view, not
    /// to a FixedString).
    template <std::size_t M>
    friend bool operator==(const FixedString& a, const FixedString<M>& b) noexcept {
        return a.view() == b.view();
    }
    /// Equal to any text with the same chars.
    friend bool operator==(const FixedString& a, std::string_view b) noexcept { return a.view() == b; }
    /// Ordered as std::string_view.
    friend std::strong_ordering operator<=>(const FixedString& a, const FixedString& b) noexcept {
        return a.view() <=> b.view();
    }
    /// Writes the chars.
    friend std::ostream& operator<<(std::ostream& out, const FixedString& text) { return out << text.view(); }

private:
    // The length first and the chars rounded up to a multiple of 4: no padding, so equal strings
    // have equal bytes.
    std::uint32_t size_ = 0;
    char chars_[(N + 3) / 4 * 4] = {};
};

}  // namespace mproc
