#!/usr/bin/env bash
# Installs the Debian 12 packages mproc needs, for the parts named (default: all of them).
# Idempotent: packages already installed are left alone, and `apt-get update` runs only when
# something is missing. Runs as root, or through sudo when it is available.
#
#   scripts/install-deps.sh                  everything: build, test, fuzz, benchmark, demos
#   scripts/install-deps.sh library          only what building and installing the library needs
#   scripts/install-deps.sh demo             the library and the matrix demo (scripts/run-demo.sh)
#   scripts/install-deps.sh --check [PARTS]  only report what is missing (exit 1 if anything is)
#   MPROC_SKIP_DEPS=1 ...                    do nothing (for machines set up some other way)
set -euo pipefail

library=(
  build-essential cmake ninja-build pkg-config   # toolchain (pkg-config: mproc.pc's users)
  libcereal-dev                                  # serialization (mproc's public headers use it)
  libssl-dev                                     # HMAC of mproc::connection's authkey handshake
)
demo=(libcli11-dev)                              # the matrix demo's command line
all=(
  "${library[@]}" "${demo[@]}"
  libgtest-dev libgmock-dev                      # tests
  doxygen                                        # the API reference (scripts/build-reference.sh)
  libbenchmark-dev                               # benchmarks
  libboost-dev                                   # Boost.Interprocess, a peer of shared_bench
  libfmt-dev                                     # examples and tools
  clang libclang-rt-14-dev                       # libFuzzer and clang's sanitizer runtimes
  python3 gnuplot-nox                            # peer scripts and plots of the benchmarks
  libopenmpi-dev openmpi-bin python3-mpi4py      # the MPI backend and its Python peer
  python3-joblib python3-pebble                  # loky and pebble: peers of the futures benchmark
  iproute2                                       # the MPI test across two network namespaces
)

check_only=0
parts=()
for argument in "$@"; do
  case "$argument" in
    --check) check_only=1 ;;
    library|demo|all) parts+=("$argument") ;;
    *) echo "install-deps: unknown argument '$argument' (parts: library demo all)" >&2; exit 2 ;;
  esac
done
[[ ${#parts[@]} -eq 0 ]] && parts=(all)
packages=()
for part in "${parts[@]}"; do
  case "$part" in
    library) packages+=("${library[@]}") ;;
    demo) packages+=("${library[@]}" "${demo[@]}") ;;
    all) packages+=("${all[@]}") ;;
  esac
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)

if [[ ${MPROC_SKIP_DEPS:-0} == 1 ]]; then
  echo "install-deps: MPROC_SKIP_DEPS=1, not checking packages"
  exit 0
fi

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$package")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi
echo "install-deps: missing: ${missing[*]}"
if [[ $check_only == 1 ]]; then
  exit 1
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: not root and sudo is not available; install these as root:" >&2
  echo "  apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
