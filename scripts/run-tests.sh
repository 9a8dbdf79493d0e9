#!/usr/bin/env bash
# Builds and runs mproc's whole test suite in several configurations, each in its own build
# directory, and prints a summary. Exits non-zero if any configuration fails.
#
#   scripts/run-tests.sh                 all configurations
#   scripts/run-tests.sh -R Process      extra arguments go to every ctest run
#
# Configurations (MPROC_TEST_CONFIGS, default "release asan tsan fuzz"):
#   release  build/relwithdebinfo  RelWithDebInfo; unit, process and install tests; then the API
#                                  reference (scripts/build-reference.sh: no doxygen warning)
#   asan     build/asan            -DMPROC_SANITIZE=address,undefined at -O1 (install tests skipped)
#   tsan     build/tsan            -DMPROC_SANITIZE=thread at -O1: the multi-threaded parts (result
#                                  states, pool engines, ThreadPool, rings, shared objects in
#                                  tasks, the Manager's server, SharedDict, connection::wait)
#   fuzz     build/fuzz            clang + libFuzzer: mproc_fuzz_decode, mproc_fuzz_connection, then
#                                  mproc_fuzz_manager, each for MPROC_FUZZ_SECONDS; skipped with a message if the
#                                  project defines no such target
#
# Other knobs:
#   MPROC_JOBS=2            build and ctest parallelism
#   MPROC_TEST_TIMEOUT=300  ctest timeout for tests that do not set their own
#   MPROC_FUZZ_SECONDS=30   how long each fuzzer runs
#   MPROC_FRESH=1           configure from scratch (cmake --fresh)
#   MPROC_SKIP_DEPS=1       do not check for Debian packages
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
repo=$(pwd)

configs=${MPROC_TEST_CONFIGS:-release asan tsan fuzz}
jobs=${MPROC_JOBS:-2}
test_timeout=${MPROC_TEST_TIMEOUT:-300}
fuzz_seconds=${MPROC_FUZZ_SECONDS:-30}
ctest_args=("$@")

fresh=()
[[ ${MPROC_FRESH:-0} == 1 ]] && fresh=(--fresh)

