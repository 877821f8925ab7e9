#!/usr/bin/env bash
# The test command: dependencies, build, unit tests (also under valgrind), fuzzers
# (regression inputs and a short run), end-to-end tests, then the unit and end-to-end
# tests again with AddressSanitizer and UndefinedBehaviorSanitizer builds of the
# library and the programs.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"

scripts/install-deps.sh

step() { printf '\n== %s\n' "$*"; }
jobs=$(nproc)

step "build (Debug)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build -j "$jobs"

step "build (Release): the optimizer finds warnings Debug does not"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j "$jobs"

step "unit tests"
ctest --test-dir build -L unit --output-on-failure -j "$jobs"

step "unit tests under valgrind memcheck (sees inside libcurl, yajl and zlib)"
ctest --test-dir build -L valgrind --output-on-failure -j "$jobs"

step "fuzzers: every regression input, then a short run of each"
scripts/fuzz.sh --time 15 --jobs "$jobs"

step "end-to-end tests (real kube-apiserver, etcd, profefe, kubectl, Go pprof targets)"
ctest --test-dir build -L e2e --output-on-failure

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKPROFEFE_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
# Any leak, overflow, use after free or undefined behaviour aborts the program,
# which fails its test.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1

step "end-to-end tests with the sanitizer builds of kprofefe and kubectl-profefe"
# (Not the real node's tests: they run the collector image, not these builds.)
ctest --test-dir build-asan -L e2e -E realnode --output-on-failure

step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
ctest --test-dir build-asan -L unit --output-on-failure -j "$jobs"
