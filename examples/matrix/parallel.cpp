#include "parallel.hpp"

#include <stdexcept>
#include <string>
#include <vector>

namespace matrix {
namespace {

void check(const BlockTask& task) {
    const std::uint64_t n = task.n;
    if (n == 0 || task.a.size() != n * n || task.b.size() != n * n || task.result.size() != n * n ||
        task.first_row > n || task.row_count > n - task.first_row)
        throw std::invalid_argument("mproc-matrix: a task's rows " + std::to_string(task.first_row) + "+" +
                                    std::to_string(task.row_count) + " are not rows of its " +
                                    std::to_string(n) + " x " + std::to_string(n) + " matrices");
}

void require_result_size(std::size_t size, std::size_t n) {
    if (size != n * n)
        throw std::invalid_argument("mproc-matrix: the result holds " + std::to_string(size) + " numbers instead of " +
                                    std::to_string(n * n));
}

// The task's rows of its result, where its worker writes them.
std::span<double> rows_of(BlockTask& task) {
    return task.result.span().subspan(task.first_row * task.n, task.row_count * task.n);
}

using BlockFunction = std::uint64_t (*)(BlockTask);

BlockFunction block_function(Operation operation) {
    return operation == Operation::add ? &add_block : &multiply_block;
}

}  // namespace

std::uint64_t add_block(BlockTask task) {
    check(task);
    add_rows(task.a.data(), task.b.data(), task.n, task.first_row, rows_of(task));
    return task.row_count;
}

std::uint64_t multiply_block(BlockTask task) {
    check(task);
    multiply_rows(task.a.data(), task.b.data(), task.n, task.first_row, rows_of(task));
    return task.row_count;
}

const char* operation_name(Operation operation) { return operation == Operation::add ? "addMat" : "mulMat"; }

const char* method_name(Method method) {
    switch (method) {
        case Method::map:
            return "map";
        case Method::map_async:
            return "map_async";
        case Method::imap:
            return "imap";
    }
    return "?";
}

void compute_single(Operation operation, const SharedOperands& operands, std::span<double> result) {
    require_result_size(result.size(), operands.n);
    if (operation == Operation::add)
        add_rows(operands.a.data(), operands.b.data(), operands.n, 0, result);
    else
        multiply_rows(operands.a.data(), operands.b.data(), operands.n, 0, result);
}

void compute_multi(mproc::Pool& pool, Method method, Operation operation, const SharedOperands& operands,
                   std::size_t tasks, mproc::RawArray<double>& result) {
    const std::size_t n = operands.n;
    require_result_size(result.size(), n);
    std::vector<BlockTask> blocks;
    for (const RowBlock& rows : split_rows(n, tasks))
        blocks.push_back({operands.a, operands.b, result, n, rows.first_row, rows.row_count});

    // The items are blocks already: one per task.
    const mproc::MapOptions one_block_per_task{.chunksize = 1};
    const BlockFunction function = block_function(operation);

    // Each task has written its rows into `result` by the time its count arrives.
    std::uint64_t rows_written = 0;
    switch (method) {
        case Method::map:
            for (const std::uint64_t rows : pool.map(function, blocks, one_block_per_task)) rows_written += rows;
            break;
        case Method::map_async: {
            // map_async returns at once; the work is done only when get() returns.
            auto pending = pool.map_async(function, blocks, one_block_per_task);
            for (const std::uint64_t rows : pending.get()) rows_written += rows;
            break;
        }
        case Method::imap:
            // Counts arrive in order, each as soon as its block (and those before it) are written:
            // the rows up to there may be used while later blocks are still being computed.
            for (const std::uint64_t rows : pool.imap(function, blocks, one_block_per_task)) rows_written += rows;
            break;
    }
    if (rows_written != n)
        throw std::logic_error("mproc-matrix: the workers wrote " + std::to_string(rows_written) + " rows instead of " +
                               std::to_string(n));
}

}  // namespace matrix
