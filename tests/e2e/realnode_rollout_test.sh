#!/usr/bin/env bash
# e2e on the real node: a rolling update of the DaemonSet loses no profile.
# With profefe stopped, `kubectl -n kprofefe rollout restart daemonset/kprofefe`:
# the kubelet sends the old pod SIGTERM, and it writes what it holds to the
# node's spool within the grace period; the new pod (maxSurge 0: after the old
# one is gone) keeps collecting into the spool and, once profefe is back,
# replays it. Every profile the two pods took before and during the rollout
# is in profefe, counted by created_at against the counts the collectors
# report when they stop.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/realnode_lib.sh
source "$(dirname "$0")/realnode_lib.sh"

e2e_extra_cleanup() {
	kill "${log_pids[@]}" 2>/dev/null || true
	realnode_cleanup
}
log_pids=()

app=roll$((RANDOM % 1000))
types=(cpu heap goroutine)
start=$(profefe_time -2)
write_overlay KPROFEFE_INTERVAL=5s KPROFEFE_CPU_SECONDS=1 KPROFEFE_PROFILES=cpu,heap,goroutine KPROFEFE_SHUTDOWN_GRACE=5s
kubectl create namespace "$APP_NS" >/dev/null
deploy_app "$app" 1
install_ds
app_rolled_out "$app"
old=$(ds_pod)
wait_for 60 pod_ready "$DS_NS" "$old"
old_uid=$(kubectl get pod -n "$DS_NS" "$old" -o jsonpath='{.metadata.uid}')
# The collector's whole log, until its container exits.
kubectl logs -f -n "$DS_NS" "$old" -c kprofefe >"$E2E_TMP/old.log" 2>&1 &
log_pids+=($!)

# profefe_total: profiles of the app stored since the test started, all types.
profefe_total() { profefe_since "$app" "$start" "${types[@]}"; }
some_stored() { (($(profefe_total) >= 3)); }
wait_for 90 some_stored

# ------------------------------------------- profefe down, then the rollout --

"$CLUSTER" profefe stop
old_ip=$(kubectl get pod -n "$DS_NS" "$old" -o jsonpath='{.status.podIP}')
spooling() { # the old pod holds profiles it could not upload
	curl -fsS --noproxy '*' "http://$old_ip:9102/metrics" |
		awk '$1 ~ /^kprofefe_(spool_entries|queue_depth)/ { s += $2 } END { exit !(s > 0) }'
}
wait_for 60 spooling
kubectl -n "$DS_NS" rollout restart "$DS" >/dev/null
new_pod() { local p; p=$(ds_pod); [[ -n $p && $p != "$old" ]] && pod_ready "$DS_NS" "$p"; }
wait_for 120 new_pod
new=$(ds_pod)
kubectl get pod -n "$DS_NS" "$old" >/dev/null 2>&1 && fail "the old pod $old is still there beside $new (maxSurge 0)"
wait "${log_pids[0]}" || true
old_stop=$(stopped_line "$E2E_TMP/old.log")
[[ -n $old_stop ]] || fail "the old pod did not stop cleanly on SIGTERM: $(tail -20 "$E2E_TMP/old.log")"
old_spooled=$(jq -r .spool_entries <<<"$old_stop")
((old_spooled > 0)) || fail "the old pod spooled nothing while profefe was down: $old_stop"
kubectl logs -f -n "$DS_NS" "$new" -c kprofefe >"$E2E_TMP/new.log" 2>&1 &
log_pids+=($!)
# The new pod collects while profefe is still down: those must arrive too.
new_ip=$(kubectl get pod -n "$DS_NS" "$new" -o jsonpath='{.status.podIP}')
new_collected() {
	curl -fsS --noproxy '*' "http://$new_ip:9102/metrics" |
		awk '$1 ~ /^kprofefe_profiles_collected_total/ { s += $2 } END { exit !(s > 0) }'
}
wait_for 60 new_collected

# ------------------------------------------------ profefe back: the replay --

"$CLUSTER" profefe start
spool_empty() { (($(find "$SPOOL_HOST" -maxdepth 1 -type f ! -name '.*' | wc -l) == 0)); }
wait_for 120 spool_empty
# Stop the new pod too (profefe up: it uploads what it holds), so that both
# counts are final.
kubectl delete -k "$OVERLAY" --wait=true --timeout=120s >/dev/null || fail "kubectl delete -k"
wait "${log_pids[1]}" || true
new_stop=$(stopped_line "$E2E_TMP/new.log")
[[ -n $new_stop ]] || fail "the new pod did not stop cleanly: $(tail -20 "$E2E_TMP/new.log")"
taken=$(($(jq -r .profiles_collected <<<"$old_stop") + $(jq -r .profiles_collected <<<"$new_stop")))
left=$(jq -r .spool_entries <<<"$new_stop")
assert_eq 0 "$left" "spool entries the new pod left"
assert_eq "$taken" "$(profefe_total)" "profiles in profefe (by created_at since the start) vs taken by the old ($old, uid $old_uid) and new ($new) pods"
echo "PASS: rollout restart with profefe down: old pod spooled $old_spooled on SIGTERM, new pod replayed; all $taken profiles arrived"
