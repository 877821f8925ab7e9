#!/usr/bin/env bash
# --once always ends: against an API server nobody answers for, at its own
# deadline; and on SIGTERM before the round ended. Both exit 1 and say why in
# the log; neither looks like a successful Job.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

# once_status LOG: the status of the "--once round did not complete" event.
once_status() {
	log_json "$1" 'select(.msg == "--once round did not complete") | .status'
}

# 1. An unreachable API server: the kubeconfig's server is a loopback port
#    nothing listens on. The deadline is derived from the round's timeouts
#    (60 s to list, then twice cpu-seconds + margin, then the fetch timeout):
#    60 + 2*(1+1) + 5 = 69 s here; 130 s at the defaults.
dead_kubeconfig=$E2E_TMP/dead.kubeconfig
cp "$KUBECONFIG" "$dead_kubeconfig"
cluster=$(kubectl --kubeconfig "$dead_kubeconfig" config view --minify -o jsonpath='{.clusters[0].name}')
kubectl --kubeconfig "$dead_kubeconfig" config set-cluster "$cluster" --server=https://127.0.0.1:9 >/dev/null
start=$(date +%s)
rc=0
"$KPROFEFE_BIN" --node-name node-a --kubeconfig "$dead_kubeconfig" --profefe-hostport "$PROFEFE_URL" \
	--once --cpu-seconds 1 --cpu-timeout-margin 1s --fetch-timeout 5s --metrics-addr "" \
	--spool-dir "$E2E_TMP/dead.spool" --log-format json >"$E2E_TMP/dead.log" 2>&1 || rc=$?
took=$(($(date +%s) - start))
assert_eq 1 "$rc" "exit status of --once with the API server unreachable"
assert_eq pods_not_listed "$(once_status "$E2E_TMP/dead.log")" "status logged at the deadline"
((took >= 69 && took < 180)) || fail "--once took ${took}s to give up; want 69 s (the derived deadline)"
echo "PASS: --once gives up at its derived deadline (${took}s) when the API server is unreachable"

# 2. An explicit deadline shorter than the round: the CPU profile takes 5 s.
ns=oncedl-$RANDOM
pod_add slow --node node-a --namespace "$ns" --annotate profefe.com/enable=true \
	--annotate profefe.com/service="slow-$ns" >/dev/null
rc=0
"$KPROFEFE_BIN" --node-name node-a --kubeconfig "$KUBECONFIG" --profefe-hostport "$PROFEFE_URL" \
	--once --cpu-seconds 5 --once-deadline 2s --metrics-addr "" --spool-dir "$E2E_TMP/short.spool" \
	--log-format json >"$E2E_TMP/short.log" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of --once past --once-deadline"
assert_eq fetches_unfinished "$(once_status "$E2E_TMP/short.log")" "status logged at --once-deadline"
echo "PASS: --once-deadline ends an unfinished round with exit 1"

# 3. SIGTERM once the pods are listed, while the 5 s CPU profile runs.
"$KPROFEFE_BIN" --node-name node-a --kubeconfig "$KUBECONFIG" --profefe-hostport "$PROFEFE_URL" \
	--once --cpu-seconds 5 --metrics-addr "" --spool-dir "$E2E_TMP/term.spool" \
	--log-format json >"$E2E_TMP/term.log" 2>&1 &
pid=$!
wait_for 30 log_json_has "$E2E_TMP/term.log" '.msg == "pods listed"'
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
assert_eq 1 "$rc" "exit status of --once stopped by SIGTERM before its round ended"
assert_eq fetches_unfinished "$(once_status "$E2E_TMP/term.log")" "status logged on SIGTERM"
log_json_has "$E2E_TMP/term.log" '.msg == "--once round did not complete" and .reason == "SIGTERM"' ||
	fail "no SIGTERM reason logged: $(cat "$E2E_TMP/term.log")"
echo "PASS: SIGTERM before the round ended exits 1"
