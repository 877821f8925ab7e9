#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_<name>.c) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer (fatal), replays every regression input in
# tests/fuzz/regressions/<name>/, then fuzzes each harness for a while.
#
# Usage: scripts/fuzz.sh [--time SECONDS] [--jobs N] [--regressions-only] [NAME...]
#   --time S   seconds of fuzzing per harness (default 600)
#   --jobs N   harnesses fuzzed at the same time (default 1)
#   NAME       harnesses to run (pprof, gzip, kube_pod, ...); default all
# The corpus each run grows is kept in build-fuzz/corpus/<name> (seeded from
# tests/fuzz/corpus/<name> and the real data in tests/data), logs in build-fuzz/logs.
# A crash leaves its input in build-fuzz/artifacts/<name>/: fix the bug, then add the
# input to tests/fuzz/regressions/<name>/.
set -euo pipefail
cd "$(dirname "$0")/.."

time_s=600 jobs=1 regressions_only=0 names=()
while (($#)); do
	case $1 in
	--time) time_s=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--regressions-only) regressions_only=1; shift ;;
	-h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
	*) names+=("$1"); shift ;;
	esac
done
if ((${#names[@]} == 0)); then
	for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; names+=("${n%.c}"); done
fi

B=build-fuzz
command -v clang >/dev/null || { echo "fuzz.sh: no clang (scripts/install-deps.sh installs it)" >&2; exit 1; }
CC=clang cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DKPROFEFE_FUZZ=ON >/dev/null
cmake --build "$B" -j "$(nproc)" --target "${names[@]/#/fuzz_}"

# Real data the harnesses start from, beside their own seeds in tests/fuzz/corpus/<name>.
seeds() {
	case $1 in
	pprof | gzip) echo tests/data/pprof ;;
	kube_pod) echo tests/data/kube ;;
	esac
}

export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Every regression input, through its harness: a fixed bug stays fixed.
failed=0
for n in "${names[@]}"; do
	d=tests/fuzz/regressions/$n
	[[ -d $d ]] && compgen -G "$d/*" >/dev/null || continue
	if "$B/tests/fuzz/fuzz_$n" "$d"/* >"$B/regressions-$n.log" 2>&1; then
		echo "fuzz $n: $(ls "$d" | wc -l) regression inputs pass"
	else
		echo "fuzz $n: a regression input fails again; see $B/regressions-$n.log:" >&2
		tail -30 "$B/regressions-$n.log" >&2
		failed=1
	fi
done
((failed == 0)) || exit 1
((regressions_only == 0)) || exit 0

run_one() {
	local n=$1 corpus=$B/corpus/$1 log=$B/logs/$1.log art=$B/artifacts/$1/ s
	mkdir -p "$corpus" "$art" "$B/logs"
	local dirs=("$corpus")
	[[ -d tests/fuzz/corpus/$n ]] && dirs+=("tests/fuzz/corpus/$n")
	s=$(seeds "$n") && [[ -n $s ]] && dirs+=("$s")
	# -timeout: an input taking this long is a hang; -rss_limit_mb: a bomb is a bug
	if "$B/tests/fuzz/fuzz_$n" -max_total_time="$time_s" -timeout=10 -rss_limit_mb=1024 \
		-max_len=65536 -print_final_stats=1 -artifact_prefix="$art" "${dirs[@]}" >"$log" 2>&1; then
		local execs cov
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1)
		echo "fuzz $n: ${time_s}s, ${execs:-?} executions, $cov, no crash"
	else
		echo "fuzz $n: FAILED after $(grep -c . "$log") log lines; input in $art:" >&2
		grep -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | head -10 >&2
		return 1
	fi
}
export -f run_one seeds
export B time_s
printf '%s\n' "${names[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
