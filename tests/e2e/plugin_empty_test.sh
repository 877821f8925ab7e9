#!/usr/bin/env bash
# e2e: kubectl-profefe and empty profiles (a pod with mutex and block profiling
# off, as most services run). capture writes the empty profile anyway (a valid
# file go tool pprof reads) and says it is empty; capture --profefe-hostport
# skips it with a note and pushes the rest; load says why profefe refused it.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-plugin-empty
svc=empty-$RANDOM$RANDOM
ip=$(KPROFEFE_TARGET_ARGS=--no-contention-profiling pod_add plain --node node-a --namespace $ns \
	--annotate profefe.com/enable=true --annotate "profefe.com/service=$svc")
# The heap profile is as of the last garbage collection: wait until the young
# pod's has samples, so that only the mutex and block profiles are empty.
# Counted by what was allocated: what is in use may drop to nothing at the
# next collection, and a heap profile whose samples are all zero in use is
# still not empty (profefe takes it).
heap_has_samples() {
	curl -fsS --noproxy '*' -o "$E2E_TMP/young-heap.pb.gz" "http://$ip:6060/debug/pprof/heap" &&
		pprof_top "$E2E_TMP/young-heap.pb.gz" -sample_index=alloc_space | has_samples
}
wait_for 60 heap_has_samples

# To files: both written, the empty one named on stderr, exit 0.
dir=$E2E_TMP/files
mkdir -p "$dir"
kubectl profefe capture plain -n $ns --profiles heap,mutex --output-dir "$dir" >"$E2E_TMP/files.txt" \
	2>"$E2E_TMP/stderr" || fail "capture to files exited non-zero: $(cat "$E2E_TMP/stderr")"
assert_eq 2 "$(wc -l <"$E2E_TMP/files.txt")" "files written"
mutex=$(grep -- '-mutex-' "$E2E_TMP/files.txt") || fail "no mutex file: $(cat "$E2E_TMP/files.txt")"
heap=$(grep -- '-heap-' "$E2E_TMP/files.txt")
# The note, and no other complaint (the summary line follows it).
assert_eq "note: pod $ns/plain: mutex profile has no samples (empty): $mutex" \
	"$(grep -m1 '^note: ' "$E2E_TMP/stderr")" "capture's note"
grep -qi 'error\|warning' "$E2E_TMP/stderr" && fail "capture's stderr complains: $(cat "$E2E_TMP/stderr")"
top=$(pprof_top "$mutex")
has_samples <<<"$top" && fail "the mutex profile of a pod without mutex profiling has samples: $top"
pprof_top "$heap" -sample_index=alloc_space | has_samples || fail "the heap profile has no samples"

# To profefe: the empty one is skipped with a note; heap is pushed; exit 0.
kubectl profefe capture plain -n $ns --profiles heap,mutex,block --profefe-hostport "$PROFEFE_URL" \
	>"$E2E_TMP/urls" 2>"$E2E_TMP/stderr" || fail "capture --profefe-hostport exited non-zero: $(cat "$E2E_TMP/stderr")"
assert_eq 1 "$(wc -l <"$E2E_TMP/urls")" "URLs printed"
grep -q "^$PROFEFE_URL/api/0/profiles/" "$E2E_TMP/urls" || fail "not a profile URL: $(cat "$E2E_TMP/urls")"
for t in mutex block; do
	grep -qx "note: pod $ns/plain: $t profile has no samples: not pushed to profefe, which refuses empty profiles" \
		"$E2E_TMP/stderr" || fail "no note about the empty $t profile: $(cat "$E2E_TMP/stderr")"
	assert_eq 0 "$(profefe_count "$svc" $t)" "$t profiles in profefe"
done
# Besides the notes, only the summary line (no failure counted) and the next command.
grep -v '^note: ' "$E2E_TMP/stderr" | grep -v ' 0 failures, \|^go tool pprof ' && fail "capture said more than notes, its summary and the next command"
assert_eq 1 "$(profefe_count "$svc" heap)" "heap profiles in profefe"

# load: profefe's refusal, and why, named with the file.
set +e
kubectl profefe load "$mutex" --service "$svc-loaded" --profile-type mutex \
	--profefe-hostport "$PROFEFE_URL" >"$E2E_TMP/load" 2>"$E2E_TMP/stderr"
rc=$?
set -e
assert_eq 1 "$rc" "exit status of load with an empty profile"
err=$(cat "$E2E_TMP/stderr")
assert_contains "$err" "error: $mutex: profefe $PROFEFE_URL refused it: HTTP 400: malformed profile (could not parse pprof profile: profile is empty: no samples)" "load's error"
assert_contains "$err" "the profile has no samples" "load's error"
[[ ! -s $E2E_TMP/load ]] || fail "load printed a URL for a refused file: $(cat "$E2E_TMP/load")"
echo "PASS plugin_empty_test"
