#!/usr/bin/env bash
# e2e: delta profiles. The collector asks a real Go net/http/pprof for allocs,
# block and mutex with ?seconds=<cpu-seconds> and stores the answers labelled
# delta=true,window=<N>s (heap: delta=false); a pod annotated
# profefe.com/delta=false is stored cumulative; a pod that ignores ?seconds=
# (an old Go, played by pprof-target --ignore-seconds) is detected by its
# missing duration, stored as delta=false and said once. Then `kubectl profefe
# merge` of the delta allocs profiles the collector stored: its sample values
# are the sum of theirs, and `go tool pprof` reads it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=delta-$RANDOM
on=profefe.com/enable=true
# allocs profiles only change at a GC: a GC every 100ms fills 2s windows.
KPROFEFE_TARGET_ARGS="--gc-every 100ms" pod_add fresh --node node-a --namespace "$ns" --annotate $on \
	--annotate profefe.com/service="fresh-$ns" --annotate profefe.com/profiles=cpu,heap,allocs,mutex,block >/dev/null
KPROFEFE_TARGET_ARGS="--ignore-seconds" pod_add old --node node-a --namespace "$ns" --annotate $on \
	--annotate profefe.com/service="old-$ns" --annotate profefe.com/profiles=allocs,mutex,block >/dev/null
pod_add cumul --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/delta=false \
	--annotate profefe.com/service="cumul-$ns" --annotate profefe.com/profiles=block >/dev/null

collector_start c node-a --cpu-seconds 2 --interval 6s --cpu-timeout-margin 3s --jitter 0s
wait_for 120 count_at_least 3 "fresh-$ns" other "delta=true"
wait_for 60 count_at_least 2 "fresh-$ns" block "delta=true"
wait_for 60 count_at_least 2 "old-$ns" block
wait_for 60 count_at_least 1 "cumul-$ns" block
collector_stop c
assert_eq 0 "$collector_rc" "collector exit status"

# labels SERVICE TYPE: every stored profile's labels as "k=v,k=v" lines, sorted
# keys (stand-in and profefe spell the fields differently).
labels() {
	profefe_profiles "$1" "$2" | jq -r '.[] | [.labels[] | "\(.key // .Key)=\(.value // .Value)"] | sort | join(",")'
}
# raw ID: go tool pprof -raw of one stored profile.
raw() {
	profefe_get "$1" "$E2E_TMP/$1.pb.gz"
	go tool pprof -raw "$E2E_TMP/$1.pb.gz" 2>&1
}
ids() {
	profefe_profiles "$1" "$2" "${3:-}" | jq -r '.[] | .id // .profile_id'
}

# fresh: deltas over the 2s window; heap a snapshot (delta=false); cpu unlabelled.
while read -r l; do
	[[ $l == *delta=true* && $l == *window=2s* ]] || fail "fresh allocs profile without delta=true,window=2s: $l"
done < <(labels "fresh-$ns" other)
while read -r l; do
	[[ $l == *delta=true* && $l == *window=2s* ]] || fail "fresh mutex profile not a 2s delta: $l"
done < <(labels "fresh-$ns" mutex)
while read -r l; do
	[[ $l == *delta=false* && $l != *window=* ]] || fail "heap profile not labelled delta=false: $l"
done < <(labels "fresh-$ns" heap)
[[ -n $(labels "fresh-$ns" heap) ]] || fail "no heap profile of fresh"
[[ $(labels "fresh-$ns" cpu) != *delta=* ]] || fail "a cpu profile has a delta label"
for id in $(ids "fresh-$ns" block); do
	grep -q '^Duration: 2\.0' <<<"$(raw "$id")" || fail "block delta $id does not last 2s: $(raw "$id" | head -5)"
done

# The pod annotated profefe.com/delta=false: cumulative, no duration.
while read -r l; do
	[[ $l == *delta=false* ]] || fail "cumul's block profile not delta=false: $l"
