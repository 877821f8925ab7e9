#!/usr/bin/env bash
# SIGTERM loses nothing: profiles waiting in memory (a long --batch-interval)
# are written to the spool before the collector exits, both when profefe is
# down (the last flush fails at once) and when it is slow (SIGSTOPped: the
# uploads hang until --shutdown-grace, are canceled and spooled). The
# collector's "stopped" line counts what it fetched and what the spool holds;
# the spool holds exactly those, complete; a later collector delivers them.
# The slow case also shows why delivery is at-least-once: profefe, resumed,
# may still store an upload the collector canceled and spooled.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/spool_lib.sh"

ns=term-$RANDOM
types=(heap goroutine threadcreate)
profefe_pid() { cat "$KPROFEFE_CLUSTER_DIR/profefe.pid"; }
e2e_extra_cleanup() {
	[[ -e $KPROFEFE_CLUSTER_DIR/profefe.pid ]] && kill -CONT "$(profefe_pid)" 2>/dev/null
	collectors_stop_all
	"$CLUSTER" profefe start >/dev/null 2>&1 || true
}
# in_memory NAME N: NAME holds N or more fetched profiles in memory, none spooled.
in_memory() {
	local c
	c=$(metric_sum "$1" kprofefe_profiles_collected_total)
	((c >= $2)) && metric_is "$1" kprofefe_queue_depth "$c" && spool_empty "$E2E_TMP/$1.spool"
}
# payload_hashes DIR: sorted sha256 of the payloads of DIR's entries.
payload_hashes() {
	local e
	for e in $(spool_entries "$1"); do spool_payload "$1/$e" | sha256sum | awk '{ print $1 }'; done | LC_ALL=C sort
}
# check_spooled NAME: after NAME's SIGTERM, its spool holds what it fetched.
check_spooled() {
	local name=$1 collected entries
	collected=$(stopped_field "$E2E_TMP/$name.log" profiles_collected)
	entries=$(stopped_field "$E2E_TMP/$name.log" spool_entries)
	[[ -n $collected ]] || fail "$name logged no \"stopped\" line: $(tail -5 "$E2E_TMP/$name.log")"
	assert_eq "$collected" "$entries" "$name: profiles fetched vs spooled at exit"
	assert_eq "$collected" "$(spool_count "$E2E_TMP/$name.spool")" "$name: entries on disk"
	for f in "$E2E_TMP/$name.spool"/*.prof; do spool_entry_ok "$f" || fail "$name: incomplete entry $f"; done
	! log_json_has "$E2E_TMP/$name.log" 'select(.msg == "profile dropped unsent")' || fail "$name dropped a profile at shutdown"
}
# drain NAME SERVICE: a collector without pods delivers NAME's spool; profefe
# then holds every spooled payload (duplicates allowed: printed).
drain() {
	local name=$1 svc=$2 t got
	payload_hashes "$E2E_TMP/$name.spool" >"$E2E_TMP/$name.want"
	spool_collector "$name-drain" "$SPOOL_IDLE_NODE" "$E2E_TMP/$name.spool" --spool-drain-rate 20
	wait_for 30 spool_empty "$E2E_TMP/$name.spool"
	collector_stop "$name-drain"
	for t in "${types[@]}"; do profefe_download "$svc" "$t" "$E2E_TMP/$name.got/$t"; done
	mapfile -t got < <(find "$E2E_TMP/$name.got" -name '*.pb.gz')
	assert_eq "$(cat "$E2E_TMP/$name.want")" "$(hashes "${got[@]}" | uniq)" "$name: payloads in profefe vs spooled"
	echo $((${#got[@]} - $(wc -l <"$E2E_TMP/$name.want")))
}
flags=(--profiles "$(IFS=,; echo "${types[*]}")" --batch-interval 1h --batch-size 1000)

# ---- profefe down.
"$CLUSTER" profefe stop >/dev/null
spool_pod "$ns" p1 "svc-$ns-down"
spool_collector down "$SPOOL_NODE" "$E2E_TMP/down.spool" "${flags[@]}"
wait_for 30 in_memory down 6
collector_stop down
assert_eq 0 "$collector_rc" "exit status after SIGTERM with profefe down"
check_spooled down
"$CLUSTER" pod del p1 --namespace "$ns" >/dev/null
"$CLUSTER" profefe start >/dev/null
dups=$(drain down "svc-$ns-down")
assert_eq 0 "$dups" "duplicates when profefe was down"

# ---- profefe slow: stopped with SIGSTOP, its socket still accepts.
spool_pod "$ns" p2 "svc-$ns-slow"
spool_collector slow "$SPOOL_NODE" "$E2E_TMP/slow.spool" "${flags[@]}" --shutdown-grace 2s
wait_for 30 in_memory slow 6
kill -STOP "$(profefe_pid)"
start_ns=$(date +%s%N)
collector_stop slow
took_ms=$((($(date +%s%N) - start_ns) / 1000000))
kill -CONT "$(profefe_pid)"
assert_eq 0 "$collector_rc" "exit status after SIGTERM with profefe slow"
((took_ms >= 1900 && took_ms < 10000)) || fail "shutdown with a hanging profefe took ${took_ms} ms, want the 2s grace"
check_spooled slow
"$CLUSTER" pod del p2 --namespace "$ns" >/dev/null
slow_dups=$(drain slow "svc-$ns-slow")
((slow_dups <= 4)) || fail "$slow_dups duplicates, more than the 4 uploads that were in flight"

echo "PASS: SIGTERM spooled every profile held in memory (profefe down: 0 duplicates; profefe hanging: spooled after the 2s grace, $slow_dups duplicates of canceled uploads profefe stored anyway)"
