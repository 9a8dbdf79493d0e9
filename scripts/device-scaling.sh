#!/usr/bin/env bash
# The many-core check, in one run: a Pool of 16 workers (capped to the machine's cores) against
# Python's multiprocessing.Pool of as many on the same work. Prints one table (pool_bench's):
# the CPU-bound map's speedup over one core (target >= 14x with 16 workers, i.e. >= 0.9 x
# workers), the apply round trip and the map throughput of 10^6 ints, with first calls beside
# the medians.
#
#   scripts/device-scaling.sh              16 workers, or as many as there are cores
#   scripts/device-scaling.sh 32           another worker count (still capped to the cores)
#   scripts/device-scaling.sh 16 --quick   arguments after the count go to pool_bench
#
# Installs nothing beyond scripts/install-deps.sh's library part (MPROC_SKIP_DEPS=1: nothing);
# without /usr/bin/python3 the table has no Python column.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=build/release

workers=${1:-16}
shift || true
if ! [[ $workers =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/device-scaling.sh [WORKERS] [pool_bench arguments...]" >&2
  exit 2
fi
cores=$(nproc)
if (( workers > cores )); then
  echo "device-scaling: $workers workers asked, $cores cores here: running $cores"
  workers=$cores
fi
python_args=()
[[ -x /usr/bin/python3 ]] || python_args=(--no-python)

scripts/install-deps.sh library
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMPROC_BUILD_BENCHMARKS=ON \
  -DMPROC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" --parallel "$(( cores < 8 ? cores : 8 ))" --target pool_bench

echo "machine: $cores CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(uname -sr)," \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg); $workers workers"
"$build_dir/bench/pool_bench" --processes "$workers" "${python_args[@]}" "$@"
