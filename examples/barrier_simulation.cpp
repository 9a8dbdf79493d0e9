// A simulation stepped with a Barrier: each process owns a slice of a 1-D heat-diffusion grid.
// In every step all processes read the current grid, write their slice of the next one, and wait
// at the barrier; the barrier's action (run by one process per step) swaps the grids.
//
//   Python: barrier = Barrier(parties, action=swap); ... barrier.wait()
#include <cmath>
#include <cstdio>
#include <vector>

#include <mproc/mproc.hpp>

constexpr std::size_t cells = 64;
constexpr int workers = 4;
constexpr int steps = 200;

// Both grids and which one is current live in shared memory; the action is a plain function, so
// it reaches them through a handle every process inherited.
mproc::RawArray<double>* grids = nullptr;      // 2 * cells values
mproc::RawValue<int>* current = nullptr;       // 0 or 1

void swap_grids() { current->value() = 1 - current->value(); }

void simulate(int worker, mproc::Barrier barrier) {
    const std::size_t first = cells / workers * static_cast<std::size_t>(worker);
    const std::size_t last = first + cells / workers;
    for (int step = 0; step < steps; ++step) {
        const double* now = grids->data() + cells * static_cast<std::size_t>(current->value());
        double* next = grids->data() + cells * static_cast<std::size_t>(1 - current->value());
        for (std::size_t i = first; i < last; ++i) {
            const double left = i > 0 ? now[i - 1] : now[i];
            const double right = i + 1 < cells ? now[i + 1] : now[i];
            next[i] = now[i] + 0.25 * (left - 2 * now[i] + right);
        }
        barrier.wait();  // everyone has written `next`; the action made it current
    }
}

int main() {
    mproc::RawArray<double> grid_storage(2 * cells);
    mproc::RawValue<int> current_storage(0);
    grids = &grid_storage;
    current = &current_storage;
    grid_storage[cells / 2] = 1000.0;  // a hot spot in the middle

    mproc::Barrier barrier(workers, &swap_grids);
    std::vector<mproc::Process> processes;
    for (int w = 0; w < workers; ++w) processes.emplace_back(simulate, w, barrier);
    for (auto& p : processes) p.start();
    for (auto& p : processes) p.join();

    const double* result = grid_storage.data() + cells * static_cast<std::size_t>(current_storage.value());
    double total = 0;
    for (std::size_t i = 0; i < cells; ++i) total += result[i];
    std::printf("after %d steps: total heat %.6f, centre %.3f, edge %.6f\n", steps, total, result[cells / 2],
                result[0]);
    // Heat is conserved (the edges reflect), and has spread out from the centre.
    return std::abs(total - 1000.0) < 1e-6 && result[cells / 2] < 1000.0 && result[0] > 0 ? 0 : 1;
}
