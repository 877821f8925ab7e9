#!/usr/bin/env bash
# The collector for node-a uploads every default profile type of node-a's
# annotated pods, with the right service names and labels, and nothing of
# node-b's or of unannotated pods.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=disc-$RANDOM
on=profefe.com/enable=true
pod_add annotated --node node-a --namespace "$ns" --annotate $on \
	--annotate profefe.com/service="svc-$ns" >/dev/null
pod_add web-7d9f8c-x1 --node node-a --namespace "$ns" --annotate $on \
	--owner ReplicaSet/web-$ns-7d9f8c >/dev/null
pod_add bare-$ns --node node-a --namespace "$ns" --annotate $on >/dev/null
pod_add quiet-$ns --node node-a --namespace "$ns" >/dev/null
pod_add other-$ns --node node-b --namespace "$ns" --annotate $on >/dev/null

# --once: one round over node-a's targets; exit 0 only when all of it arrived.
rc=0
"$KPROFEFE_BIN" --node-name node-a --kubeconfig "$KUBECONFIG" --profefe-hostport "$PROFEFE_URL" \
	--once --cpu-seconds 1 --metrics-addr "" --spool-dir "$E2E_TMP/spool" \
	>"$E2E_TMP/once.log" 2>&1 || rc=$?
[[ $rc == 0 ]] || fail "kprofefe --once exited $rc: $(cat "$E2E_TMP/once.log")"

types=(cpu heap goroutine mutex block threadcreate)
for service in "svc-$ns" "web-$ns" "bare-$ns"; do
	for type in "${types[@]}"; do
		n=$(profefe_count "$service" "$type" "namespace=$ns")
		assert_eq 1 "$n" "profiles of service $service type $type"
	done
done

# Labels: namespace, pod, node, from=kube-profefe, the pod's only container and its image
# (and delta=false: a heap profile is a snapshot).
labels=$(profefe_profiles "web-$ns" heap "namespace=$ns" |
	jq -r '.[0].labels | map("\(.key)=\(.value)") | sort | join(",")')
assert_eq "container=app,delta=false,from=kube-profefe,image=kprofefe/pprof-target:test,namespace=$ns,node=node-a,pod=web-7d9f8c-x1" \
	"$labels" "labels of web's heap profile"

# Nothing from node-b's pod (its service would be its name) nor the unannotated one.
for service in "other-$ns" "quiet-$ns"; do
	for type in "${types[@]}"; do
		assert_eq 0 "$(profefe_count "$service" "$type")" "profiles of $service ($type)"
	done
done
grep -q "other-$ns\|quiet-$ns" "$E2E_TMP/once.log" && fail "collector mentions pods it must not see"

# What profefe stores is a profile go tool pprof reads, with samples.
for type in cpu heap goroutine; do
	id=$(profefe_profiles "svc-$ns" "$type" "namespace=$ns" | jq -r '.[0].id')
	profefe_get "$id" "$E2E_TMP/$type.pb.gz"
	is_gzip "$E2E_TMP/$type.pb.gz" || fail "$type profile from profefe is not gzip"
	pprof_top "$E2E_TMP/$type.pb.gz" >/dev/null
	# A young pod may hold nothing in use yet: count what its heap allocated.
	idx=()
	[[ $type == heap ]] && idx=(-sample_index=alloc_space)
	go tool pprof -top "${idx[@]}" "$E2E_TMP/$type.pb.gz" 2>/dev/null | has_samples || fail "$type profile has no samples"
done
echo "PASS: node-a's annotated pods, all default types, services and labels; nothing else"
