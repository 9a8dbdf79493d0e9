#include "matrix.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <system_error>

namespace matrix {
namespace {

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Walks the whitespace-separated tokens of the input, keeping count of tokens and lines.
class Tokenizer {
public:
    explicit Tokenizer(std::string_view text) : text_(text) {}

    // The next token; empty at the end of the input.
    std::string_view next() {
        while (position_ < text_.size() && is_space(text_[position_])) {
            if (text_[position_] == '\n') ++line_;
            ++position_;
        }
        const std::size_t start = position_;
        while (position_ < text_.size() && !is_space(text_[position_])) ++position_;
        if (position_ > start) ++count_;
        return text_.substr(start, position_ - start);
    }
    // Where the token last returned is: its number and its line, both from 1.
    std::string where() const { return "token " + std::to_string(count_) + " (line " + std::to_string(line_) + ")"; }

private:
    std::string_view text_;
    std::size_t position_ = 0;
    std::size_t count_ = 0;
    std::size_t line_ = 1;
};

// A token as it may be shown in a message: quoted, shortened, bytes other than printable ASCII
// replaced with '?'.
std::string shown(std::string_view token) {
    constexpr std::size_t longest = 24;
    std::string out = "'";
    for (char c : token.substr(0, longest)) {
        const auto byte = static_cast<unsigned char>(c);
        out += byte < 0x20 || byte >= 0x7f ? '?' : c;
    }
    if (token.size() > longest) out += "...";
    return out + "'";
}

enum class NumberStatus { ok, not_a_number, not_finite, out_of_range };

NumberStatus parse_number(std::string_view token, double& value) {
    // std::from_chars takes no leading '+'; Python's float() and strtod do.
    if (token.size() > 1 && token[0] == '+' && token[1] != '-' && token[1] != '+') token.remove_prefix(1);
    const char* end = token.data() + token.size();
    const auto [stop, error] = std::from_chars(token.data(), end, value, std::chars_format::general);
    if (error == std::errc::result_out_of_range && stop == end) return NumberStatus::out_of_range;
    if (error != std::errc{} || stop != end) return NumberStatus::not_a_number;
    if (!std::isfinite(value)) return NumberStatus::not_finite;
    return NumberStatus::ok;
}

// "23.5 GiB", "1.2 TiB", ...
std::string human_bytes(double bytes) {
    const char* units[] = {"GiB", "TiB", "PiB", "EiB"};
    double value = bytes / double(std::uint64_t{1} << 30);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        ++unit;
    }
    std::array<char, 48> text{};
    std::snprintf(text.data(), text.size(), "%.3g %s", value, units[unit]);
    return text.data();
}

// Which element the k-th number after n (0-based) is meant to be.
std::string element_name(std::size_t index, std::size_t n) {
    const std::size_t per_matrix = n * n;
    const char* name = index < per_matrix ? "A" : "B";
    const std::size_t within = index % per_matrix;
    return std::string(name) + " row " + std::to_string(within / n + 1) + ", column " + std::to_string(within % n + 1);
}

std::size_t read_size(Tokenizer& tokens, std::uint64_t memory_limit) {
    const std::string_view token = tokens.next();
    if (token.empty()) throw InputError("the input is empty: expected n, the size of the matrices, first");
    double value = 0;
    const NumberStatus status = parse_number(token, value);
    if (status == NumberStatus::not_a_number || status == NumberStatus::not_finite)
        throw InputError(tokens.where() + ": expected n, the size of the matrices, but " + shown(token) +
                         " is not a number");
    if (status == NumberStatus::ok && value != std::floor(value))
        throw InputError(tokens.where() + ": n must be a whole number, not " + shown(token));
    if ((status == NumberStatus::ok && value <= 0) || (status == NumberStatus::out_of_range && token[0] == '-'))
        throw InputError(tokens.where() + ": n must be at least 1, not " + shown(token));
    // Computed in double: bytes_needed would overflow for n above 2^28.
    const double needed = double(bytes_needed(1)) * value * value;
    if (status == NumberStatus::out_of_range || needed > double(memory_limit))
        throw InputError(tokens.where() + ": n = " + std::string(token) + " is too large: the matrices would need " +
                         (status == NumberStatus::ok ? human_bytes(needed) : std::string("more memory than exists")) +
                         " of memory, and this machine has " + human_bytes(double(memory_limit)));
    return static_cast<std::size_t>(value);
}

// One row of random numbers, as text.
void append_random_row(std::string& out, std::size_t n, std::mt19937_64& random) {
    for (std::size_t j = 0; j < n; ++j) {
        // Hundredths in [-1000, 1000]: the modulo keeps the sequence the same on every standard
        // library (std::uniform_int_distribution's is not specified).
        const long hundredths = static_cast<long>(random() % 2001) - 1000;
        const unsigned long magnitude = static_cast<unsigned long>(hundredths < 0 ? -hundredths : hundredths);
        if (j > 0) out += ' ';
        if (hundredths < 0) out += '-';
        out += std::to_string(magnitude / 100);
        out += '.';
        out += static_cast<char>('0' + magnitude % 100 / 10);
        out += static_cast<char>('0' + magnitude % 10);
    }
    out += '\n';
}

}  // namespace

