#!/usr/bin/env bash
# Hostile pods (tests/targets/hostile-pod, one per mode: redirects, endless
# body, slow drip, endless headers, gzip bombs, HTML, reset, busy, gzip that is
# not pprof) beside good pods on one node. The collector: stores the good pods'
# profiles every round, stays below the DaemonSet's memory request, counts
# every failure with its reason, sends no credential to a pod and follows no
# redirect. Then `kubectl profefe capture` against the same pods: it ends by
# itself, names each hostile pod in an error, writes only the good profiles.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/hostile_lib.sh"

ns=e2e-hostile
node=node-hostile
# The collector's memory request in daemonset/30-daemonset.yaml.
request_mib=$(awk '/^ *- name: kprofefe$/ { c = 1 } c && /requests:/ { r = 1 } r && /memory:/ { sub(/Mi/, "", $2); print $2; exit }' \
	"$E2E_ROOT/daemonset/30-daemonset.yaml")
[[ $request_mib =~ ^[0-9]+$ ]] || fail "no memory request of the kprofefe container in daemonset/30-daemonset.yaml"

e2e_extra_cleanup() {
	collectors_stop_all
	sink_stop
	sa_cleanup
}

sink_start
sa_kubeconfig "$ns" e2e-hostile-collector "$E2E_TMP/sa.kubeconfig"
good=(good-1 good-2 good-3)
for p in "${good[@]}"; do
	pod_add "$p" --node $node --namespace $ns --annotate profefe.com/enable=true \
		--annotate profefe.com/service="hostile-good-$p" >/dev/null
done
hostile_pods_add $ns $node

# A bearer token for the API server and a token and a cookie for profefe: none
# may reach a pod.
KUBECONFIG=$E2E_TMP/sa.kubeconfig collector_start c $node --profiles cpu,heap --interval 12s \
	--fetch-timeout 10s --cpu-timeout-margin 9s \
	--profefe-token e2e-hostile-secret-token --profefe-header "Cookie: session=e2e-hostile-secret"
pid=$(cat "$E2E_TMP/c.pid")

# Checks run inside wait_for, which silences them: their failures go to fd 4.
exec 4>&2
alive() { kill -0 "$pid" 2>/dev/null || fail "the collector died: $(tail -5 "$E2E_TMP/c.log")" 2>&4; }
log_failures() { # POD [TYPE]: lines of the collector's log on failed fetches of POD
	grep "msg=\"profile fetch failed\" pod=$ns/$1 type=${2:-}" "$E2E_TMP/c.log" || true
}
# good_ok: no fetch of a good pod has failed.
good_ok() {
	local p
	for p in "${good[@]}"; do
		[[ -z $(log_failures "$p") ]] ||
			fail "fetches of the good pod $p failed beside the hostile pods: $(log_failures "$p" | wc -l) failures; reasons: $(
				log_failures "$p" | sed -n 's/.* reason=\([a-z_0-9]*\).*/\1/p' | sort | uniq -c | xargs); first: $(
				log_failures "$p" | head -1); collector VmHWM $(vm_hwm_kib "$pid") KiB" 2>&4
	done
}
# rounds_done N: every hostile pod has failed N times on each type, and every
# good pod has N profiles of each type stored; fails at once when the
# collector died or a good pod's fetch failed.
rounds_done() {
	local p t
	alive
	good_ok
	for p in "${HOSTILE_PODS[@]}"; do
		for t in cpu heap; do
			(($(log_failures "$p" $t | wc -l) >= $1)) || return 1
		done
	done
	for p in "${good[@]}"; do
		for t in cpu heap; do count_at_least "$1" "hostile-good-$p" $t || return 1; done
	done
}
wait_for 300 rounds_done 3
alive
hwm=$(vm_hwm_kib "$pid")
echo "collector peak RSS (VmHWM): $hwm KiB; memory request ${request_mib}Mi"

# Every failure counted with its reason: the metric lies between the log's
# count before and after reading it, and each hostile pod failed only for the
# reasons its mode allows.
declare -A logged_before logged_after
count_reasons() { # into the array named $1: failures in the log by reason
	local -n into=$1
	local r
	into=()
	while read -r r; do into[$r]=$((${into[$r]:-0} + 1)); done < <(
		sed -n 's/.*msg="profile fetch failed" .* reason=\([a-z_0-9]*\).*/\1/p' "$E2E_TMP/c.log")
}
count_reasons logged_before
metrics=$(collector_metrics c)
count_reasons logged_after
# A busy CPU profile is tried once more in the round (kprofefe_busy_retries_total):
# its first answer is counted but not logged, only the retry's outcome is.
retried=$(awk '$1 ~ /^kprofefe_busy_retries_total\{/ { n += $2 } END { print n + 0 }' <<<"$metrics")
for r in "${!logged_after[@]}"; do
	m=$(awk -v r="result=\"$r\"" '$1 ~ /^kprofefe_fetch_total\{/ && index($1, r) { n += $2 } END { print n + 0 }' <<<"$metrics")
	[[ $r == busy ]] && m=$((m - retried))
	((m >= ${logged_before[$r]:-0} && m <= ${logged_after[$r]})) ||
		fail "kprofefe_fetch_total for result=$r is $m, the log has ${logged_before[$r]:-0}..${logged_after[$r]} such failures"
