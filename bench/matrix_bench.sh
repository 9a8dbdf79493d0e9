#!/usr/bin/env bash
# Runs mproc-matrix and its Python peer (bench/matrix_bench.py) on the same generated input and
# prints the ratios the matrix issue sets as targets:
#   1. mulMat's speedup with mproc (Single time / Multi time), on an input large enough that Single
#      takes about a second (target: at least 0.85 x the number of cores, on a quiet machine);
#   2. mulMat Multi of Python's multiprocessing over mulMat Multi of mproc, both on one smaller
#      input (pure Python needs half a minute for one 1000 x 1000 product; target: at least 100).
# Both programs check their Multi results against Single; the two programs' checksums must be
# equal too (they compute every element with the same operations in the same order).
#
# Each timing is the fastest of --repeat runs (default 3 for the large input, 2 for the Python
# comparison, the same for both programs), which filters out most interference from other programs;
# the load average before and after is printed too.
#
#   bench/matrix_bench.sh                      build/release, n = 2300, and n = 500 for Python
#   bench/matrix_bench.sh --n 2300 --python-n 700 --processes 2 --method all --repeat 3 --build build/release
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build/release
n=2300
python_n=500
processes=
method=map
repeat=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --python-n) python_n=$2; shift 2 ;;
    --processes) processes=$2; shift 2 ;;
    --method) method=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "matrix_bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

program=$build/examples/matrix/mproc-matrix
if [[ ! -x $program ]]; then
  echo "matrix_bench.sh: $program not found; build it first:" >&2
  echo "  cmake -S . -B $build -G Ninja -DCMAKE_BUILD_TYPE=Release && cmake --build $build --target mproc-matrix" >&2
  exit 2
fi
processes_option=()
[[ -n $processes ]] && processes_option=(--processes "$processes")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "matrix_bench: $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "matrix_bench: [1/2] mproc-matrix, n = $n, method all"
"$program" --generate "$n" >"$work/large.txt"
"$program" --json "${processes_option[@]}" --method all --repeat "$repeat" <"$work/large.txt" >"$work/large.json"

echo "matrix_bench: [2/2] mproc-matrix and bench/matrix_bench.py, n = $python_n, method $method"
"$program" --generate "$python_n" >"$work/small.txt"
python_repeat=$(( repeat > 2 ? 2 : repeat ))
"$program" --json "${processes_option[@]}" --method "$method" --repeat "$python_repeat" <"$work/small.txt" >"$work/mproc.json"
python3 bench/matrix_bench.py --json "${processes_option[@]}" --method "$method" --repeat "$python_repeat" \
  <"$work/small.txt" >"$work/python.json"

echo "matrix_bench: load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$work/large.json" "$work/mproc.json" "$work/python.json" <<'EOF'
import json, sys

large, mproc, python = (json.load(open(path)) for path in sys.argv[1:])
cores = large["cpu_count"]
failed = False

def verdict(value, target):
    global failed
    failed |= value < target
    return "met" if value >= target else "NOT met"

print(f"mulMat Single / Multi with mproc (n = {large['n']}, {large['processes']} processes, "
      f"{large['tasks']} tasks, {cores} cores, best of {large['repeat']}; target >= {0.85 * cores:.2f}):")
for method, timings in large["methods"].items():
    t = timings["mulMat"]
    print(f"  {method:10} Single {t['single']:.4f} s  Multi {t['multi']:.4f} s  speedup {t['speedup']:.2f}x  "
          f"{verdict(t['speedup'], 0.85 * cores)}")

print(f"\nmproc vs Python multiprocessing (n = {mproc['n']}, {mproc['processes']} processes, best of "
      f"{mproc['repeat']}, Python {python['python']}; target: mulMat Python Multi / mproc Multi >= 100):")
for method in mproc["methods"]:
    for operation in ("addMat", "mulMat"):
        ours, theirs = mproc["methods"][method][operation], python["methods"][method][operation]
        line = (f"  {operation} {method:10} Single: Python {theirs['single']:.4f} s / mproc {ours['single']:.6f} s"
                f" = {theirs['single'] / ours['single']:7.1f}x   Multi: Python {theirs['multi']:.4f} s / mproc "
                f"{ours['multi']:.6f} s = {theirs['multi'] / ours['multi']:7.1f}x")
        if operation == "mulMat":
            line += "  " + verdict(theirs["multi"] / ours["multi"], 100)
        print(line)

same = mproc["checksums"] == python["checksums"]
failed |= not same
print(f"\nchecksums: mproc {mproc['checksums']}  Python {python['checksums']}  "
      f"{'equal' if same else 'DIFFERENT'}")
sys.exit(1 if failed else 0)
EOF