std::uint64_t bytes_needed(std::uint64_t n) {
    // A and B as read, A and B in shared memory, the two Single results kept for the checks,
    // Single's and Multi's result: at most eight n x n matrices of doubles.
    return 8 * n * n * sizeof(double);
}

std::uint64_t physical_memory() {
    const long pages = ::sysconf(_SC_PHYS_PAGES);
    const long page_size = ::sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return UINT64_MAX;
    return static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size);
}

Input parse_input(std::string_view text, std::uint64_t memory_limit) {
    Tokenizer tokens(text);
    Input input;
    input.n = read_size(tokens, memory_limit);
    const std::size_t per_matrix = input.n * input.n;
    // Every number takes at least two bytes (a digit and a separator), so a short input cannot
    // make us reserve memory for a huge n before it is found to be too short.
    const std::size_t plausible = std::min(per_matrix, text.size() / 2 + 1);
    input.a.reserve(plausible);
    input.b.reserve(plausible);
    for (std::size_t index = 0; index < 2 * per_matrix; ++index) {
        const std::string_view token = tokens.next();
        if (token.empty()) {
            const std::size_t missing = 2 * per_matrix - index;
            const std::size_t missing_from_b = std::min(missing, per_matrix);
            const std::size_t missing_from_a = missing - missing_from_b;
            std::string which = "B is missing " + std::to_string(missing_from_b);
            if (missing_from_a > 0) which = "A is missing " + std::to_string(missing_from_a) + " and " + which;
            throw InputError("too few numbers: n = " + std::to_string(input.n) + " needs " +
                             std::to_string(2 * per_matrix) + " numbers after it (" + std::to_string(per_matrix) +
                             " for A, then " + std::to_string(per_matrix) + " for B), but the input has only " +
                             std::to_string(index) + " (" + which + ")");
        }
        double value = 0;
        switch (parse_number(token, value)) {
            case NumberStatus::ok:
                break;
            case NumberStatus::not_a_number:
                throw InputError(tokens.where() + ": " + shown(token) + " is not a number (expected " +
                                 element_name(index, input.n) + ")");
            case NumberStatus::not_finite:
                throw InputError(tokens.where() + ": " + shown(token) + " is not a finite number (expected " +
                                 element_name(index, input.n) + ")");
            case NumberStatus::out_of_range:
                throw InputError(tokens.where() + ": " + shown(token) + " is out of the range of a double (" +
                                 element_name(index, input.n) + ")");
        }
        (index < per_matrix ? input.a : input.b).push_back(value);
    }
    if (const std::string_view extra = tokens.next(); !extra.empty())
        throw InputError(tokens.where() + ": unexpected " + shown(extra) + ": n = " + std::to_string(input.n) +
                         " takes exactly " + std::to_string(2 * per_matrix) +
                         " numbers after it, and the input has more");
    return input;
}

std::string read_all(std::FILE* stream) {
    std::string text;
    std::array<char, 1 << 16> buffer;
    while (const std::size_t got = std::fread(buffer.data(), 1, buffer.size(), stream)) text.append(buffer.data(), got);
    if (std::ferror(stream)) throw std::runtime_error("cannot read the input");
    return text;
}

void write_random_input(std::FILE* out, std::size_t n, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    std::string text = std::to_string(n) + "\n";
    for (int matrix = 0; matrix < 2; ++matrix) {
        if (matrix == 1) text += '\n';
        for (std::size_t i = 0; i < n; ++i) {
            append_random_row(text, n, random);
            if (text.size() >= (1 << 20)) {
                if (std::fwrite(text.data(), 1, text.size(), out) != text.size())
                    throw std::runtime_error("cannot write the generated input");
                text.clear();
            }
        }
    }
    if (std::fwrite(text.data(), 1, text.size(), out) != text.size() || std::fflush(out) != 0)
        throw std::runtime_error("cannot write the generated input");
}

std::string random_input(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 random(seed);
    std::string text = std::to_string(n) + "\n";
    for (std::size_t i = 0; i < 2 * n; ++i) {
        if (i == n) text += '\n';
        append_random_row(text, n, random);
    }
    return text;
}

