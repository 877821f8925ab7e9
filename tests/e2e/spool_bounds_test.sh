#!/usr/bin/env bash
# The spool's bounds, with profefe down and profiles piling up:
# --spool-max-bytes evicts the oldest entries (reason size) and
# --spool-max-age the ones collected too long ago (reason age, while writing
# and by the periodic expiry once nothing is written any more). Each eviction
# is one log line naming the entry, in oldest-first order, and counted in
# kprofefe_spool_evicted_total{reason}; what stays is always the newest.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/spool_lib.sh"

ns=bounds-$RANDOM
e2e_extra_cleanup() {
	collectors_stop_all
	"$CLUSTER" profefe start >/dev/null 2>&1 || true
}
# evicted LOG REASON: the entries LOG says were evicted for REASON, in log order.
evicted() {
	log_json "$1" --arg r "$2" 'select(.msg == "spool entry evicted" and .reason == $r) | .entry'
}
# check_evictions NAME REASON: NAME's evictions for REASON were logged oldest
# first, each counted, and each is older than every entry still spooled.
check_evictions() {
	local name=$1 reason=$2 gone left
	gone=$(evicted "$E2E_TMP/$name.log" "$reason")
	[[ -n $gone ]] || fail "$name: no eviction logged for $reason"
	assert_eq "$(LC_ALL=C sort <<<"$gone")" "$gone" "$name: order of the $reason evictions (oldest first)"
	[[ -z $(LC_ALL=C sort <<<"$gone" | uniq -d) ]] || fail "$name: an entry was evicted twice: $gone"
	assert_eq "$(wc -l <<<"$gone")" "$(metric_value "$name" "kprofefe_spool_evicted_total{reason=\"$reason\"}")" \
		"$name: evictions for $reason logged vs counted"
	left=$(spool_entries "$E2E_TMP/$name.spool" | sed -n 1p)
	[[ -z $left || $(tail -1 <<<"$gone") < $left ]] || fail "$name: evicted $(tail -1 <<<"$gone") but kept the older $left"
	for e in $gone; do [[ ! -e $E2E_TMP/$name.spool/$e ]] || fail "$name: evicted entry $e is still on disk"; done
}
# quiet NAME POD: deletes the pod and waits until nothing is left in memory.
quiet() {
	"$CLUSTER" pod del "$2" --namespace "$ns" >/dev/null
	wait_for 15 target_removed "$1" "$ns/$2"
	wait_for 10 metric_is "$1" kprofefe_queue_depth 0
}

"$CLUSTER" profefe stop >/dev/null

# ---- size: room for a few entries of about 2 KB.
max_bytes=8000
spool_pod "$ns" big "svc-$ns-size"
spool_collector size "$SPOOL_NODE" "$E2E_TMP/size.spool" --profiles heap,goroutine,threadcreate \
	--spool-max-bytes "$max_bytes"
wait_for 30 metric_at_least size 'kprofefe_spool_evicted_total{reason="size"}' 6
quiet size big
check_evictions size size
bytes=$(find "$E2E_TMP/size.spool" -maxdepth 1 -name '[!.]*.prof' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
((bytes <= max_bytes)) || fail "spool holds $bytes bytes, bound $max_bytes"
assert_eq "$bytes" "$(metric_value size kprofefe_spool_bytes)" "kprofefe_spool_bytes"
on_disk=$(spool_count "$E2E_TMP/size.spool")
assert_eq "$on_disk" "$(metric_value size kprofefe_spool_entries)" "kprofefe_spool_entries"
assert_eq $(($(metric_sum size kprofefe_spool_written_total) - $(metric_sum size kprofefe_spool_evicted_total))) \
	"$on_disk" "entries written minus evicted vs on disk"
collector_stop size

# ---- age: entries older than 3s go while new ones are written, and the rest
# by the periodic expiry (every --spool-max-age/10, at least 1s) once the pod
# is gone and nothing new comes.
spool_pod "$ns" old "svc-$ns-age"
spool_collector age "$SPOOL_NODE" "$E2E_TMP/age.spool" --profiles heap,goroutine --spool-max-age 3s
wait_for 30 metric_at_least age 'kprofefe_spool_evicted_total{reason="age"}' 2
while_writing=$(evicted "$E2E_TMP/age.log" age | wc -l)
quiet age old
written=$(metric_sum age kprofefe_spool_written_total)
wait_for 15 spool_empty "$E2E_TMP/age.spool"
wait_for 5 metric_is age kprofefe_spool_entries 0
check_evictions age age
assert_eq "$written" "$(metric_value age 'kprofefe_spool_evicted_total{reason="age"}')" "entries written vs evicted for age"
assert_eq 0 "$(metric_value age 'kprofefe_spool_evicted_total{reason="size"}')" "size evictions under the default bound"
age_s=$(metric_value age kprofefe_spool_oldest_age_seconds)
assert_eq 0 "$age_s" "kprofefe_spool_oldest_age_seconds of an empty spool"
collector_stop age

echo "PASS: size bound $max_bytes evicted $(evicted "$E2E_TMP/size.log" size | wc -l) oldest first; age bound 3s evicted $while_writing while collecting and the rest once collection stopped, all $written logged and counted"
