#!/usr/bin/env bash
# e2e: `kubectl profefe capture` beside the collector. A capture of a pod whose
# CPU profiler the collector is using waits (and says so on a terminal) and
# gets its CPU profile, and so does the collector; the collector, finding the
# profiler busy with a capture, retries once in the same round and counts it.
# Also: --output-dir is created when missing, paths come grouped by pod, then
# a summary and the `go tool pprof` command; capture --delta.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=busy-$RANDOM
on=profefe.com/enable=true
ip=$(pod_add web --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/service="web-$ns" \
	--annotate profefe.com/profiles=cpu)
pod_add api --node node-b --namespace "$ns" --annotate $on >/dev/null

# in_cpu_profile: the pod is inside net/http/pprof.Profile (a CPU profile is
# being taken); read from its goroutine dump, which takes no profiler.
in_cpu_profile() {
	grep -q 'net/http/pprof.Profile(' <(curl -fsS --noproxy '*' "http://$ip:6060/debug/pprof/goroutine?debug=2")
}

# 1. The collector first (a 6s CPU profile), then a capture on a terminal.
collector_start c node-a --cpu-seconds 6 --interval 60s --jitter 0s
wait_for 30 in_cpu_profile
out=$E2E_TMP/cap1
script -qec "kubectl profefe capture web -n $ns --profiles cpu --cpu-seconds 1 --output-dir $out" \
	"$E2E_TMP/typescript" >/dev/null || fail "capture beside the collector failed: $(cat "$E2E_TMP/typescript")"
ts=$(tr '\r' '\n' <"$E2E_TMP/typescript")
assert_contains "$ts" "waiting: pod $ns/web: its CPU profiler is busy (someone else is profiling it" "wait line"
assert_contains "$ts" "waiting: CPU profiler busy" "status line while waiting"
assert_contains "$ts" "created output directory $out" "mkdir -p"
f=$(ls "$out"/profile-cpu-web-*.pb.gz) || fail "no CPU profile captured: $(ls "$out")"
grep -q '^Type: cpu$' <<<"$(pprof_top "$f")" || fail "$f is not a CPU profile"
wait_for 30 count_at_least 1 "web-$ns" cpu
collector_stop c

# 2. A capture first (4s), then the collector: busy, one retry later, ok.
kubectl profefe capture web -n $ns --profiles cpu --cpu-seconds 4 --output-dir "$E2E_TMP/cap2" \
	>"$E2E_TMP/cap2.out" 2>&1 &
cap_pid=$!
wait_for 30 in_cpu_profile
collector_start d node-a --cpu-seconds 5 --interval 60s --jitter 0s --cpu-timeout-margin 5s
wait "$cap_pid" || fail "the capture before the collector failed: $(cat "$E2E_TMP/cap2.out")"
wait_for 40 count_at_least 2 "web-$ns" cpu
grep -q 'msg="profiler busy (someone else is profiling the pod): retrying once" pod='"$ns/web type=cpu" \
	"$E2E_TMP/d.log" || fail "the collector did not say it retries: $(cat "$E2E_TMP/d.log")"
assert_eq 1 "$(metric_value d 'kprofefe_busy_retries_total{type="cpu",result="ok"}')" "busy retries that got the profile"
assert_eq 1 "$(metric_value d 'kprofefe_fetch_total{type="cpu",result="busy"}')" "busy answers counted"
collector_stop d

# 3. Two pods: paths grouped by pod, then the summary and the pprof command.
kubectl profefe capture web api -n $ns --profiles heap,cpu,goroutine --cpu-seconds 1 --delta \
	--output-dir "$E2E_TMP/cap3" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr" || fail "capture of two pods: $(cat "$E2E_TMP/stderr")"
mapfile -t paths <"$E2E_TMP/stdout"
assert_eq 6 "${#paths[@]}" "paths of two pods"
pods=$(for p in "${paths[@]}"; do b=${p##*/profile-}; b=${b#*-}; echo "${b%-*}"; done | uniq | tr '\n' ' ')
assert_eq "api web " "$pods" "pods in the order of the paths"
want="6 profiles written, 2 pods, 0 failures, in $E2E_TMP/cap3"
assert_contains "$(cat "$E2E_TMP/stderr")" "$want" "summary"
cpu=$(grep /profile-cpu-api- "$E2E_TMP/stdout")
assert_contains "$(cat "$E2E_TMP/stderr")" "go tool pprof $cpu" "next command"

# capture --delta: block and mutex deltas over --cpu-seconds, beside the CPU profile.
kubectl profefe capture api -n $ns --profiles mutex --cpu-seconds 2 --delta --output-dir "$E2E_TMP/cap4" \
	>"$E2E_TMP/stdout" 2>/dev/null || fail "capture --delta failed"
grep -q '^Duration: 2\.0' <<<"$(go tool pprof -raw "$(cat "$E2E_TMP/stdout")" 2>&1)" ||
	fail "capture --delta's mutex profile is not a 2s delta"
kubectl profefe capture api -n $ns --profiles mutex --output-dir "$E2E_TMP/cap5" >"$E2E_TMP/stdout" 2>/dev/null ||
	fail "capture without --delta failed"
grep -q '^Duration:' <(go tool pprof -raw "$(cat "$E2E_TMP/stdout")" 2>&1) && fail "capture without --delta took a delta"
echo "PASS plugin_busy_test"
