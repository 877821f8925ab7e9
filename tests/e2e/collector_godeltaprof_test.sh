#!/usr/bin/env bash
# e2e: godeltaprof deltas. A pod annotated profefe.com/delta=godeltaprof runs
# the real godeltaprof (pprof-target --godeltaprof): the collector takes its
# allocs, block and mutex from delta_heap, delta_block and delta_mutex, at once
# (no ?seconds= request, no connection held over the window), and stores them
# labelled delta=true,window=<time since the previous scrape>. godeltaprof's
# first answer (the totals of the process's life) is not stored: counted in
# kprofefe_profiles_skipped_total{reason="first"}. heap stays a snapshot
# (delta=false). A bad profefe.com/delta value is refused with one log line
# naming the pod, the annotation and the value, and the other pods are still
# collected.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=gdp-$RANDOM
on=profefe.com/enable=true
# allocs only change at a GC: one every 100ms fills every window.
KPROFEFE_TARGET_ARGS="--godeltaprof --log-requests --gc-every 100ms" pod_add gdp --node node-a \
	--namespace "$ns" --annotate $on --annotate profefe.com/delta=godeltaprof \
	--annotate profefe.com/service="gdp-$ns" --annotate profefe.com/profiles=heap,allocs,mutex,block >/dev/null
pod_add bad --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/delta=GoDeltaProf \
	--annotate profefe.com/service="bad-$ns" --annotate profefe.com/profiles=heap >/dev/null
pod_log=$KPROFEFE_CLUSTER_DIR/logs/pods/${ns}_gdp.log

# --cpu-seconds 3: a ?seconds= delta would hold its fetch 3s; a godeltaprof one
# is answered at once.
interval=6
collector_start c node-a --cpu-seconds 3 --interval ${interval}s --cpu-timeout-margin 2s --jitter 0s \
	--log-format json --log-level debug
wait_for 60 count_at_least 2 "gdp-$ns" other "delta=true"
wait_for 30 count_at_least 2 "gdp-$ns" mutex "delta=true"
wait_for 30 count_at_least 2 "gdp-$ns" block "delta=true"
metrics=$(collector_metrics c)
collector_stop c
assert_eq 0 "$collector_rc" "collector exit status"

# series NAME LABEL...: the sum of NAME's series that carry every LABEL (k="v").
series() {
	local name=$1
	shift
	awk -v name="$name" -v want="$*" 'BEGIN { n = split(want, w, " ") }
		index($1, name "{") == 1 { ok = 1; for (i = 1; i <= n; i++) if (index($1, w[i]) == 0) ok = 0; if (ok) s += $2 }
		END { print s + 0 }' <<<"$metrics"
}
labels() { # SERVICE TYPE: every stored profile's labels, "k=v,..." with sorted keys
	profefe_profiles "$1" "$2" | jq -r '.[] | [.labels[] | "\(.key // .Key)=\(.value // .Value)"] | sort | join(",")'
}

# The endpoints asked: godeltaprof's for the three deltas, never ?seconds= nor
# the cumulative ones; heap as a snapshot.
requests=$(sed -n 's/.* request GET \([^ ]*\)$/\1/p' "$pod_log")
for e in delta_heap delta_block delta_mutex; do
	grep -qx "/debug/pprof/$e?" <<<"$requests" || fail "no $e request in the pod's log: $requests"
done
grep -qx '/debug/pprof/heap?' <<<"$requests" || fail "heap not asked for as a snapshot: $requests"
if grep -E 'seconds=|/(allocs|block|mutex)\?' <<<"$requests"; then
	fail "a ?seconds= or cumulative request reached the godeltaprof pod"
fi

# No connection held: every delta fetch took well under the 3s a ?seconds= one would.
slow=$(log_json "$E2E_TMP/c.log" --arg pod "$ns/gdp" 'select(.msg == "profile fetched" and .pod == $pod and
	(.type == "allocs" or .type == "block" or .type == "mutex") and (.seconds | tonumber) >= 1.5) | "\(.type) \(.seconds)"')
[[ -z $slow ]] || fail "godeltaprof fetches held their connection: $slow"
fetched=$(log_json "$E2E_TMP/c.log" --arg pod "$ns/gdp" 'select(.msg == "profile fetched" and .pod == $pod and .type == "mutex") | .seconds' |
	wc -l)
((fetched >= 3)) || fail "only $fetched mutex fetches logged"

# Stored as deltas over the time since the previous scrape (the interval; the
# snapshots queue a little); heap a snapshot.
for type in other mutex block; do
	while read -r l; do
		[[ $l =~ (^|,)delta=true(,|$) && $l =~ (^|,)window=([0-9]+)s(,|$) ]] ||
			fail "$type profile without delta=true,window=<N>s: $l"
		w=${BASH_REMATCH[2]}
		((w >= interval - 1 && w <= interval + 1)) || fail "$type window ${w}s is not the ${interval}s since the previous scrape: $l"
	done < <(labels "gdp-$ns" $type)
done
while read -r l; do
	[[ $l == *delta=false* && $l != *window=* ]] || fail "heap profile not labelled delta=false: $l"
done < <(labels "gdp-$ns" heap)
[[ -n $(labels "gdp-$ns" heap) ]] || fail "no heap profile of gdp"

# The first answer of each type primed godeltaprof's state and was not stored:
# every answer is stored, skipped as first (once), or skipped as empty.
for type in allocs mutex block; do
	first=$(series kprofefe_profiles_skipped_total "type=\"$type\"" 'reason="first"')
	assert_eq 1 "$first" "$type answers skipped as the first"
	ok=$(series kprofefe_fetch_total "type=\"$type\"" 'result="ok"')
	stored=$(series kprofefe_profiles_collected_total "type=\"$type\"")
	empty=$(series kprofefe_profiles_skipped_total "type=\"$type\"" 'reason="empty"')
	assert_eq "$ok" "$((stored + first + empty))" "$type answers (stored $stored + first $first + empty $empty)"
done
assert_eq 0 "$(series kprofefe_delta_ignored_total)" "deltas taken for a server that ignores ?seconds="
assert_eq 0 "$(series kprofefe_profiles_skipped_total 'type="heap"' 'reason="first"')" "heap answers skipped as the first"

# The bad value: one line naming the pod, the annotation and the value.
said=$(log_json "$E2E_TMP/c.log" --arg pod "$ns/bad" 'select(.msg == "pod skipped: invalid annotation" and .pod == $pod) | .error')
assert_eq 1 "$(grep -c '' <<<"$said")" "log lines about $ns/bad"
assert_contains "$said" 'annotation profefe.com/delta="GoDeltaProf": not "true", "false" or "godeltaprof"' "the bad value's line"
assert_eq 0 "$(profefe_count "bad-$ns" heap)" "profiles of the pod with the bad annotation"
echo "PASS collector_godeltaprof_test"
