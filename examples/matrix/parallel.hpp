// examples/matrix/parallel.hpp: addMat and mulMat through an mproc::Pool, the way mproc
// recommends for speed.
//
// Sharing: the operands are copied once into shared memory, two mproc::RawArray<double> (read
// only, so they need no lock), and the result is a third RawArray<double> that the caller creates
// once and reuses. A task is a BlockTask: the three arrays' handles and a block of rows. A handle
// travels as a file descriptor and the worker maps the very same memory (and keeps it mapped for
// the next task), so a task is a few dozen bytes whatever n is: no number of A or B is copied into
// a task, and no number of the result is copied back.
//
// Results: each task writes its rows straight into their place in the shared result and returns
// only how many rows it wrote. Tasks write disjoint rows, so the result needs no lock. The pool may
// have been created before the arrays: nothing depends on what the workers inherited.
// See docs/matrix.md for why, and for what it costs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

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

// One task: rows [first_row, first_row + row_count) of A+B or A*B, written into the same rows of
// `result` (n x n, row-major).
struct BlockTask {
    mproc::RawArray<double> a;
    mproc::RawArray<double> b;
    mproc::RawArray<double> result;
    std::uint64_t n = 0;
    std::uint64_t first_row = 0;
    std::uint64_t row_count = 0;
};

// What runs in the workers: the rows of the block, computed by the same kernels as Single and
// written into task.result. Returns the number of rows written.
// Throw std::invalid_argument if the task does not describe rows of n x n matrices.
std::uint64_t add_block(BlockTask task);
std::uint64_t multiply_block(BlockTask task);

enum class Operation { add, multiply };
enum class Method { map, map_async, imap };

const char* operation_name(Operation operation);  // "addMat", "mulMat"
const char* method_name(Method method);           // "map", "map_async", "imap"

// The whole result, computed in this process into `result` (n * n elements).
void compute_single(Operation operation, const SharedOperands& operands, std::span<double> result);

// The whole result, computed by the pool's workers in `tasks` blocks of rows (at most n), each
// written by its worker into its rows of `result` (n * n elements), through pool.map,
// pool.map_async(...).get() or pool.imap. Returns once every block has been written.
void compute_multi(mproc::Pool& pool, Method method, Operation operation, const SharedOperands& operands,
                   std::size_t tasks, mproc::RawArray<double>& result);

}  // namespace matrix

// How a BlockTask crosses to a worker: the three arrays (as descriptors), then three integers.
template <>
struct mproc::Codec<matrix::BlockTask> {
    static void encode(Writer& out, const matrix::BlockTask& task) {
        mproc::encode(out, task.a);
        mproc::encode(out, task.b);
        mproc::encode(out, task.result);
        out.write_value(task.n);
        out.write_value(task.first_row);
        out.write_value(task.row_count);
    }
    static matrix::BlockTask decode(Reader& in) {
        // Braced initialization evaluates its elements in order.
        return matrix::BlockTask{mproc::decode<RawArray<double>>(in), mproc::decode<RawArray<double>>(in),
                                 mproc::decode<RawArray<double>>(in), in.read_value<std::uint64_t>(),
                                 in.read_value<std::uint64_t>(), in.read_value<std::uint64_t>()};
    }
};
