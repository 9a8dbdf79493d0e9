#!/usr/bin/env bash
# Builds the benchmarks (Release) and runs them, each side by side with Python's multiprocessing
# on the same work. Prints one table per benchmark, and draws the scaling benchmark's curves into
# docs/scaling-*.png (see docs/performance.md). Arguments go to every benchmark.
#
#   scripts/run-benchmarks.sh                 2 processes, full runs
#   scripts/run-benchmarks.sh --processes 8   more workers (for a machine with more cores)
#   scripts/run-benchmarks.sh --quick         shorter runs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=build/release

scripts/install-deps.sh
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMPROC_BUILD_BENCHMARKS=ON \
  -DMPROC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --parallel 2 --target pool_bench futures_bench shared_bench shared_dict_bench manager_bench \
  shareable_list_bench connection_bench \
  start_method_bench scaling_bench mproc-matrix
cmake --build "$build_dir" --parallel 2 --target mpi_bench 2>/dev/null || echo "(no MPI: mpi_bench not built)"

echo "machine: $(nproc) CPUs, $(uname -sr), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$build_dir/bench/pool_bench" "$@"
"$build_dir/bench/futures_bench" "$@"
"$build_dir/bench/shared_bench" "$@"
"$build_dir/bench/shared_dict_bench" "$@"
"$build_dir/bench/manager_bench" "$@"
"$build_dir/bench/shareable_list_bench" "$@"
"$build_dir/bench/connection_bench" "$@"
"$build_dir/bench/start_method_bench" "$@"
if [[ -x $build_dir/bench/mpi_bench ]]; then "$build_dir/bench/mpi_bench" "$@"; fi
# The matrix demo against Python's Pool.map (its own arguments: n = 420 and 2300, 2 processes).
bench/matrix_bench.sh --build "$build_dir"
"$build_dir/bench/scaling_bench" --data-dir "$build_dir/scaling" "$@"
if command -v gnuplot >/dev/null; then
  gnuplot -e "data='$build_dir/scaling'; out='docs'" bench/scaling_plots.gp
  echo "plots of the scaling benchmark: docs/scaling-*.png (data: $build_dir/scaling)"
else
  echo "gnuplot not found (scripts/install-deps.sh installs it): plots not drawn; data in $build_dir/scaling"
fi
