#!/usr/bin/env bash
# Builds mproc (Release) into build/release and runs the main demo, the matrix program
# (docs/matrix.md): it generates two random 2300 x 2300 matrices (mulMat Single takes about a
# second on a 2-core machine) and times addMat and mulMat in one process and through a Pool.
# Arguments go to the demo (for example --processes 4, --method map, --json). It installs only
# the Debian packages the demo needs (scripts/install-deps.sh demo: a compiler, CMake, Ninja,
# cereal and CLI11). `cmake --install build/release` afterwards installs the library.
#
#   scripts/run-demo.sh
#   MPROC_DEMO_SIZE=1000 scripts/run-demo.sh  a smaller input
#   MPROC_SKIP_DEPS=1 scripts/run-demo.sh     skip the package check
set -euo pipefail

# The demo: a path under build/release/; its file name is also its CMake target.
demo=examples/matrix/mproc-matrix
size=${MPROC_DEMO_SIZE:-2300}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build_dir=build/release
target=$(basename "$demo")

scripts/install-deps.sh demo

echo "run-demo: configuring $build_dir (Release)"
mkdir -p "$build_dir"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMPROC_BUILD_EXAMPLES=ON -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_BENCHMARKS=OFF >"$build_dir/configure.log" 2>&1 ||
  { cat "$build_dir/configure.log" >&2; exit 1; }
echo "run-demo: building $target"
cmake --build "$build_dir" --target "$target" --parallel 2

echo "run-demo: $build_dir/$demo --generate $size | $build_dir/$demo $*"
"$build_dir/$demo" --generate "$size" | "$build_dir/$demo" "$@"
