#!/usr/bin/env bash
# --once (the CronJob mode of kube-profefe): exit 0 only when every target
# succeeded; a pod whose pprof server is gone fails the round, names itself in
# the log, and does not stop the other pod's profiles from arriving.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=once-$RANDOM
on=profefe.com/enable=true
pod_add good --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/service="good-$ns" >/dev/null
pod_add dead --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/service="dead-$ns" --no-process >/dev/null

rc=0
"$KPROFEFE_BIN" --node-name node-a --kubeconfig "$KUBECONFIG" --profefe-hostport "$PROFEFE_URL" \
	--once --cpu-seconds 1 --connect-timeout 2s --metrics-addr "" --spool-dir "$E2E_TMP/spool" \
	>"$E2E_TMP/once.log" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of --once with a dead target"
grep -q "msg=\"profile fetch failed\" pod=$ns/dead type=heap reason=connect" "$E2E_TMP/once.log" ||
	fail "no fetch failure logged for $ns/dead: $(cat "$E2E_TMP/once.log")"
for type in cpu heap goroutine mutex block threadcreate; do
	assert_eq 1 "$(profefe_count "good-$ns" "$type")" "good pod's $type profiles"
done
assert_eq 0 "$(profefe_count "dead-$ns" heap)" "dead pod's heap profiles"
echo "PASS: --once fails on a dead target and still delivers the others"
