#!/usr/bin/env bash
# The running collector follows the watch: annotating a pod starts its
# scraping, deleting a pod stops it, an API server restart is survived, and
# every pod list and watch it sends is scoped to its node.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=watch-$RANDOM
# Audit events from before this test (other tests' collectors) do not count.
started=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
on=profefe.com/enable=true
svc() { echo "svc-$ns-$1"; }
pod_add first --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/service="$(svc first)" >/dev/null
pod_add later --node node-a --namespace "$ns" --annotate profefe.com/service="$(svc later)" >/dev/null

collector_start c node-a --profiles heap,goroutine
wait_for 20 count_at_least 1 "$(svc first)" heap
assert_eq 0 "$(profefe_count "$(svc later)" heap)" "profiles of the pod not annotated yet"

# Annotating the running pod starts its scraping.
kubectl annotate pod later -n "$ns" $on >/dev/null
wait_for 15 count_at_least 1 "$(svc later)" heap

# Deleting a pod stops it: once the collector dropped it, its count stays put
# while the other pod goes on being scraped for two more rounds.
"$CLUSTER" pod del first --namespace "$ns" >/dev/null
wait_for 15 grep -q "msg=\"target removed\" pod=$ns/first" "$E2E_TMP/c.log"
before=$(profefe_count "$(svc first)" heap)
later_now=$(profefe_count "$(svc later)" heap)
wait_for 20 count_at_least $((later_now + 2)) "$(svc later)" heap
assert_eq "$before" "$(profefe_count "$(svc first)" heap)" "profiles of the deleted pod"

# An API server restart: the watch reconnects, and a pod added afterwards is
# picked up.
"$CLUSTER" apiserver restart >/dev/null
pod_add after --node node-a --namespace "$ns" --annotate $on --annotate profefe.com/service="$(svc after)" >/dev/null
wait_for 30 count_at_least 1 "$(svc after)" heap
restarts=$(collector_metrics c | awk '/^kprofefe_watch_restarts_total/ { n += $2 } END { print n + 0 }')
((restarts >= 1)) || fail "no watch restart counted after the API server restart"

# The audit log: every pods list and watch of the collector names node-a.
requests=$(jq -r --arg since "$started" 'select(.requestReceivedTimestamp >= $since)
	| select(.userAgent | startswith("kprofefe/")) | select(.objectRef.resource == "pods")
	| "\(.verb) \(.requestURI)"' "$KPROFEFE_AUDIT_LOG" | sort -u)
grep -q '^list ' <<<"$requests" || fail "no pod list by the collector in the audit log"
grep -q '^watch ' <<<"$requests" || fail "no pod watch by the collector in the audit log"
unscoped=$(grep -v 'fieldSelector=spec.nodeName%3Dnode-a' <<<"$requests" || true)
[[ -z $unscoped ]] || fail "collector requests without fieldSelector spec.nodeName=node-a: $unscoped"

collector_stop c
assert_eq 0 "$collector_rc" "collector exit status after SIGTERM"
echo "PASS: annotate starts, delete stops, API server restart survived, requests node-scoped"
