#!/usr/bin/env bash
# Each invalid profefe.com annotation skips its pod with one log line naming
# the pod, the annotation and the value, counted in /metrics, while a good pod
# on the same node keeps being collected.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=ann-$RANDOM
on=profefe.com/enable=true
pod_add good --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/service="good-$ns" >/dev/null

# name|annotation|value
bad=(
	"port-big|profefe.com/port|99999"
	"port-zero|profefe.com/port|0"
	"port-word|profefe.com/port|http"
	"path-rel|profefe.com/path|debug/pprof"
	"path-dots|profefe.com/path|/debug/../secret"
	"path-space|profefe.com/path|/debug pprof"
	"path-query|profefe.com/path|/debug/pprof?x=1"
	"path-frag|profefe.com/path|/debug/pprof#x"
	"types|profefe.com/profiles|cpu,bogus"
	"secs-zero|profefe.com/cpu-seconds|0"
	"secs-word|profefe.com/cpu-seconds|ten"
	"secs-big|profefe.com/cpu-seconds|100000"
)
for entry in "${bad[@]}"; do
	IFS='|' read -r name key value <<<"$entry"
	pod_add "$name" --node node-a --namespace "$ns" --annotate $on --annotate "$key=$value" >/dev/null
done
# A path with a line feed cannot pass through the cluster script's flags.
pod_add path-lf --node node-a --namespace "$ns" --annotate $on >/dev/null
kubectl annotate pod path-lf -n "$ns" "profefe.com/path=/debug"$'\n'"pprof" >/dev/null
bad+=("path-lf|profefe.com/path|/debug\\npprof")

collector_start c node-a --profiles heap
wait_for 20 count_at_least 1 "good-$ns" heap

for entry in "${bad[@]}"; do
	IFS='|' read -r name key value <<<"$entry"
	wait_for 10 grep -qF "pod $ns/$name: annotation $key=" "$E2E_TMP/c.log"
	line=$(grep -F "pod $ns/$name: annotation $key=" "$E2E_TMP/c.log")
	assert_eq 1 "$(wc -l <<<"$line")" "log lines for $name"
	assert_contains "$line" 'msg="pod skipped: invalid annotation"' "log line for $name"
	assert_contains "$line" "$value" "log line for $name"
done

assert_eq "${#bad[@]}" "$(metric_value c kprofefe_targets_invalid_total)" "kprofefe_targets_invalid_total"
assert_eq 1 "$(metric_value c kprofefe_targets)" "kprofefe_targets"

# The good pod goes on being collected after all of that.
n=$(profefe_count "good-$ns" heap)
wait_for 20 count_at_least $((n + 2)) "good-$ns" heap
echo "PASS: ${#bad[@]} invalid annotations skipped and counted, the good pod collected"
