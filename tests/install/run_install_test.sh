#!/usr/bin/env bash
# Builds and runs tests/install/consumer against mproc in one of four ways, in a fresh work
# directory. Registered with CTest by tests/install/CMakeLists.txt; it can also be run by hand:
#
#   tests/install/run_install_test.sh --mode=find_package --source-dir=. --build-dir=build/x \
#       --work-dir=/tmp/w --cxx=g++ --build-type=RelWithDebInfo [--generator=Ninja]
#
# Modes:
#   find_package      cmake --install the build tree into <work>/prefix, then find_package(mproc)
#   pkg_config        the same install, then $CXX -std=c++20 main.cpp $(pkg-config --cflags --libs mproc)
#   add_subdirectory  add_subdirectory(<source dir>) from the consumer project
#   fetch_content     FetchContent_Declare(mproc SOURCE_DIR <source dir>) + FetchContent_MakeAvailable
#   debian_package    cpack the build tree into libmproc-dev_*.deb, dpkg -i it, build the consumer
#                     against /usr with find_package and with pkg-config (and link an MPI example
#                     through mproc-mpi.pc where the package has it), then dpkg -r it, also on
#                     failure. Needs root and dpkg; exits 77 (skipped) without them, or when a
#                     libmproc-dev is already installed (it would be replaced, then removed).
#
# The consumer is compiled with -Wall -Wextra -Wpedantic -Werror: mproc's headers must not warn.
set -euo pipefail

mode='' source_dir='' build_dir='' work_dir='' cxx='' build_type='' generator='' make_program='' config=''
jobs=2
for argument in "$@"; do  # a later --cxx wins
  case "$argument" in
    --mode=*) mode=${argument#*=} ;;
    --source-dir=*) source_dir=${argument#*=} ;;
    --build-dir=*) build_dir=${argument#*=} ;;
    --work-dir=*) work_dir=${argument#*=} ;;
    --cxx=*) cxx=${argument#*=} ;;
    --build-type=*) build_type=${argument#*=} ;;
    --config=*) config=${argument#*=} ;;
    --generator=*) generator=${argument#*=} ;;
    --make-program=*) make_program=${argument#*=} ;;
    --jobs=*) jobs=${argument#*=} ;;
    *) echo "run_install_test.sh: unknown argument '$argument'" >&2; exit 2 ;;
  esac
done
for required in mode source_dir work_dir cxx; do
  if [[ -z ${!required} ]]; then echo "run_install_test.sh: --${required//_/-} is required" >&2; exit 2; fi
done

consumer_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/consumer" && pwd)
source_dir=$(cd "$source_dir" && pwd)

# A fresh directory every run: nothing from an earlier run (or an earlier mproc) can leak in.
# Left in place afterwards so that a failure can be inspected.
rm -rf "$work_dir"
mkdir -p "$work_dir"
work_dir=$(cd "$work_dir" && pwd)

warning_flags=(-Wall -Wextra -Wpedantic -Werror)
step() { echo "--- $*" >&2; }
run() { echo "+ $*" >&2; "$@"; }

install_mproc() {
  [[ -n $build_dir ]] || { echo "run_install_test.sh: --build-dir is required for $mode" >&2; exit 2; }
  step "installing mproc from $build_dir into $work_dir/prefix"
  local args=(--install "$build_dir" --prefix "$work_dir/prefix")
  [[ -n $config ]] && args+=(--config "$config")
  run cmake "${args[@]}" >"$work_dir/install.log" || { cat "$work_dir/install.log" >&2; return 1; }
  test -f "$work_dir/prefix/include/mproc/mproc.hpp"
}

configure_and_build_consumer() {
  local args=(-S "$consumer_dir" -B "$work_dir/consumer-build"
              "-DCMAKE_CXX_COMPILER=$cxx" "-DCMAKE_BUILD_TYPE=$build_type" "$@")
  [[ -n $generator ]] && args+=(-G "$generator")
  [[ -n $make_program ]] && args+=("-DCMAKE_MAKE_PROGRAM=$make_program")
  step "configuring the consumer ($mode)"
  run cmake "${args[@]}"
  step "building the consumer"
  run cmake --build "$work_dir/consumer-build" --parallel "$jobs"
}

run_consumer() {
  step "running $1"
  run "$1"
}

