#!/usr/bin/env bash
# e2e: several pprof servers per pod and pod labels on profiles. One --once round
# stores the profiles of two Go programs of one pod (a port number list, and
# containerPort names) apart, under their own services and labelled with their
# port and container; a bad item of a port list is refused with one log line
# while the pod's valid port and every other pod are still collected; the
# version label that --pod-labels copies lets `kubectl profefe merge --labels
# version=v2` give one release's profile; and a running collector applies a
# changed label from the next round.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=ports-$RANDOM
on=profefe.com/enable=true
version=app.kubernetes.io/version
# Two programs, by containerPort names: app serves pprof (6060), a sidecar admin (7070).
pod_add named-7d9f8c-x1 --node node-a --namespace "$ns" --annotate $on \
	--annotate profefe.com/port=admin,pprof --port-name pprof --container proxy=7070:admin \
	--owner "ReplicaSet/named-$ns-7d9f8c" >/dev/null
# Two programs, by numbers; the second container's port is not named.
pod_add "nums-$ns" --node node-a --namespace "$ns" --annotate $on \
	--annotate profefe.com/port=6060,7070 --container side=7070 >/dev/null
# A list with a bad and a repeated item: 6060 is still collected.
pod_add "bad-$ns" --node node-a --namespace "$ns" --annotate $on \
	--annotate profefe.com/port=6060,metrics,6060 >/dev/null
# Nothing valid in the list: skipped as any invalid annotation.
pod_add "none-$ns" --node node-a --namespace "$ns" --annotate $on \
	--annotate profefe.com/port=metrics >/dev/null
# Two releases of one Deployment.
pod_add rel-aaaa11-x1 --node node-a --namespace "$ns" --annotate $on --label "$version=v1" \
	--owner "ReplicaSet/rel-$ns-aaaa11" >/dev/null
pod_add rel-bbbb22-x1 --node node-a --namespace "$ns" --annotate $on --label "$version=v2" \
	--owner "ReplicaSet/rel-$ns-bbbb22" >/dev/null

# --cpu-seconds 2: a 1 s CPU profile of a near-idle program on a busy machine may hold
# no sample, and empty profiles are not stored.
rc=0
"$KPROFEFE_BIN" --node-name node-a --kubeconfig "$KUBECONFIG" --profefe-hostport "$PROFEFE_URL" \
	--once --cpu-seconds 2 --metrics-addr "" --spool-dir "$E2E_TMP/spool" --log-format json \
	--profiles cpu,heap --pod-labels "$version,hash=pod-template-hash" \
	>"$E2E_TMP/once.log" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "kprofefe --once exited $rc: $(cat "$E2E_TMP/once.log")"
# shellcheck disable=SC2016 # jq's $ns
log=$(log_json "$E2E_TMP/once.log" --arg ns "$ns/" 'select(.pod // "" | startswith($ns))')

base=(from=kube-profefe "namespace=$ns" node=node-a image=kprofefe/pprof-target:test)
for type in cpu heap; do
	d=()
	[[ $type == heap ]] && d=(delta=false)
	# The first container's port keeps the workload's name; the sidecar's is named after it.
	assert_eq "$(label_list "${base[@]}" "${d[@]}" container=app pod=named-7d9f8c-x1 port=6060 hash=7d9f8c)" \
		"$(profile_labels "named-$ns" $type)" "labels of app's $type profile (service named-$ns)"
	assert_eq "$(label_list "${base[@]}" "${d[@]}" container=proxy pod=named-7d9f8c-x1 port=7070 hash=7d9f8c)" \
		"$(profile_labels "named-$ns-proxy" $type)" "labels of the sidecar's $type profile (named-$ns-proxy)"
	assert_eq "$(label_list "${base[@]}" "${d[@]}" container=app "pod=nums-$ns" port=6060)" \
		"$(profile_labels "nums-$ns" $type)" "labels of nums' 6060 $type profile"
	assert_eq "$(label_list "${base[@]}" "${d[@]}" container=side "pod=nums-$ns" port=7070)" \
		"$(profile_labels "nums-$ns-side" $type)" "labels of nums' 7070 $type profile"
	assert_eq "$(label_list "${base[@]}" "${d[@]}" container=app "pod=bad-$ns" port=6060)" \
		"$(profile_labels "bad-$ns" $type)" "labels of the bad list's valid port ($type)"
	assert_eq 0 "$(profefe_count "none-$ns" $type)" "$type profiles of the pod whose list has no valid port"
