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
set -euo pipefail

mode='' source_dir='' build_dir='' work_dir='' cxx='' build_type='' generator='' make_program='' config=''
jobs=2
for argument in "$@"; do
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
    run "$cxx" -std=c++20 -o "$work_dir/consumer" "$consumer_dir/main.cpp" $(pkg-config --cflags --libs mproc)
    run_consumer "$work_dir/consumer"
    ;;
  add_subdirectory|fetch_content)
    configure_and_build_consumer "-DMPROC_CONSUMER_MODE=$mode" "-DMPROC_SOURCE_DIR=$source_dir"
    run_consumer "$work_dir/consumer-build/consumer"
    ;;
  *)
    echo "run_install_test.sh: unknown mode '$mode'" >&2
    exit 2
    ;;
esac
echo "install test $mode: passed"
