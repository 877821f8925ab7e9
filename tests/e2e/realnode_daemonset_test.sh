#!/usr/bin/env bash
# e2e on the real node: `kubectl apply -k` of an overlay of daemonset/ (the
# image built from daemonset/Dockerfile, the local profefe) runs the collector
# as a real pod. Its pod becomes Running and Ready through its probes, with the
# projected token and the `kubernetes` Service (kube-proxy); it runs as uid
# 65532 on a read-only root filesystem and owns its hostPath spool; the
# profiles of a real annotated Deployment arrive in profefe named after it;
# a rollout of that Deployment while its CPU profiles are in flight leaves
# the collector running and its new pods are collected; `kubectl profefe
# capture` reaches a real pod through the API server's pod proxy; `kubectl
# delete -k` removes everything but the node's spool directory.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/realnode_lib.sh
source "$(dirname "$0")/realnode_lib.sh"

e2e_extra_cleanup() { realnode_cleanup; }

app=web$((RANDOM % 1000))
cpu_seconds=4
write_overlay KPROFEFE_INTERVAL=10s KPROFEFE_CPU_SECONDS=$cpu_seconds KPROFEFE_PROFILES=cpu,heap,goroutine KPROFEFE_SHUTDOWN_GRACE=5s
kubectl create namespace "$APP_NS" >/dev/null
deploy_app "$app" 2
install_ds

# ------------------------------------------------- Running, Ready, probes --

pod=$(ds_pod)
[[ -n $pod ]] || fail "no pod of $DS"
wait_for 60 pod_ready "$DS_NS" "$pod"
pj=$(kubectl get pod -n "$DS_NS" "$pod" -o json)
assert_eq "$NODE" "$(jq -r .spec.nodeName <<<"$pj")" "node of $pod"
assert_eq "$KPROFEFE_COLLECTOR_IMAGE" "$(jq -r '.spec.containers[0].image' <<<"$pj")" "image of $pod"
assert_eq "0" "$(jq -r '.status.initContainerStatuses[0].state.terminated.exitCode' <<<"$pj")" "exit code of the spool-owner init container"
assert_eq "true" "$(jq -r '.status.containerStatuses[0].ready' <<<"$pj")" "collector ready (readiness probe /readyz)"
pod_ip=$(jq -r .status.podIP <<<"$pj")
# The probes' port answers as the kubelet found it.
assert_eq 200 "$(http_code "http://$pod_ip:9102/healthz")" "GET /healthz of $pod"
assert_eq 200 "$(http_code "http://$pod_ip:9102/readyz")" "GET /readyz of $pod"

# ------------------------------------- uid, read-only root, own spool --

assert_eq "65532 65532" "$(kubectl exec -n "$DS_NS" "$pod" -c kprofefe -- /bin/sh -c 'echo $(id -u) $(id -g)')" "uid and gid of the collector"
out=$(kubectl exec -n "$DS_NS" "$pod" -c kprofefe -- /bin/sh -c ': >/kprofefe-probe' 2>&1) &&
	fail "the collector's root filesystem is writable"
assert_contains "$out" "Read-only file system" "writing to the collector's root filesystem"
assert_eq "ro" "$(kubectl exec -n "$DS_NS" "$pod" -c kprofefe -- awk '$2 == "/" { split($4, o, ","); print o[1] }' /proc/mounts)" "root mount of the collector"
assert_eq "65532:65532 700" "$(stat -c '%u:%g %a' "$SPOOL_HOST")" "the node's spool directory $SPOOL_HOST"
# The collector process itself, seen from the node.
cpid=$(pgrep -f '^/usr/local/bin/kprofefe' | while read -r p; do
	grep -q "NODE_NAME=$NODE" "/proc/$p/environ" 2>/dev/null && echo "$p"
done | head -1)
[[ -n $cpid ]] || fail "no collector process on the node"
assert_eq "65532" "$(awk '/^Uid:/ { print $2 }' "/proc/$cpid/status")" "uid of the collector process"
assert_eq "0000000000000000" "$(awk '/^CapEff:/ { print $2 }' "/proc/$cpid/status")" "effective capabilities of the collector"
assert_eq "1" "$(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$cpid/status")" "no_new_privs of the collector"
assert_eq "2" "$(awk '/^Seccomp:/ { print $2 }' "/proc/$cpid/status")" "seccomp filter (RuntimeDefault) of the collector"
logs=$(kubectl logs -n "$DS_NS" "$pod" -c kprofefe) || fail "kubectl logs $pod"
assert_contains "$logs" '"msg":"pods listed"' "the collector's log (it listed its node's pods through the kubernetes Service)"

# ----------------------------------------- profiles named after the Deployment --

app_rolled_out "$app"
mapfile -t pods < <(app_pods "$app")
assert_eq 2 "${#pods[@]}" "Running pods of Deployment $app"
arrived() { # POD: cpu, heap and goroutine of POD, named after the Deployment
	local t
	for t in cpu heap goroutine; do
		(($(profefe_count "$app" "$t" "pod=$1,namespace=$APP_NS") >= 1)) || return 1
	done
}
for p in "${pods[@]}"; do wait_for 120 arrived "$p"; done
id=$(profefe_profiles "$app" cpu "pod=${pods[0]}" | jq -r '.[0].id')
profefe_get "$id" "$E2E_TMP/cpu.pb.gz"
pprof_top "$E2E_TMP/cpu.pb.gz" | has_samples || fail "the cpu profile of ${pods[0]} has no samples"