done
for p in "${HOSTILE_PODS[@]}"; do
	bad=$(log_failures "$p" | grep -Ev " reason=(${HOSTILE_REASONS[$p]}) " || true)
	[[ -z $bad ]] || fail "pod $p failed for a reason other than ${HOSTILE_REASONS[$p]}: $(head -2 <<<"$bad")"
done
ok_heap=$(awk '$1 == "kprofefe_fetch_total{type=\"heap\",result=\"ok\"}" { print $2 }' <<<"$metrics")

# The good pods: no failure, no skipped scrape, and as many rounds as the
# quick hostile pod got requests (less one, in flight).
good_ok 4>&2
skipped=$(grep 'msg="previous scrape still running' "$E2E_TMP/c.log" | grep -v "pod=$ns/slow-drip" || true)
[[ -z $skipped ]] || fail "scrapes skipped: $(head -2 <<<"$skipped")"
html_rounds=$(($(hostile_profile_requests $ns html) / 2))
for p in "${good[@]}"; do
	n=$(profefe_count "hostile-good-$p" heap)
	((n >= html_rounds - 1)) || fail "good pod $p has $n heap profiles stored after $html_rounds rounds"
done

assert_no_credentials $ns
for p in "${HOSTILE_PODS[@]}"; do
	(($(hostile_profile_requests $ns "$p") > 0)) || fail "the hostile pod $p was never asked for a profile"
done
collector_stop c
assert_eq 0 "$collector_rc" "collector exit status after SIGTERM"
# Every good heap profile fetched before the metrics were read is in profefe.
stored=0
for p in "${good[@]}"; do stored=$((stored + $(profefe_count "hostile-good-$p" heap))); done
((stored >= ${ok_heap:-0})) || fail "$ok_heap heap profiles fetched from the good pods, $stored stored"

# The plugin against the same pods, directly from the pod IPs: it ends by
# itself, with an error naming each hostile pod, and writes only the good
# pods' profiles, each within the profile cap.
out=$E2E_TMP/capture
mkdir -p "$out"
set +e
KUBECONFIG=$E2E_TMP/sa.kubeconfig timeout 300 kubectl profefe capture -n $ns --direct --profiles cpu,heap \
	--cpu-seconds 1 --request-timeout 4s --output-dir "$out" >"$E2E_TMP/capture.out" 2>"$E2E_TMP/capture.err"
rc=$?
set -e
((rc != 124)) || fail "kubectl profefe capture did not end within 300s"
assert_eq 1 "$rc" "exit status of capture with hostile pods: $(cat "$E2E_TMP/capture.err")"
for p in "${HOSTILE_PODS[@]}"; do
	grep -q "^error: pod $ns/$p" "$E2E_TMP/capture.err" ||
		fail "capture named no error for the hostile pod $p: $(cat "$E2E_TMP/capture.err")"
	[[ -z $(find "$out" -name "*-$p-*") ]] || fail "capture wrote a file for the hostile pod $p: $(ls "$out")"
done
for p in "${good[@]}"; do
	for t in cpu heap; do
		f=$(find "$out" -name "profile-$t-$p-*.pb.gz")
		[[ -n $f ]] || fail "capture wrote no $t profile of the good pod $p: $(ls "$out") $(cat "$E2E_TMP/capture.err")"
		pprof_top "$f" >/dev/null
	done
done
# The largest profile a pod may send: FETCH_DEFAULT_MAX_BYTES in fetch.h.
cap_mib=$(sed -n 's/^#define FETCH_DEFAULT_MAX_BYTES ((size_t)\([0-9]*\) << 20)$/\1/p' "$E2E_ROOT/include/kprofefe/fetch.h")
[[ -n $cap_mib ]] || fail "no FETCH_DEFAULT_MAX_BYTES ((size_t)N << 20) in include/kprofefe/fetch.h"
cap=$((cap_mib << 20))
big=$(find "$out" -type f -size +$((cap / 1024))k)
[[ -z $big ]] || fail "capture wrote files above the $cap-byte cap: $big"
assert_no_credentials $ns
# Last, so that a run over budget still shows every other finding. A
# sanitizer build's RSS is mostly shadow memory: not the figure to judge.
if sanitizer_build "$KPROFEFE_BIN"; then
	echo "note: sanitizer build; its peak RSS ($hwm KiB) is not compared with the memory request"
else
	((hwm < request_mib * 1024)) ||
		fail "collector peak RSS (VmHWM) $hwm KiB is not below the DaemonSet's memory request of ${request_mib}Mi"
fi
echo "PASS: good pods stored every round beside ${#HOSTILE_PODS[@]} hostile pods; peak RSS $hwm KiB < ${request_mib}Mi; failures counted by reason; no credential sent, no redirect followed; capture errors per pod"