case "$mode" in
  find_package)
    install_mproc
    # Only the fresh prefix: an mproc installed elsewhere on the system must not be picked up.
    configure_and_build_consumer -DMPROC_CONSUMER_MODE=find_package "-DCMAKE_PREFIX_PATH=$work_dir/prefix" \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
    found_at=$(sed -n 's/^mproc_DIR:PATH=//p' "$work_dir/consumer-build/CMakeCache.txt")
    case "$found_at" in
      "$work_dir/prefix"/*) ;;
      *) echo "find_package found mproc at '$found_at', not in $work_dir/prefix" >&2; exit 1 ;;
    esac
    run_consumer "$work_dir/consumer-build/consumer"
    ;;
  pkg_config)
    install_mproc
    pc_file=$(find "$work_dir/prefix" -name mproc.pc -print -quit)
    [[ -n $pc_file ]] || { echo "no mproc.pc under $work_dir/prefix" >&2; exit 1; }
    PKG_CONFIG_PATH=$(dirname "$pc_file")
    export PKG_CONFIG_PATH
    unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
    step "pkg-config reports: version $(pkg-config --modversion mproc); $(pkg-config --cflags --libs mproc)"
    # Word splitting of pkg-config's output is intended.
    # shellcheck disable=SC2046
    run "$cxx" -std=c++20 "${warning_flags[@]}" -o "$work_dir/consumer" "$consumer_dir/main.cpp" $(pkg-config --cflags --libs mproc)
    run_consumer "$work_dir/consumer"
    ;;
  add_subdirectory|fetch_content)
    configure_and_build_consumer "-DMPROC_CONSUMER_MODE=$mode" "-DMPROC_SOURCE_DIR=$source_dir"
    run_consumer "$work_dir/consumer-build/consumer"
    ;;
  debian_package)
    skip() { echo "install test $mode: skipped: $*"; exit 77; }
    [[ $(id -u) -eq 0 ]] || skip "dpkg -i needs root"
    command -v dpkg >/dev/null && command -v dpkg-deb >/dev/null || skip "dpkg is not installed"
    command -v pkg-config >/dev/null || skip "pkg-config is not installed"
    [[ -n $build_dir ]] || { echo "run_install_test.sh: --build-dir is required for $mode" >&2; exit 2; }
    if dpkg-query -W -f='${Status}' libmproc-dev 2>/dev/null | grep -q 'install ok installed'; then
      skip "libmproc-dev is already installed on this machine; not replacing it"
    fi
    step "building the package with cpack"
    cpack_args=(--config "$build_dir/CPackConfig.cmake" -G DEB -B "$work_dir/package")
    [[ -n $config ]] && cpack_args+=(-C "$config")
    run cpack "${cpack_args[@]}" >"$work_dir/cpack.log" 2>&1 || { cat "$work_dir/cpack.log" >&2; exit 1; }
    deb=$(find "$work_dir/package" -maxdepth 1 -name 'libmproc-dev_*.deb' -print -quit)
    [[ -n $deb ]] || { echo "cpack made no libmproc-dev_*.deb in $work_dir/package" >&2; exit 1; }
    run dpkg-deb --info "$deb"
    dpkg-deb --contents "$deb" >"$work_dir/contents.txt"
    for expected in /usr/include/mproc/mproc.hpp /libmproc.a /mproc/mprocConfig.cmake /mproc.pc; do
      grep -q -- "$expected\$" "$work_dir/contents.txt" || { echo "the package lacks $expected" >&2; exit 1; }
    done

    trap 'step "removing libmproc-dev"; dpkg -r libmproc-dev >&2 || true' EXIT
    step "installing $deb"
    run dpkg -i "$deb"

    # find_package, with nothing pointing at the package: it must be found in /usr.
    configure_and_build_consumer -DMPROC_CONSUMER_MODE=find_package \
      -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF
    found_at=$(sed -n 's/^mproc_DIR:PATH=//p' "$work_dir/consumer-build/CMakeCache.txt")
    [[ $found_at == /usr/* ]] || { echo "find_package found mproc at '$found_at', not in /usr" >&2; exit 1; }
    run_consumer "$work_dir/consumer-build/consumer"

    # pkg-config, with its default search path only.
    unset PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
    step "pkg-config reports: version $(pkg-config --modversion mproc); $(pkg-config --cflags --libs mproc)"
    # shellcheck disable=SC2046
    run "$cxx" -std=c++20 "${warning_flags[@]}" -o "$work_dir/consumer-pc" "$consumer_dir/main.cpp" $(pkg-config --cflags --libs mproc)
    run_consumer "$work_dir/consumer-pc"
    if grep -q '/mproc-mpi.pc$' "$work_dir/contents.txt"; then
      step "mproc-mpi.pc: $(pkg-config --cflags --libs mproc-mpi)"
      # Linked, not run: it needs mpirun (tests/mpi runs it).
      # shellcheck disable=SC2046
      run "$cxx" -std=c++20 "${warning_flags[@]}" -o "$work_dir/mpi-consumer" "$source_dir/examples/mpi_pool_map.cpp" $(pkg-config --cflags --libs mproc-mpi)
    fi
    ;;
  *)
    echo "run_install_test.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
echo "install test $mode: passed"