done
# The two programs' CPU profiles are their own: each holds its own process's pid.
for svc in "named-$ns" "named-$ns-proxy"; do
	id=$(profefe_profiles "$svc" cpu | jq -r '.[0].id')
	profefe_get "$id" "$E2E_TMP/$svc.pb.gz"
	pprof_top "$E2E_TMP/$svc.pb.gz" >/dev/null
done
cmp -s "$E2E_TMP/named-$ns.pb.gz" "$E2E_TMP/named-$ns-proxy.pb.gz" && fail "the two programs' CPU profiles are the same file"

# One line for the bad list, naming the pod, the annotation, its value and both bad items.
refused=$(jq -c 'select(.msg == "pod port refused: invalid annotation")' <<<"$log")
assert_eq 1 "$(grep -c . <<<"$refused")" "log lines refusing port items: $refused"
assert_eq "$ns/bad-$ns" "$(jq -r .pod <<<"$refused")" "the refusal's pod"
assert_eq "pod $ns/bad-$ns: annotation profefe.com/port=\"6060,metrics,6060\": item \"metrics\": no container declares a TCP port of that name; item \"6060\": port 6060 is listed already" \
	"$(jq -r .error <<<"$refused")" "the refusal's message"
skipped=$(jq -c 'select(.msg == "pod skipped: invalid annotation")' <<<"$log")
assert_eq "$ns/none-$ns" "$(jq -r .pod <<<"$skipped")" "the pod with no valid port is skipped, once"
# Targets are named by pod and port when a pod has several.
added=$(jq -r 'select(.msg == "target added") | .pod' <<<"$log" | sort | tr '\n' ' ')
assert_eq "$ns/bad-$ns:6060 $ns/named-7d9f8c-x1:6060 $ns/named-7d9f8c-x1:7070 $ns/nums-$ns:6060 $ns/nums-$ns:7070 $ns/rel-aaaa11-x1 $ns/rel-bbbb22-x1 " \
	"$added" "targets added"

# --pod-labels: app.kubernetes.io/version stored as version, pod-template-hash as hash.
assert_eq "$(label_list "${base[@]}" container=app hash=bbbb22 pod=rel-bbbb22-x1 version=v2)" \
	"$(profile_labels "rel-$ns" cpu version=v2)" "labels of release v2's cpu profile"
assert_eq 1 "$(profefe_count "rel-$ns" cpu version=v1)" "cpu profiles of release v1"
# One release's profile: the merge by version takes v2's alone, without it both.
merge() { # OUT LABELS
	kubectl profefe merge --service "rel-$ns" --profile-type cpu ${2:+--labels "$2"} --from 30m \
		--profefe-hostport "$PROFEFE_URL" -o "$E2E_TMP/$1" 2>"$E2E_TMP/$1.err" >/dev/null ||
		fail "merge ${2:-(all)} exited non-zero: $(cat "$E2E_TMP/$1.err")"
	pprof_top "$E2E_TMP/$1" >/dev/null
}
merge v2.pb.gz version=v2
assert_contains "$(cat "$E2E_TMP/v2.pb.gz.err")" "merged 1 profile of service rel-$ns, type cpu" "merge of v2"
merge all.pb.gz ""
assert_contains "$(cat "$E2E_TMP/all.pb.gz.err")" "merged 2 profiles of service rel-$ns, type cpu" "merge of both releases"

# A running collector: a label changed on a running pod applies from the next round.
collector_start watch node-a --profiles heap --pod-labels "$version" --log-format json
wait_for 30 count_at_least 1 "rel-$ns" heap "version=v2,pod=rel-bbbb22-x1"
kubectl label pod rel-bbbb22-x1 -n "$ns" --overwrite "$version=v3" >/dev/null
wait_for 30 count_at_least 1 "rel-$ns" heap "version=v3,pod=rel-bbbb22-x1"
# Deleting a pod removes every target it had.
"$CLUSTER" pod del named-7d9f8c-x1 --namespace "$ns"
# (a deleted pod is seen deleting first, or gone)
removed() {
	# shellcheck disable=SC2016 # jq's $p
	log_json "$E2E_TMP/watch.log" --arg p "$ns/named-" \
		'select(.msg == "target removed" and (.reason == "deleting" or .reason == "pod deleted")
			and (.pod | startswith($p))) | .pod' | sort | tr '\n' ' '
}
both_removed() { [[ $(removed) == "$ns/named-7d9f8c-x1:6060 $ns/named-7d9f8c-x1:7070 " ]]; }
wait_for 30 both_removed
collector_stop watch
echo "PASS: two pprof servers per pod (numbers and names) stored apart; a bad list item refused alone, logged once; pod labels copied; merge by version; a label change applied"
