#!/usr/bin/env bash
# The spool's disk fails the collector: a read-only spool directory (a
# read-only tmpfs: permission bits do not stop root) and a full one (a tiny
# tmpfs, ENOSPC). Each failure is logged and counted in
# kprofefe_spool_errors_total{op,errno}; the collector keeps collecting,
# keeps what it cannot write in memory (bounded by --max-queue, drops
# counted), and uploads everything it can once profefe is back: entries it
# finds on the read-only spool are uploaded once each (it cannot delete them,
# so it forgets them instead of sending them again and again).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/spool_lib.sh"

ns=disk-$RANDOM
types=heap,goroutine,threadcreate
e2e_extra_cleanup() {
	collectors_stop_all
	spool_unmount_all
	"$CLUSTER" profefe start >/dev/null 2>&1 || true
}
# total SERVICE: profiles profefe holds for SERVICE, all the test's types.
total() {
	local t n=0
	for t in ${types//,/ }; do n=$((n + $(profefe_count "$1" "$t"))); done
	echo "$n"
}
total_is() { (($(total "$1") == $2)); }
# stop_pod NAME COLLECTOR: deletes the pod and waits until the collector dropped it.
stop_pod() {
	"$CLUSTER" pod del "$1" --namespace "$ns" >/dev/null
	wait_for 15 target_removed "$2" "$ns/$1"
}

"$CLUSTER" profefe stop >/dev/null

# ---- read-only: entries written before, then the filesystem goes read-only.
ro=$E2E_TMP/ro
mount_tmpfs "$ro" size=4m
spool_pod "$ns" seed "svc-$ns-seed"
spool_collector seed "$SPOOL_NODE" "$ro" --profiles "$types"
wait_for 30 metric_at_least seed kprofefe_spool_written_total 3
stop_pod seed seed
collector_stop seed
seeded=$(spool_count "$ro")
((seeded >= 3)) || fail "only $seeded entries seeded"
mount -o remount,ro "$ro" || fail "remount $ro read-only failed"
touch "$ro/probe" 2>/dev/null && fail "$ro is still writable"

spool_pod "$ns" live "svc-$ns-live"
spool_collector ro "$SPOOL_NODE" "$ro" --profiles "$types" --spool-drain-rate 20
wait_for 30 metric_at_least ro 'kprofefe_spool_errors_total{op="put",errno="EROFS"}' 3
log_json_has "$E2E_TMP/ro.log" '.msg == "spool write failed; keeping profile in memory" and
	(.error | test("^spool put: create .*Read-only file system"))' ||
	fail "no log line saying the read-only spool cannot be written"
wait_for 10 metric_at_least ro kprofefe_queue_depth 3
collected_before=$(metric_sum ro kprofefe_profiles_collected_total)
wait_for 10 metric_at_least ro kprofefe_profiles_collected_total $((collected_before + 1))

"$CLUSTER" profefe start >/dev/null
wait_for 60 metric_is ro 'kprofefe_spool_errors_total{op="remove",errno="EROFS"}' "$seeded"
wait_for 10 metric_is ro kprofefe_spool_entries 0
log_json_has "$E2E_TMP/ro.log" --arg dir "$ro" \
	'.msg == "spool: cannot delete a finished entry; forgetting it until restart" and
	 .dir == $dir and .op == "remove" and .error == "Read-only file system"' ||
	fail "no log line saying uploaded entries cannot be deleted"
stop_pod live ro
collected=$(metric_sum ro kprofefe_profiles_collected_total)
wait_for 30 total_is "svc-$ns-live" "$collected"
wait_for 10 metric_is ro kprofefe_queue_depth 0
# Uploaded once each, though the files are still there: not again and again.
assert_eq "$seeded" "$(total "svc-$ns-seed")" "profiles of the entries found on the read-only spool"
assert_eq "$seeded" "$(spool_count "$ro")" "entries left on the read-only spool"
collector_stop ro
assert_eq 0 "$collector_rc" "exit status of the collector on a read-only spool"
ro_collected=$collected

# ---- full: a 16 KiB tmpfs holds a few entries, then ENOSPC.
"$CLUSTER" profefe stop >/dev/null
full=$E2E_TMP/full
mount_tmpfs "$full" size=16k
spool_pod "$ns" fill "svc-$ns-fill"
max_queue=4
spool_collector full "$SPOOL_NODE" "$full" --profiles "$types" --max-queue "$max_queue"
wait_for 30 metric_at_least full 'kprofefe_spool_errors_total{op="put",errno="ENOSPC"}' 3
log_json_has "$E2E_TMP/full.log" '.msg == "spool write failed; keeping profile in memory" and
	(.error | test("No space left on device"))' ||
	fail "no log line saying the spool is full"
# Memory is bounded too: beyond --max-queue the oldest goes, counted.
wait_for 30 metric_at_least full 'kprofefe_queue_dropped_total{reason="full"}' 1
log_json_has "$E2E_TMP/full.log" '.msg == "profile dropped unsent" and .reason == "full"' || fail "no log line for a dropped profile"
[[ -z $(find "$full" -maxdepth 1 -name '.tmp-*') ]] || fail "failed writes left temporary files: $(ls -A "$full")"
for f in "$full"/*.prof; do spool_entry_ok "$f" || fail "a full disk left an incomplete entry $f"; done

"$CLUSTER" profefe start >/dev/null
wait_for 60 spool_empty "$full"
stop_pod fill full
collected=$(metric_sum full kprofefe_profiles_collected_total)
dropped=$(metric_sum full kprofefe_queue_dropped_total)
wait_for 30 total_is "svc-$ns-fill" $((collected - dropped))
wait_for 10 metric_is full kprofefe_spool_entries 0
assert_eq "$(metric_sum full kprofefe_spool_written_total)" "$(metric_sum full kprofefe_spool_drained_total)" "entries written vs drained on the full spool"
collector_stop full
assert_eq 0 "$collector_rc" "exit status of the collector on a full spool"

echo "PASS: read-only spool: EROFS logged and counted, $ro_collected profiles kept in memory and delivered, $seeded entries found there uploaded once; full spool: ENOSPC logged and counted, $((collected - dropped)) of $collected delivered, $dropped dropped beyond --max-queue $max_queue and counted"