done < <(labels "cumul-$ns" block)
for id in $(ids "cumul-$ns" block); do
	grep -q '^Duration:' <(raw "$id") && fail "cumul's block profile $id has a duration"
done

# The pod that ignores ?seconds=: stored cumulative, said once for the pod.
assert_eq 0 "$(profefe_count "old-$ns" block "delta=true")" "old's block profiles labelled delta=true"
while read -r l; do
	[[ $l == *delta=false* ]] || fail "old's block profile not delta=false: $l"
done < <(labels "old-$ns" block)
said=$(grep -c "msg=\"pod ignores ?seconds=.*pod=$ns/old " "$E2E_TMP/c.log" || true)
assert_eq 1 "$said" "log lines about $ns/old ignoring ?seconds="
grep -q "pod=$ns/fresh .*ignores\|ignores.*pod=$ns/fresh " "$E2E_TMP/c.log" && fail "fresh was said to ignore ?seconds="

# merge: the delta allocs profiles, by label; the sum of their alloc_space.
sum_alloc_space() { # FILE: sum of the second value (alloc_space) of every sample
	go tool pprof -raw "$1" 2>/dev/null | awk '/^Samples:/ {s = 1; getline; next}
		/^Locations/ {s = 0} s && /:/ {split($0, a, ":"); split(a[1], v, " "); t += v[2]} END {print t + 0}'
}
mapfile -t delta_ids < <(ids "fresh-$ns" other)
want=0
for id in "${delta_ids[@]}"; do
	profefe_get "$id" "$E2E_TMP/$id.pb.gz"
	want=$((want + $(sum_alloc_space "$E2E_TMP/$id.pb.gz")))
done
((want > 0)) || fail "the delta allocs profiles hold no allocations"
kubectl profefe merge --service "fresh-$ns" --profile-type allocs --labels delta=true --from 30m \
	--profefe-hostport "$PROFEFE_URL" -o "$E2E_TMP/merged.pb.gz" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr" ||
	fail "merge exited non-zero: $(cat "$E2E_TMP/stderr")"
assert_eq "$E2E_TMP/merged.pb.gz" "$(cat "$E2E_TMP/stdout")" "merge's stdout"
assert_contains "$(cat "$E2E_TMP/stderr")" "merged ${#delta_ids[@]} profiles of service fresh-$ns, type other" "merge's count"
assert_contains "$(cat "$E2E_TMP/stderr")" "go tool pprof $E2E_TMP/merged.pb.gz" "merge's next command"
pprof_top "$E2E_TMP/merged.pb.gz" >/dev/null
assert_eq "$want" "$(sum_alloc_space "$E2E_TMP/merged.pb.gz")" "alloc_space of the merge (sum of ${#delta_ids[@]} deltas)"

# The default file name, in the current directory; a label nothing has is an error.
(cd "$E2E_TMP" && kubectl profefe merge --service "fresh-$ns" --profile-type mutex --from 30m \
	--profefe-hostport "$PROFEFE_URL" >"$E2E_TMP/stdout" 2>/dev/null) || fail "merge of mutex exited non-zero"
f=$(cat "$E2E_TMP/stdout")
[[ $f == ./profile-mutex-fresh-$ns-merged-[0-9]*.pb.gz ]] || fail "merge's default file name: $f"
pprof_top "$E2E_TMP/$f" >/dev/null
set +e
kubectl profefe merge --service "fresh-$ns" --profile-type heap --labels delta=true --from 30m \
	--profefe-hostport "$PROFEFE_URL" -o "$E2E_TMP/none.pb.gz" >/dev/null 2>"$E2E_TMP/stderr"
rc=$?
set -e
assert_eq 1 "$rc" "exit status of a merge that matches nothing"
assert_contains "$(cat "$E2E_TMP/stderr")" "error: no heap profiles of service fresh-$ns with labels delta=true" "merge of nothing"
[[ ! -e $E2E_TMP/none.pb.gz ]] || fail "a merge of nothing wrote a file"
echo "PASS collector_delta_test"