# ASan/UBSan settings for everything run from an instrumented build (ctest, test discovery at
# build time, the fuzzer). Forked children inherit them. Children leave through _exit, so leaks
# are normally checked once, in the process that started the test.
#   abort_on_error: a child that hits a sanitizer error dies of SIGABRT (exit code -6), which a
#     test cannot mistake for the exit code 1 of a target that threw.
#   allocator_may_return_null: a huge allocation is a std::bad_alloc, as without ASan.
#   handle_segv/sigbus/sigfpe=0 (tests only): process tests crash children on purpose and check
#     that the parent sees the signal (exit code -11, WorkerCrashed); ASan's handlers would turn
#     those deaths into SIGABRT. Bad accesses are still caught by ASan's checks before they fault.
# Options already set by the caller come last and win.
asan_options="detect_leaks=1:halt_on_error=1:abort_on_error=1:disable_coredump=1"
asan_options+=":detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
asan_options+=":allocator_may_return_null=1:print_summary=1"
ubsan_options="print_stacktrace=1:halt_on_error=1:abort_on_error=1:print_summary=1"
test_signal_options=":handle_segv=0:handle_sigbus=0:handle_sigfpe=0"
sanitizer_env=(
  "ASAN_OPTIONS=${asan_options}${test_signal_options}${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  "UBSAN_OPTIONS=${ubsan_options}${test_signal_options}${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
)
# The fuzzer keeps ASan's signal handlers: a crash gets a full report and its input is saved.
fuzz_sanitizer_env=(
  "ASAN_OPTIONS=${asan_options}${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  "UBSAN_OPTIONS=${ubsan_options}${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
)
# Runs a command (or one of the functions here) with the sanitizer settings.
with_sanitizer_env() { (export "${sanitizer_env[@]}"; "$@"); }
with_fuzz_sanitizer_env() { (export "${fuzz_sanitizer_env[@]}"; "$@"); }

summary=()
failures=0
now() { date +%s; }
banner() { printf '\n==== %s ====\n' "$*"; }
# record NAME RESULT STARTED [NOTE]
record() {
  local elapsed=$(($(now) - $3))
  summary+=("$(printf '%-8s %-7s %5ss  %s' "$1" "$2" "$elapsed" "${4:-}")")
  [[ $2 == FAILED ]] && failures=$((failures + 1))
  return 0
}

# configure DIR CMAKE_ARGS...
configure() {
  local dir=$1
  shift
  echo "+ cmake -S . -B $dir -G Ninja ${fresh[*]} $*"
  cmake -S . -B "$dir" -G Ninja "${fresh[@]}" "$@"
}

build() {
  echo "+ cmake --build $1 --parallel $jobs ${*:2}"
  cmake --build "$1" --parallel "$jobs" "${@:2}"
}

run_ctest() {
  rm -f "$1/failed-rerun.log"
  echo "+ ctest --test-dir $1 --output-on-failure -j$jobs --timeout $test_timeout ${ctest_args[*]}"
  ctest --test-dir "$1" --output-on-failure -j"$jobs" --timeout "$test_timeout" "${ctest_args[@]}"
}

# After a failed ctest run in $1: prints the failed tests' names for the summary, and runs them
# once more with their output saved to $1/failed-rerun.log, which is printed after the summary,
# where a truncated log still shows it. The rerun tells whether a failure repeats; it never turns
# a failure into a pass.
report_failures() {
  local dir=$1 failed rerun=repeated
  failed=$(sed 's/^[0-9]*://' "$dir/Testing/Temporary/LastTestsFailed.log" 2>/dev/null | tr '\n' ' ')
  ctest --test-dir "$dir" --rerun-failed --output-on-failure --timeout "$test_timeout" \
    >"$dir/failed-rerun.log" 2>&1 && rerun="passed when run again"
  echo "failed: ${failed:-?}(${rerun})"
}

# Prints "N tests" for a build directory, for the summary.
count_tests() {
  local count
  count=$(ctest --test-dir "$1" -N "${ctest_args[@]}" 2>/dev/null | sed -n 's/^Total Tests: //p')
  echo "${count:-0} tests"
}

run_release() {
  local dir=build/relwithdebinfo started
  started=$(now)
  banner "release: RelWithDebInfo in $dir"
  if ! configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMPROC_SANITIZE= \
       -DMPROC_BUILD_TESTS=ON -DMPROC_BUILD_EXAMPLES=ON -DMPROC_BUILD_BENCHMARKS=ON -DMPROC_INSTALL=ON; then
    record release FAILED "$started" "configure failed"; return
  fi
  if ! build "$dir"; then record release FAILED "$started" "build failed"; return; fi
  if ! run_ctest "$dir"; then
    record release FAILED "$started" "tests failed ($(count_tests "$dir")); $(report_failures "$dir")"
    return
  fi
  echo "+ scripts/build-reference.sh"
  if ! scripts/build-reference.sh; then
    record release FAILED "$started" "tests passed; the API reference has doxygen warnings (build/reference/warnings.log)"
    return
  fi
  record release passed "$started" "$(count_tests "$dir"), API reference"
}

run_asan() {
  local dir=build/asan started
  started=$(now)
  banner "asan: address,undefined sanitizers in $dir"
  if ! configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" \
       -DMPROC_SANITIZE=address,undefined \
       -DMPROC_BUILD_TESTS=ON -DMPROC_BUILD_EXAMPLES=ON -DMPROC_BUILD_BENCHMARKS=OFF; then
    record asan FAILED "$started" "configure failed"; return
  fi
  # Test discovery runs the test programs while building: they need the sanitizer settings too.
  if ! with_sanitizer_env build "$dir"; then
    record asan FAILED "$started" "build failed"; return
  fi
  if ! with_sanitizer_env run_ctest "$dir"; then
    record asan FAILED "$started" \
      "tests failed ($(count_tests "$dir")); $(with_sanitizer_env report_failures "$dir")"
    return
  fi
  record asan passed "$started" "$(count_tests "$dir")"
}

run_tsan() {
  local dir=build/tsan started
  local targets=(async_result_test pool_test thread_pool_test futures_test ring_test pool_shared_objects_test pool_descriptor_test task_test
                 manager_test shared_dict_test connection_test)
  started=$(now)
  banner "tsan: thread sanitizer in $dir (${targets[*]})"
  if ! configure "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" \
       -DMPROC_SANITIZE=thread -DMPROC_BUILD_TESTS=ON -DMPROC_BUILD_EXAMPLES=OFF -DMPROC_BUILD_BENCHMARKS=OFF; then
    record tsan FAILED "$started" "configure failed"; return
  fi
  # Crash tests kill workers with SIGSEGV on purpose: the sanitizer must not handle it for them.
  local tsan_env=("TSAN_OPTIONS=halt_on_error=1:handle_segv=0:suppressions=$repo/tests/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}")
  if ! (export "${tsan_env[@]}"; build "$dir" --target "${targets[@]}"); then
    record tsan FAILED "$started" "build failed"; return
  fi
  # Manager and SharedDict tests under every start method: the manager's server is a forked
  # copy of the test under fork and a fresh program under spawn and forkserver.
  local filter='^(AsyncResult|Pool|ThreadPool|Futures|Crashes/PoolCrash|Ring|TaskShipping|((spawn|forkserver)/)?(Manager|SharedDict|FixedString|Wait))'
  rm -f "$dir/failed-rerun.log"
  echo "+ ctest --test-dir $dir -R '$filter' --output-on-failure -j$jobs --timeout $test_timeout ${ctest_args[*]}"
  if ! (export "${tsan_env[@]}"; ctest --test-dir "$dir" -R "$filter" --output-on-failure -j"$jobs" \
          --timeout "$test_timeout" "${ctest_args[@]}"); then
    record tsan FAILED "$started" "tests failed; $(export "${tsan_env[@]}"; report_failures "$dir")"
    return
  fi
  record tsan passed "$started" "$(ctest --test-dir "$dir" -N -R "$filter" 2>/dev/null | sed -n 's/^Total Tests: //p') tests"
}

run_fuzz() {
  local dir=build/fuzz started
  started=$(now)
  banner "fuzz: mproc_fuzz_decode, mproc_fuzz_connection and mproc_fuzz_manager for ${fuzz_seconds}s each (clang, libFuzzer) in $dir"
  if ! command -v clang++ >/dev/null; then
    echo "fuzz: clang++ not found"; record fuzz FAILED "$started" "clang++ not found"; return
  fi
  if ! CC=clang CXX=clang++ configure "$dir" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DMPROC_BUILD_FUZZERS=ON "-DMPROC_SANITIZE=${MPROC_FUZZ_SANITIZE-address,undefined}" \
       -DMPROC_BUILD_TESTS=ON -DMPROC_BUILD_EXAMPLES=OFF -DMPROC_BUILD_BENCHMARKS=OFF; then
    record fuzz FAILED "$started" "configure failed"; return
  fi
  # The decoder of values and task replies, what mproc::connection reads from a peer, then what a
  # Manager's server does with a request.
  run_fuzz_target "$dir" mproc_fuzz_decode fuzz decode "tests/fuzz/corpus/decode tests/fuzz/corpus_decode tests/fuzz/corpus"
  run_fuzz_target "$dir" mproc_fuzz_connection fuzzconn connection "tests/fuzz/connection_corpus"
  run_fuzz_target "$dir" mproc_fuzz_manager fuzzmanager manager "tests/fuzz/manager_corpus"
}

# run_fuzz_target DIR TARGET SUMMARY_NAME CORPUS_NAME "SEED_DIRS": fuzzes TARGET for fuzz_seconds
# from the first of SEED_DIRS that exists.
run_fuzz_target() {
  local dir=$1 target=$2 name=$3 corpus_name=$4 seed_dirs=$5 started
  started=$(now)
  if ! ninja -C "$dir" -t query "$target" >/dev/null 2>&1; then
    echo "fuzz: the project defines no target '$target' (with -DMPROC_BUILD_FUZZERS=ON): skipped"
    record "$name" skipped "$started" "no $target target"; return
  fi
  if ! with_sanitizer_env build "$dir" --target "$target"; then
    record "$name" FAILED "$started" "build failed"; return
  fi
  local binary
  binary=$(find "$dir" -name "$target" -type f -perm -u+x -print -quit)
  if [[ -z $binary ]]; then record "$name" FAILED "$started" "built, but no $target program found"; return; fi

  # The corpus grows across runs in the build directory; checked-in seeds are only read.
  local corpus=$dir/corpus-$corpus_name artifacts=$dir/fuzz-artifacts-$corpus_name log=$dir/fuzz-$corpus_name.log seeds=()
  rm -rf "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  for seed in $seed_dirs; do
    if [[ -d $seed ]]; then seeds+=("$seed"); break; fi
  done
  echo "+ $binary -max_total_time=$fuzz_seconds -timeout=10 -rss_limit_mb=2048 $corpus ${seeds[*]}"
  if with_fuzz_sanitizer_env "$binary" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$repo/$artifacts/" "$corpus" "${seeds[@]}" >"$log" 2>&1; then
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || tail -n 3 "$log"
    record "$name" passed "$started" "$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1) runs"
  else
    tail -n 60 "$log"
    echo "fuzz: full log in $log; crashing inputs in $artifacts/"
    record "$name" FAILED "$started" "$target found a crash (see $artifacts/)"
  fi
}

overall_started=$(now)
if ! scripts/install-deps.sh; then
  echo "run-tests: could not install the dependencies" >&2
  exit 1
fi

for config in $configs; do
  case "$config" in
    release) run_release ;;
    asan) run_asan ;;
    tsan) run_tsan ;;
    fuzz) run_fuzz ;;
    *) echo "run-tests: unknown configuration '$config' (known: release asan tsan fuzz)" >&2
       summary+=("$(printf '%-8s %-7s' "$config" FAILED) unknown configuration"); failures=$((failures + 1)) ;;
  esac
done

for log in build/{relwithdebinfo,asan,tsan}/failed-rerun.log; do
  [[ -f $log ]] || continue
  banner "the failed tests, run once more (the last 150 lines of $log)"
  tail -n 150 "$log"
done

banner "summary ($(($(now) - overall_started))s)"
printf '%s\n' "${summary[@]}"
if ((failures > 0)); then
  echo "run-tests: $failures configuration(s) FAILED"
  exit 1
fi
echo "run-tests: all passed"