# --------------------- a rollout of the Deployment while CPU profiles are in flight --

metric() { # NAME{LABELS}: the collector's value, 0 when absent
	curl -fsS --noproxy '*' "http://$pod_ip:9102/metrics" | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}
heap_ok='kprofefe_fetch_total{type="heap",result="ok"}'
cpu_all() { curl -fsS --noproxy '*' "http://$pod_ip:9102/metrics" | awk '$1 ~ /^kprofefe_fetch_total\{type="cpu"/ { s += $2 } END { print s + 0 }'; }
# A round starts its CPU profiles first; they last cpu_seconds. A round's heap
# fetches done while its CPU fetches are not: those are in flight.
# Polled: true when, since the last poll, a heap fetch finished and no CPU one.
in_flight() {
	local h c was_h=${h0:-} was_c=${c0:-}
	h=$(metric "$heap_ok")
	c=$(cpu_all)
	h0=$h c0=$c
	[[ -n $was_h ]] && ((${h%.*} > ${was_h%.*} && ${c%.*} == ${was_c%.*}))
}
h0=""
wait_for 60 in_flight
kubectl -n "$APP_NS" rollout restart "deployment/$app" >/dev/null
app_rolled_out "$app"
new_pods() { mapfile -t now < <(app_pods "$app"); ((${#now[@]} == 2)) && [[ " ${pods[*]} " != *" ${now[0]} "* && " ${pods[*]} " != *" ${now[1]} "* ]]; }
wait_for 60 new_pods
for p in "${now[@]}"; do wait_for 120 arrived "$p"; done
pj2=$(kubectl get pod -n "$DS_NS" "$pod" -o json) || fail "the collector pod $pod is gone after the Deployment's rollout"
[[ $(jq -r '.status.containerStatuses[0].restartCount' <<<"$pj2") == 0 ]] ||
	fail "the collector restarted during the Deployment's rollout: $(jq -c '.status.containerStatuses[0].lastState' <<<"$pj2"); its log: $(kubectl logs -n "$DS_NS" "$pod" -c kprofefe --previous 2>&1 | tail -30)"
assert_eq "$(jq -r .metadata.uid <<<"$pj")" "$(jq -r .metadata.uid <<<"$pj2")" "the collector's pod"
logs=$(kubectl logs -n "$DS_NS" "$pod" -c kprofefe) || fail "kubectl logs $pod"
for p in "${pods[@]}"; do
	grep -q "\"msg\":\"target removed\".*$APP_NS/$p" <<<"$logs" ||
		fail "the collector did not remove the deleted pod $p: $(tail -20 <<<"$logs")"
done

# -------------------------------------------- kubectl profefe capture --

out_dir=$E2E_TMP/capture
mkdir -p "$out_dir"
# The collector takes this pod's CPU profile every round too, and Go serves
# one CPU profile at a time: a capture that meets the collector's is refused
# ("already taking a CPU profile") and tried again.
capture() {
	kubectl profefe capture "${now[0]}" -n "$APP_NS" --cpu-seconds 1 --profiles cpu,heap --output-dir "$out_dir" \
		>"$E2E_TMP/capture.out" 2>"$E2E_TMP/capture.err" && return 0
	grep -q 'already taking a CPU profile' "$E2E_TMP/capture.err" ||
		fail "kubectl profefe capture ${now[0]}: $(cat "$E2E_TMP/capture.err")"
	return 1
}
wait_for 60 capture
for t in cpu heap; do
	f=$(find "$out_dir" -name "profile-$t-${now[0]}-*.pb.gz" | head -1)
	[[ -n $f ]] || fail "capture wrote no $t profile: $(ls "$out_dir")"
	is_gzip "$f" || fail "$f is not gzip"
	pprof_top "$f" >/dev/null
done
# Through the API server's pod proxy: its audit log shows the proxied GETs.
assert_contains "$(jq -c --arg p "${now[0]}" 'select(.objectRef.resource == "pods" and .objectRef.subresource == "proxy" and (.objectRef.name | split(":")[0]) == $p and .stage == "ResponseComplete") | .responseStatus.code' "$KPROFEFE_AUDIT_LOG" | sort -u)" 200 "proxied requests to ${now[0]} in the audit log"

# -------------------------------------------------------- delete -k --

kubectl delete -k "$OVERLAY" --wait=true --timeout=120s >/dev/null || fail "kubectl delete -k $OVERLAY"
for o in "namespace/$DS_NS" clusterrole/kprofefe clusterrolebinding/kprofefe; do
	kubectl get "$o" >/dev/null 2>&1 && fail "$o is left after kubectl delete -k"
done
wait_for 60 bash -c "! pgrep -f '^/usr/local/bin/kprofefe' >/dev/null"
[[ -d $SPOOL_HOST ]] || fail "kubectl delete -k removed the node's spool directory $SPOOL_HOST"
echo "PASS: apply -k on the real node: Running+Ready by probes, uid 65532, read-only root, no capabilities, seccomp, own spool; profiles of Deployment $app; rollout of $app with CPU profiles in flight; capture via pod proxy; delete -k keeps the spool"
