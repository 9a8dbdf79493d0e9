// Tests of mproc-matrix (examples/matrix): the input parser, the generator, the kernels, and
// Single == Multi (bit for bit, Multi's tasks writing their rows into a shared result) for every
// method on sizes that do and do not divide evenly.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <mproc/pool.hpp>
#include <mproc/shared.hpp>

#include "matrix.hpp"
#include "parallel.hpp"

namespace {

using matrix::InputError;
using matrix::Method;
using matrix::Operation;
using matrix::parse_input;

constexpr std::uint64_t plenty = std::uint64_t{1} << 40;

// The message of the InputError that parsing `text` throws; fails the test if it parses.
std::string error_of(const std::string& text, std::uint64_t memory_limit = plenty) {
    try {
        parse_input(text, memory_limit);
    } catch (const InputError& error) {
        return error.what();
    }
    ADD_FAILURE() << "parsed without error: " << text;
    return {};
}

bool same_bits(const std::vector<double>& x, const std::vector<double>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0;
}

// --- Parsing ---------------------------------------------------------------------------------

TEST(MatrixInput, ReadsIntegersAndDecimals) {
    const auto input = parse_input("2\n1 2\n3 4\n\n0.5 -1.25\n+3 1e2\n");
    EXPECT_EQ(input.n, 2u);
    EXPECT_EQ(input.a, (std::vector<double>{1, 2, 3, 4}));
    EXPECT_EQ(input.b, (std::vector<double>{0.5, -1.25, 3, 100}));
}

TEST(MatrixInput, AcceptsAnyWhitespaceLayout) {
    const auto input = parse_input("  1\r\n\t7   \n\n\n-8");
    EXPECT_EQ(input.n, 1u);
    EXPECT_EQ(input.a, std::vector<double>{7});
    EXPECT_EQ(input.b, std::vector<double>{-8});
}

TEST(MatrixInput, ReadsTheSameDoubleAsPython) {
    // Correctly rounded, as Python's float(): 0.1 is the double nearest to 1/10.
    const auto input = parse_input("1 0.1 3.14159");
    EXPECT_EQ(input.a[0], 0.1);
    EXPECT_EQ(input.b[0], 3.14159);
}

TEST(MatrixInput, RejectsEmptyInput) {
    EXPECT_NE(error_of("").find("empty"), std::string::npos);
    EXPECT_NE(error_of(" \n\t ").find("empty"), std::string::npos);
}

TEST(MatrixInput, RejectsASizeThatIsNotANumber) {
    const std::string message = error_of("three\n1 2 3");
    EXPECT_NE(message.find("token 1 (line 1)"), std::string::npos) << message;
    EXPECT_NE(message.find("'three'"), std::string::npos) << message;
}

TEST(MatrixInput, RejectsASizeBelowOne) {
    EXPECT_NE(error_of("0\n").find("n must be at least 1"), std::string::npos);
    EXPECT_NE(error_of("-3\n1 2 3").find("n must be at least 1"), std::string::npos);
}

TEST(MatrixInput, RejectsAFractionalSize) {
    EXPECT_NE(error_of("2.5\n1 2 3 4 5 6 7 8").find("whole number"), std::string::npos);
}

TEST(MatrixInput, RejectsASizeTooLargeForMemory) {
    // 1000 x 1000 needs 64 MB (eight matrices); allow only 1 MB.
    const std::string message = error_of("1000\n1 2 3", std::uint64_t{1} << 20);
    EXPECT_NE(message.find("too large"), std::string::npos) << message;
    EXPECT_NE(message.find("GiB"), std::string::npos) << message;
    EXPECT_NE(error_of("1e30\n1").find("too large"), std::string::npos);
    EXPECT_NE(error_of("1e999\n1").find("too large"), std::string::npos);
    // On this machine's real memory, too.
    EXPECT_NE(error_of("50000000\n1", matrix::physical_memory()).find("too large"), std::string::npos);
}

TEST(MatrixInput, NamesTheTokenLineAndElementOfANonNumber) {
    const std::string message = error_of("2\n1 2\n3 x\n5 6 7 8\n");
    EXPECT_NE(message.find("token 5 (line 3)"), std::string::npos) << message;
    EXPECT_NE(message.find("'x'"), std::string::npos) << message;
    EXPECT_NE(message.find("A row 2, column 2"), std::string::npos) << message;

    const std::string in_b = error_of("2\n1 2 3 4\n5 6 7 8,\n");
    EXPECT_NE(in_b.find("token 9 (line 3)"), std::string::npos) << in_b;
    EXPECT_NE(in_b.find("B row 2, column 2"), std::string::npos) << in_b;
}

TEST(MatrixInput, RejectsPartlyNumericTokens) {
    EXPECT_NE(error_of("1 3.5abc 1").find("'3.5abc' is not a number"), std::string::npos);
    EXPECT_NE(error_of("1 1,5 1").find("is not a number"), std::string::npos);
    EXPECT_NE(error_of("1 0x10 1").find("is not a number"), std::string::npos);
    EXPECT_NE(error_of("1 ++1 1").find("is not a number"), std::string::npos);
}

TEST(MatrixInput, RejectsNumbersThatAreNotFinite) {
    EXPECT_NE(error_of("1 inf 1").find("not a finite number"), std::string::npos);
    EXPECT_NE(error_of("1 1 nan").find("not a finite number"), std::string::npos);
    EXPECT_NE(error_of("1 1e999 1").find("out of the range"), std::string::npos);
}

TEST(MatrixInput, RejectsTooFewNumbers) {
    const std::string in_b = error_of("2\n1 2 3 4\n5 6\n");
    EXPECT_NE(in_b.find("too few numbers"), std::string::npos) << in_b;
    EXPECT_NE(in_b.find("has only 6"), std::string::npos) << in_b;
    EXPECT_NE(in_b.find("B is missing 2"), std::string::npos) << in_b;

    const std::string in_a = error_of("2\n1\n");
    EXPECT_NE(in_a.find("A is missing 3 and B is missing 4"), std::string::npos) << in_a;
    EXPECT_NE(error_of("3").find("too few numbers"), std::string::npos);
}

TEST(MatrixInput, RejectsTooManyNumbers) {
    const std::string message = error_of("1\n1\n2\n3\n");
    EXPECT_NE(message.find("token 4 (line 4)"), std::string::npos) << message;
    EXPECT_NE(message.find("unexpected '3'"), std::string::npos) << message;
}

TEST(MatrixInput, ShowsLongOrBinaryTokensSafely) {
    const std::string message = error_of("1 " + std::string(100, 'z') + " 1");
    EXPECT_NE(message.find("zzz...'"), std::string::npos) << message;
    EXPECT_LT(message.size(), 200u);
    EXPECT_NE(error_of(std::string("1 a\x01" "b 2")).find("'a?b'"), std::string::npos);
}

TEST(MatrixInput, GarbageIsEitherReadOrRefusedWithInputError) {
    // Random bytes, and random changes to a valid input: never a crash, never another exception.
    std::mt19937_64 random(42);
    const std::string valid = matrix::random_input(3, 1);
    const std::string alphabet = "0123456789 \n\t.-+eExinfa,\x01\xff";
    for (int round = 0; round < 2000; ++round) {
        std::string text = valid;
        if (round % 2 == 0) {
            text.resize(random() % 64);
            for (char& c : text) c = alphabet[random() % alphabet.size()];
        } else {
            for (int change = 0; change < 3; ++change) text[random() % text.size()] = alphabet[random() % alphabet.size()];
        }
        try {
            const auto input = parse_input(text, std::uint64_t{1} << 30);
            EXPECT_EQ(input.a.size(), input.n * input.n);
            EXPECT_EQ(input.b.size(), input.n * input.n);
        } catch (const InputError&) {
        }
    }
}

// --- Generation ------------------------------------------------------------------------------

TEST(MatrixGenerate, ProducesInputThatParsesBack) {
    const auto input = parse_input(matrix::random_input(9, 3));
    EXPECT_EQ(input.n, 9u);
    for (double value : input.a) {
        EXPECT_GE(value, -10.0);
        EXPECT_LE(value, 10.0);
    }
}

TEST(MatrixGenerate, SameSeedSameInput) {
    EXPECT_EQ(matrix::random_input(20, 5), matrix::random_input(20, 5));
    EXPECT_NE(matrix::random_input(20, 5), matrix::random_input(20, 6));
}

TEST(MatrixGenerate, WritesWhatRandomInputReturns) {
    std::FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    matrix::write_random_input(file, 300, 11);  // more than one write
    std::rewind(file);
    EXPECT_EQ(matrix::read_all(file), matrix::random_input(300, 11));
    std::fclose(file);
}

// --- Kernels and tasks ----------------------------------------------------------------------

TEST(MatrixKernels, AddAndMultiplyTwoByTwo) {
    const std::vector<double> a{1, 2, 3, 4}, b{5, 6, 7, 8};
    EXPECT_EQ(matrix::add(a.data(), b.data(), 2), (std::vector<double>{6, 8, 10, 12}));
    EXPECT_EQ(matrix::multiply(a.data(), b.data(), 2), (std::vector<double>{19, 22, 43, 50}));
}

TEST(MatrixKernels, RowsOfABlockAreTheRowsOfTheWhole) {
    const auto input = parse_input(matrix::random_input(13, 2));
    const auto whole = matrix::multiply(input.a.data(), input.b.data(), 13);
    std::vector<double> rows(4 * 13);
    matrix::multiply_rows(input.a.data(), input.b.data(), 13, 5, rows);
    EXPECT_EQ(0, std::memcmp(rows.data(), whole.data() + 5 * 13, rows.size() * sizeof(double)));
}

TEST(MatrixTasks, SplitRowsCoversEveryRowOnceInNearlyEqualBlocks) {
    for (std::size_t n : {1, 2, 7, 100, 101}) {
        for (std::size_t blocks : {1, 2, 3, 8, 200}) {
            const auto split = matrix::split_rows(n, blocks);
            EXPECT_EQ(split.size(), std::min(n, blocks));
            std::size_t next = 0, smallest = n, largest = 0;
            for (const auto& block : split) {
                EXPECT_EQ(block.first_row, next);
                next += block.row_count;
                smallest = std::min(smallest, block.row_count);
                largest = std::max(largest, block.row_count);
            }
            EXPECT_EQ(next, n);
            EXPECT_LE(largest - smallest, 1u);
        }
    }
}

TEST(MatrixTasks, BlockTaskTravelsAsHandles) {
    const matrix::SharedOperands operands(parse_input(matrix::random_input(64, 1)));
    const mproc::RawArray<double> result(64 * 64);
    const matrix::BlockTask task{operands.a, operands.b, result, 64, 0, 64};
    // Three descriptors and a few integers: no element of A, B or the result is in the message.
    std::vector<std::byte> bytes;
    mproc::Writer out(bytes);
    mproc::encode(out, task);
    EXPECT_EQ(out.fds().size(), 3u);
    EXPECT_LT(bytes.size(), 128u);
}

TEST(MatrixTasks, AWorkerRefusesATaskOutsideItsMatrices) {
    const matrix::SharedOperands operands(parse_input(matrix::random_input(4, 1)));
    mproc::Pool pool(1);
    const mproc::RawArray<double> result(4 * 4), small_result(3 * 3);
    const std::vector<matrix::BlockTask> rows_past_the_end{{operands.a, operands.b, result, 4, 3, 2}};
    const std::vector<matrix::BlockTask> result_too_small{{operands.a, operands.b, small_result, 4, 0, 3}};
    EXPECT_THROW(pool.map(&matrix::multiply_block, rows_past_the_end), std::invalid_argument);
    EXPECT_THROW(pool.map(&matrix::multiply_block, result_too_small), std::invalid_argument);
}

TEST(MatrixTasks, SingleAndMultiRefuseAResultOfTheWrongSize) {
    const matrix::SharedOperands operands(parse_input(matrix::random_input(4, 1)));
    mproc::Pool pool(1);
    mproc::RawArray<double> result(5 * 5);
    std::vector<double> single(3 * 3);
    EXPECT_THROW(matrix::compute_multi(pool, Method::map, Operation::multiply, operands, 2, result),
                 std::invalid_argument);
    EXPECT_THROW(matrix::compute_single(Operation::multiply, operands, single), std::invalid_argument);
}

TEST(MatrixTasks, ATaskWritesOnlyItsOwnRowsOfTheResult) {
    const matrix::SharedOperands operands(parse_input(matrix::random_input(6, 1)));
    mproc::Pool pool(1);
    mproc::RawArray<double> result(6 * 6);
    std::fill(result.begin(), result.end(), -1.0);
    const std::vector<matrix::BlockTask> tasks{{operands.a, operands.b, result, 6, 2, 3}};
    EXPECT_EQ(pool.map(&matrix::add_block, tasks), (std::vector<std::uint64_t>{3}));
    for (std::size_t index = 0; index < result.size(); ++index) {
        const std::size_t row = index / 6;
        const double expected = row >= 2 && row < 5 ? operands.a[index] + operands.b[index] : -1.0;
        EXPECT_EQ(result[index], expected) << "row " << row << ", column " << index % 6;
    }
}

// --- Single == Multi -------------------------------------------------------------------------

// (n, processes, tasks; 0 tasks means 4 per process)
class SingleEqualsMulti : public ::testing::TestWithParam<std::tuple<std::size_t, int, std::size_t>> {};

// The workers write the whole result in place into the shared array, bit for bit what Single
// computes; the array starts as not-a-number everywhere, so a row no task wrote fails.
TEST_P(SingleEqualsMulti, InPlaceMultiResultEqualsSingleForEveryMethodBitForBit) {
    const auto [n, processes, tasks_or_zero] = GetParam();
    const std::size_t tasks = tasks_or_zero ? tasks_or_zero : 4 * static_cast<std::size_t>(processes);
    const matrix::SharedOperands operands(parse_input(matrix::random_input(n, 1000 + n)));
    mproc::Pool pool(processes);
    std::vector<double> single(n * n);
    mproc::RawArray<double> multi(n * n);
    for (const Operation operation : {Operation::add, Operation::multiply}) {
        matrix::compute_single(operation, operands, single);
        EXPECT_TRUE(same_bits(single, operation == Operation::add
                                          ? matrix::add(operands.a.data(), operands.b.data(), n)
                                          : matrix::multiply(operands.a.data(), operands.b.data(), n)));
        for (const Method method : {Method::map, Method::map_async, Method::imap}) {
            std::fill(multi.begin(), multi.end(), std::nan(""));
            matrix::compute_multi(pool, method, operation, operands, tasks, multi);
            EXPECT_TRUE(same_bits(single, std::vector<double>(multi.begin(), multi.end())))
                << matrix::operation_name(operation) << " with " << matrix::method_name(method) << ", n = " << n;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Sizes, SingleEqualsMulti,
                         ::testing::Values(std::tuple{std::size_t{1}, 2, std::size_t{0}},   // 1x1, more tasks than rows
                                           std::tuple{std::size_t{2}, 3, std::size_t{0}},   // fewer rows than processes
                                           std::tuple{std::size_t{7}, 2, std::size_t{0}},   // 7 rows in 7 tasks
                                           std::tuple{std::size_t{31}, 2, std::size_t{0}},  // 31 rows in 8 tasks
                                           std::tuple{std::size_t{50}, 3, std::size_t{7}},  // 50 rows in 7 tasks
                                           std::tuple{std::size_t{64}, 2, std::size_t{1}},  // one task
                                           std::tuple{std::size_t{101}, 4, std::size_t{0}}));

}  // namespace
