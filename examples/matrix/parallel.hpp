// examples/matrix/parallel.hpp: addMat and mulMat through an mproc::Pool, the way mproc
// recommends.
//
// Sharing: the operands are copied once into shared memory, two mproc::RawArray<double> (read
// only, so they need no lock). A task is a BlockTask: the two arrays' handles and a block of rows.
// A handle travels as a file descriptor and the worker maps the very same memory, so a task is a
// few dozen bytes whatever n is, and no number of A or B is ever copied into a task. The pool may
// have been created before the arrays: nothing depends on what the workers inherited.
//
// Results: each task returns its block of rows by value (a std::vector<double>, sent back as one
// block of bytes) and the parent puts the blocks together. See docs/matrix.md for why this rather
// than writing into a shared result array.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <mproc/pool.hpp>
#include <mproc/serialize.hpp>
#include <mproc/shared.hpp>

#include "matrix.hpp"

namespace matrix {

// A and B in shared memory.
struct SharedOperands {
    explicit SharedOperands(const Input& input) : n(input.n), a(input.a), b(input.b) {}

    std::size_t n;
    mproc::RawArray<double> a;
    mproc::RawArray<double> b;
};

// One task: rows [first_row, first_row + row_count) of A+B or A*B.
struct BlockTask {
    mproc::RawArray<double> a;
    mproc::RawArray<double> b;
    std::uint64_t n = 0;
    std::uint64_t first_row = 0;
    std::uint64_t row_count = 0;
};

// What runs in the workers: the rows of the block, computed by the same kernels as Single.
// Throw std::invalid_argument if the task does not describe rows of n x n operands.
std::vector<double> add_block(const BlockTask& task);
std::vector<double> multiply_block(const BlockTask& task);

enum class Operation { add, multiply };
enum class Method { map, map_async, imap };

const char* operation_name(Operation operation);  // "addMat", "mulMat"
const char* method_name(Method method);           // "map", "map_async", "imap"

// The whole result, computed in the single process.
std::vector<double> compute_single(Operation operation, const SharedOperands& operands);

// The whole result, computed by the pool's workers in `tasks` blocks of rows (at most n), through
// pool.map, pool.map_async(...).get() or pool.imap. Returns once every block has arrived.
std::vector<double> compute_multi(mproc::Pool& pool, Method method, Operation operation,
                                  const SharedOperands& operands, std::size_t tasks);

}  // namespace matrix

// How a BlockTask crosses to a worker: the two arrays (as descriptors), then three integers.
template <>
struct mproc::Codec<matrix::BlockTask> {
    static void encode(Writer& out, const matrix::BlockTask& task) {
        mproc::encode(out, task.a);
        mproc::encode(out, task.b);
        out.write_value(task.n);
        out.write_value(task.first_row);
        out.write_value(task.row_count);
    }
    static matrix::BlockTask decode(Reader& in) {
        // Braced initialization evaluates its elements in order.
        return matrix::BlockTask{mproc::decode<RawArray<double>>(in), mproc::decode<RawArray<double>>(in),
                                 in.read_value<std::uint64_t>(), in.read_value<std::uint64_t>(),
                                 in.read_value<std::uint64_t>()};
    }
};
