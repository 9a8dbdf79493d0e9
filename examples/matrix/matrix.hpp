// examples/matrix/matrix.hpp: the parts of mproc-matrix that do not involve other processes:
// reading the input, generating a random one, and the two kernels.
//
// Matrices are n x n, row-major, in one contiguous block of doubles. The kernels compute a block
// of rows of the result, so that a single process (all rows) and a pool task (some rows) run the
// very same code: every element of a result is computed by the same sequence of floating-point
// operations however the rows are split, and results can be compared bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace matrix {

// Bad input: the message says what is wrong and where (token number and line).
class InputError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The two operands read from the input.
struct Input {
    std::size_t n = 0;
    std::vector<double> a;  // n * n, row-major
    std::vector<double> b;
};

// Bytes of memory the program needs for matrices of size n: the operands (read, then copied into
// shared memory), the Single results and the Multi result.
std::uint64_t bytes_needed(std::uint64_t n);

// This machine's physical memory, in bytes.
std::uint64_t physical_memory();

// Parses "n, then the n*n numbers of A row by row, then the n*n numbers of B", separated by any
// whitespace. Numbers are integers or decimals ("3", "-2.5", "1e-3", "+7"); they must be finite.
// n must be a whole number >= 1 whose matrices fit in `memory_limit` bytes (see bytes_needed).
// Throws InputError naming the problem: a token that is not a number (with its token number,
// line, and which element it was meant to be), too few numbers, too many, n <= 0, n too large.
Input parse_input(std::string_view text, std::uint64_t memory_limit = physical_memory());

// Everything readable from `stream` (standard input), as one string.
std::string read_all(std::FILE* stream);

// Writes a random input of size n in the format parse_input reads: n on the first line, then the
// rows of A, an empty line, the rows of B. Numbers are decimals with two digits after the point
// in [-10, 10]; the same seed gives the same input on every machine.
void write_random_input(std::FILE* out, std::size_t n, std::uint64_t seed);
std::string random_input(std::size_t n, std::uint64_t seed);

// --- Kernels ---------------------------------------------------------------------------------
// Rows [first_row, first_row + out.size() / n) of the result, written to `out`.

// out = A + B on those rows.
void add_rows(const double* a, const double* b, std::size_t n, std::size_t first_row, std::span<double> out);

// out = A * B on those rows, i-k-j order: for each row i and each k, row k of B scaled by A[i][k]
// is added to row i of the result; the innermost loop walks B and the result contiguously. The
// loops over i and k are tiled so that the rows in use stay in the core's cache (which is also
// what lets two cores run it side by side without waiting on shared memory bandwidth).
// Element (i, j) is ((0 + A[i][0] B[0][j]) + A[i][1] B[1][j]) + ..., in that order, always.
void multiply_rows(const double* a, const double* b, std::size_t n, std::size_t first_row, std::span<double> out);

// The whole result in one process.
std::vector<double> add(const double* a, const double* b, std::size_t n);
std::vector<double> multiply(const double* a, const double* b, std::size_t n);

// The sum of all elements in row-major order, one addition after another: two results with the
// same bits have the same checksum, whatever language computed them (bench/matrix_bench.py
// computes it the same way).
double checksum(std::span<const double> values);

// --- Tasks -----------------------------------------------------------------------------------

// Rows [first_row, first_row + row_count).
struct RowBlock {
    std::size_t first_row = 0;
    std::size_t row_count = 0;
};

// Splits n rows into `blocks` consecutive blocks whose sizes differ by at most one row (the first
// n % blocks blocks get one more). Never more blocks than rows; at least one block.
std::vector<RowBlock> split_rows(std::size_t n, std::size_t blocks);

}  // namespace matrix
