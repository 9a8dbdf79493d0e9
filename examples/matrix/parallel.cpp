#include "parallel.hpp"

#include <stdexcept>
#include <string>

namespace matrix {
namespace {

void check(const BlockTask& task) {
    const std::uint64_t n = task.n;
    if (n == 0 || task.a.size() != n * n || task.b.size() != n * n || task.first_row > n ||
        task.row_count > n - task.first_row)
        throw std::invalid_argument("mproc-matrix: a task's rows " + std::to_string(task.first_row) + "+" +
                                    std::to_string(task.row_count) + " are not rows of its " +
                                    std::to_string(n) + " x " + std::to_string(n) + " operands");
}

using BlockFunction = std::vector<double> (*)(const BlockTask&);

BlockFunction block_function(Operation operation) {
    return operation == Operation::add ? &add_block : &multiply_block;
}

}  // namespace

std::vector<double> add_block(const BlockTask& task) {
    check(task);
    std::vector<double> rows(task.row_count * task.n);
    add_rows(task.a.data(), task.b.data(), task.n, task.first_row, rows);
    return rows;
}

std::vector<double> multiply_block(const BlockTask& task) {
    check(task);
    std::vector<double> rows(task.row_count * task.n);
    multiply_rows(task.a.data(), task.b.data(), task.n, task.first_row, rows);
    return rows;
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

std::vector<double> compute_single(Operation operation, const SharedOperands& operands) {
    return operation == Operation::add ? add(operands.a.data(), operands.b.data(), operands.n)
                                       : multiply(operands.a.data(), operands.b.data(), operands.n);
}

std::vector<double> compute_multi(mproc::Pool& pool, Method method, Operation operation,
                                  const SharedOperands& operands, std::size_t tasks) {
    const std::size_t n = operands.n;
    std::vector<BlockTask> blocks;
    for (const RowBlock& rows : split_rows(n, tasks))
        blocks.push_back({operands.a, operands.b, n, rows.first_row, rows.row_count});

    // The items are blocks already: one per task.
    const mproc::MapOptions one_block_per_task{.chunksize = 1};
    const BlockFunction function = block_function(operation);

    std::vector<double> result;
    result.reserve(n * n);
    const auto append = [&](const std::vector<double>& rows) { result.insert(result.end(), rows.begin(), rows.end()); };
    switch (method) {
        case Method::map:
            for (const auto& rows : pool.map(function, blocks, one_block_per_task)) append(rows);
            break;
        case Method::map_async: {
            // map_async returns at once; the work is done only when get() returns.
            auto pending = pool.map_async(function, blocks, one_block_per_task);
            for (const auto& rows : pending.get()) append(rows);
            break;
        }
        case Method::imap:
            // Blocks arrive in order, each as soon as it (and those before it) are done.
            for (const auto& rows : pool.imap(function, blocks, one_block_per_task)) append(rows);
            break;
    }
    if (result.size() != n * n)
        throw std::logic_error("mproc-matrix: the workers returned " + std::to_string(result.size()) +
                               " numbers instead of " + std::to_string(n * n));
    return result;
}

}  // namespace matrix
