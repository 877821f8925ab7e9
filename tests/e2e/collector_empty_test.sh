#!/usr/bin/env bash
# e2e: pods of ordinary services (mutex and block profiling off, Go's default)
# serve empty mutex and block profiles, which profefe refuses. The collector
# uploads none of them, logs no warning round after round, says each once per
# pod and type, counts them, fetches them less often while they stay empty, and
# files nothing under the spool's rejected/; the other types still arrive.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/collector_lib.sh
source "$(dirname "$0")/collector_lib.sh"

ns=empty-$RANDOM
svc=plain-$ns
for p in a b; do
	KPROFEFE_TARGET_ARGS=--no-contention-profiling pod_add "plain-$p" --node node-a --namespace "$ns" \
		--annotate profefe.com/enable=true --annotate "profefe.com/service=$svc" >/dev/null
done
# No CPU profile: each round is far shorter than the interval.
collector_start empty node-a --interval 2s --jitter 0s --profiles heap,goroutine,mutex,block

# Ten rounds of both pods.
heap_ok='kprofefe_fetch_total{type="heap",result="ok"}'
rounds_done() { (($(metric_value empty "$heap_ok") >= 20)); }
wait_for 120 rounds_done

for t in mutex block; do
	ok=$(metric_value empty "kprofefe_fetch_total{type=\"$t\",result=\"ok\"}")
	skipped=$(metric_value empty "kprofefe_profiles_skipped_total{type=\"$t\",reason=\"empty\"}")
	((ok > 0)) || fail "no $t profile fetched"
	# Every one fetched was empty, and none went to profefe.
	assert_eq "$ok" "$skipped" "$t profiles skipped as empty"
	assert_eq 0 "$(metric_value empty "kprofefe_uploads_total{type=\"$t\",result=\"rejected\"}")" "$t rejected"
	assert_eq 0 "$(metric_value empty "kprofefe_uploads_total{type=\"$t\",result=\"ok\"}")" "$t uploaded"
	assert_eq 0 "$(profefe_count "$svc" "$t")" "$t profiles in profefe"
	# Backoff: the empty type was fetched in fewer rounds than heap.
	heap=$(metric_value empty "$heap_ok")
	((ok < heap)) || fail "$t fetched $ok times, as often as heap ($heap): no backoff"
	for p in a b; do
		n=$(grep -c "msg=\"profile has no samples.* pod=$ns/plain-$p type=$t\( \|$\)" "$E2E_TMP/empty.log" || true)
		assert_eq 1 "$n" "log lines about $ns/plain-$p's empty $t profile"
	done
done
wait_for 30 count_at_least 2 "$svc" heap
wait_for 30 count_at_least 2 "$svc" goroutine

# No warning at all, let alone one per round.
if grep 'level=warn' "$E2E_TMP/empty.log"; then
	fail "warnings logged over pods with mutex and block profiling off"
fi
collector_stop empty
assert_eq 0 "$collector_rc" "exit status on SIGTERM"
[[ -z $(ls -A "$E2E_TMP/empty.spool/rejected" 2>/dev/null) ]] ||
	fail "spool rejected/ holds: $(ls "$E2E_TMP/empty.spool/rejected")"
echo "PASS collector_empty_test"