void add_rows(const double* a, const double* b, std::size_t n, std::size_t first_row, std::span<double> out) {
    const double* __restrict left = a + first_row * n;
    const double* __restrict right = b + first_row * n;
    double* __restrict result = out.data();
    for (std::size_t index = 0; index < out.size(); ++index) result[index] = left[index] + right[index];
}

// Tiles that keep the rows of B being used, and the result rows being summed, in the core's own L2
// cache (about 256 KiB each) while they are reused. The sums are kept in a 64-byte-aligned scratch
// tile, whatever the alignment of `out`: std::vector's memory is only 16-byte aligned, and a vector
// loop whose stores straddle cache lines runs up to a quarter slower, which would make the speed
// of Single and of each task depend on where malloc happened to put their results.
// None of this changes the operations on an element, or their order (k ascending).
// Compiled twice where the compiler can: for AVX2 and for any x86-64 (chosen when the program
// starts); both compute every element the same way, with separate multiplies and adds (no FMA:
// see -ffp-contract=off in matrix_core.cmake).
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define MATRIX_KERNEL_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef MATRIX_KERNEL_CLONES
#define MATRIX_KERNEL_CLONES
#endif

namespace {

constexpr std::size_t cache_line = 64;

struct FreeDeleter {
    void operator()(double* memory) const { std::free(memory); }
};

// `rows` rows of `stride` doubles, 64-byte aligned.
std::unique_ptr<double, FreeDeleter> aligned_rows(std::size_t rows, std::size_t stride) {
    auto* memory = static_cast<double*>(std::aligned_alloc(cache_line, rows * stride * sizeof(double)));
    if (memory == nullptr) throw std::bad_alloc();
    return std::unique_ptr<double, FreeDeleter>(memory);
}

}  // namespace

MATRIX_KERNEL_CLONES
void multiply_rows(const double* a, const double* b, std::size_t n, std::size_t first_row, std::span<double> out) {
    constexpr std::size_t tile_bytes = 256 * 1024;
    constexpr std::size_t line_doubles = cache_line / sizeof(double);
    const std::size_t rows = out.size() / n;
    if (rows == 0) return;
    const std::size_t tile = std::max<std::size_t>(1, tile_bytes / (n * sizeof(double)));  // rows per tile
    const std::size_t stride = (n + line_doubles - 1) / line_doubles * line_doubles;       // each row aligned
    const auto scratch = aligned_rows(std::min(tile, rows), stride);
    for (std::size_t i_tile = 0; i_tile < rows; i_tile += tile) {
        const std::size_t i_end = std::min(rows, i_tile + tile);
        std::fill(scratch.get(), scratch.get() + (i_end - i_tile) * stride, 0.0);
        for (std::size_t k_tile = 0; k_tile < n; k_tile += tile) {
            const std::size_t k_end = std::min(n, k_tile + tile);
            // i-k-j within the tiles.
            for (std::size_t i = i_tile; i < i_end; ++i) {
                double* __restrict sums = scratch.get() + (i - i_tile) * stride;
                const double* a_row = a + (first_row + i) * n;
                for (std::size_t k = k_tile; k < k_end; ++k) {
                    const double scale = a_row[k];
                    const double* __restrict b_row = b + k * n;
                    for (std::size_t j = 0; j < n; ++j) sums[j] += scale * b_row[j];
                }
            }
        }
        for (std::size_t i = i_tile; i < i_end; ++i)
            std::copy_n(scratch.get() + (i - i_tile) * stride, n, out.data() + i * n);
    }
}

std::vector<double> add(const double* a, const double* b, std::size_t n) {
    std::vector<double> out(n * n);
    add_rows(a, b, n, 0, out);
    return out;
}

std::vector<double> multiply(const double* a, const double* b, std::size_t n) {
    std::vector<double> out(n * n);
    multiply_rows(a, b, n, 0, out);
    return out;
}

double checksum(std::span<const double> values) {
    double sum = 0;
    for (double value : values) sum += value;
    return sum;
}

std::vector<RowBlock> split_rows(std::size_t n, std::size_t blocks) {
    blocks = std::clamp<std::size_t>(blocks, 1, std::max<std::size_t>(n, 1));
    std::vector<RowBlock> out;
    out.reserve(blocks);
    const std::size_t base = n / blocks, extra = n % blocks;
    std::size_t first = 0;
    for (std::size_t block = 0; block < blocks; ++block) {
        const std::size_t count = base + (block < extra ? 1 : 0);
        out.push_back({first, count});
        first += count;
    }
    return out;
}

}  // namespace matrix
