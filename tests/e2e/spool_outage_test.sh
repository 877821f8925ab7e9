#!/usr/bin/env bash
# profefe goes down for several rounds and comes back: the collector keeps
# collecting into its spool (nothing waits in memory), and once profefe
# answers again it drains the spool oldest first at --spool-drain-rate while
# fresh profiles keep flowing. In the end profefe holds exactly as many
# profiles of the test's services as the collector fetched
# (kprofefe_profiles_collected_total, final once the pods are gone), every
# spooled one was drained, and the spool is empty.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/spool_lib.sh"

ns=outage-$RANDOM
types=(heap goroutine threadcreate)
pods=2
services=()
for ((i = 1; i <= pods; i++)); do
	services+=("svc-$ns-$i")
	spool_pod "$ns" "p$i" "svc-$ns-$i"
done
e2e_extra_cleanup() {
	collectors_stop_all
	"$CLUSTER" profefe start >/dev/null 2>&1 || true
}

# profefe_total: profiles profefe holds for the test's services, all types.
profefe_total() {
	local s t n=0
	for s in "${services[@]}"; do
		for t in "${types[@]}"; do n=$((n + $(profefe_count "$s" "$t"))); done
	done
	echo "$n"
}
total_is() { (($(profefe_total) == $1)); }
# fresh_arrived SINCE: profefe holds a profile of the first service created at or after SINCE.
fresh_arrived() {
	profefe_profiles "${services[0]}" heap | jq -e --arg t "$1" 'map(select(.created_at[:19] >= $t)) | length > 0'
}

spool=$E2E_TMP/c.spool
rate=2
# One upload slot for replays (half of --upload-concurrency), so replays go
# strictly one after the other, oldest first.
spool_collector c "$SPOOL_NODE" "$spool" --profiles "$(IFS=,; echo "${types[*]}")" \
	--upload-concurrency 2 --spool-drain-rate "$rate"
wait_for 20 count_at_least 1 "${services[0]}" heap

# The outage: several rounds (every 2s) go to the spool, none stays in memory.
"$CLUSTER" profefe stop >/dev/null
down_at=$(date -u +%Y-%m-%dT%H:%M:%S)
rounds=3
want_spooled=$((rounds * pods * ${#types[@]}))
wait_for 30 metric_at_least c kprofefe_spool_written_total "$want_spooled"
log_json_has "$E2E_TMP/c.log" 'select(.msg == "profefe unavailable; spooling until it answers")' ||
	fail "no log line saying profefe is unavailable"
wait_for 5 metric_is c kprofefe_queue_depth 0
on_disk=$(spool_count "$spool")
((on_disk >= want_spooled)) || fail "$on_disk entries on disk during the outage, want >= $want_spooled"
for f in "$spool"/*.prof; do
	spool_entry_ok "$f" || fail "spool entry $f is not a complete entry"
done
# kprofefe_spool_entries agrees with the disk (read twice to be sure no round ran between).
gauge_matches_disk() {
	local before
	before=$(spool_count "$spool")
	[[ $(metric_value c kprofefe_spool_entries) == "$before" && $(spool_count "$spool") == "$before" ]]
}
wait_for 5 gauge_matches_disk
age=$(metric_value c kprofefe_spool_oldest_age_seconds)
awk -v a="$age" 'BEGIN { exit !(a > 0) }' || fail "kprofefe_spool_oldest_age_seconds is $age during the outage"

# profefe is back: the spool drains at the bounded rate, and fresh profiles
# arrive while it does.
up_at=$(date -u +%Y-%m-%dT%H:%M:%S)
up_ns=$(date +%s%N)
"$CLUSTER" profefe start >/dev/null
# Profiles collected a second after the collector noticed are fresh ones.
wait_for 70 log_json_has "$E2E_TMP/c.log" 'select(.msg == "profefe reachable again")'
wait_for 30 fresh_arrived "$(date -u -d "@$(($(date +%s) + 1))" +%Y-%m-%dT%H:%M:%S)"
left=$(metric_value c kprofefe_spool_entries)
((left > 0)) || fail "the spool was empty before the first fresh profile arrived: fresh ones waited for the drain"
wait_for 60 spool_empty "$spool"
drain_s=$((($(date +%s%N) - up_ns) / 1000000000))
written=$(metric_sum c kprofefe_spool_written_total)
# At most $rate replays a second: draining $written entries takes (written-1)/rate s or more.
min_s=$(((written - 1) / rate))
((drain_s + 1 >= min_s)) || fail "drained $written entries in ${drain_s}s: faster than --spool-drain-rate $rate"

# Stop collecting (deleting the pods), so the collected count is final.
for ((i = 1; i <= pods; i++)); do "$CLUSTER" pod del "p$i" --namespace "$ns" >/dev/null; done
for ((i = 1; i <= pods; i++)); do
	wait_for 15 target_removed c "$ns/p$i"
done
collected=$(metric_sum c kprofefe_profiles_collected_total)
wait_for 30 total_is "$collected"
wait_for 10 metric_is c kprofefe_spool_entries 0
assert_eq "$written" "$(metric_sum c kprofefe_spool_drained_total)" "spooled profiles drained"
for m in kprofefe_spool_evicted_total kprofefe_spool_quarantined_total kprofefe_spool_rejected_total \
	kprofefe_queue_dropped_total kprofefe_spool_errors_total; do
	assert_eq 0 "$(metric_sum c "$m")" "$m"
done
spool_empty "$spool" || fail "spool not empty at the end: $(ls -A "$spool")"

# Profiles of the outage kept their own collection time, and were replayed
# oldest first: profefe lists them in arrival order, and among those collected
# strictly inside the outage no later one arrived before an earlier one (one
# second of slack: the time is profefe's, from the profile, in seconds).
during=$(profefe_profiles "${services[0]}" heap | jq --arg a "$down_at" --arg b "$up_at" \
	'[.[] | .created_at[:19] | select(. > $a and . < $b)]')
(($(jq length <<<"$during") >= rounds - 1)) || fail "profefe holds too few heap profiles collected during the outage: $during"
jq -e 'map(sub("Z$"; "") + "Z" | fromdate) | . as $t | [range(1; length) | select($t[.] < $t[. - 1] - 1)] | length == 0' \
	<<<"$during" >/dev/null || fail "outage profiles were not replayed oldest first: $during"

collector_stop c
assert_eq 0 "$collector_rc" "collector exit status"
echo "PASS: outage of $written spooled profiles: drained in ${drain_s}s at <= $rate/s beside fresh ones; profefe holds all $collected collected"
