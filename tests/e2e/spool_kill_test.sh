#!/usr/bin/env bash
# SIGKILL at random moments, while the collector spools and while it drains:
# nothing torn ever counts as an entry, nothing crashes, nothing corrupt
# reaches profefe, and every complete entry arrives.
#
# Why this design gives a trustworthy count: a SIGKILLed process says nothing
# at exit, and whatever it held in memory was never promised to anyone. What
# was promised is what the spool holds. So:
#  1. Spool under kills: profefe is DOWN, so every profile a collector fetches
#     goes to the spool (--batch-interval 200ms: soon after the fetch). The
#     collector for the test's pods is started and SIGKILLed $KILLS_SPOOL
#     times: half after a random 50..800 ms (during its startup scan, its
#     fetches, its writes and fsyncs, its upload attempts), half 0..10 ms
#     after it logged that profefe is down, among its spool writes. Every
#     kill must end a live process (exit status 137, never a crash).
#  2. The spool is then read with kprofefe-spool (spool_lib.sh: verify, then
#     each entry's fields and payload): every *.prof must be a complete,
#     intact entry (a torn write may only leave a .tmp- file), and
#     the payload hashes of those entries are the set E that must arrive.
#  3. Drain under kills: profefe is UP and a collector for a node without pods
#     (it only drains) is SIGKILLed $KILLS_DRAIN times after 100..600 ms, then
#     a last one drains what is left and exits on SIGTERM.
#  4. profefe then holds, for the test's services, exactly the payloads E (as
#     a set: each downloaded profile's sha256), every one parses with
#     `go tool pprof -top`, and quarantine/ is empty. A kill between profefe's
#     200 and the delete uploads an entry twice (at-least-once): duplicates
#     are allowed, at most two per drain kill (two replay slots).
# profefe-compat (tests/profefe) parses every body with google/pprof and
# answers 500 to one it cannot parse, storing nothing: a corrupt replay would
# show up as a missing payload or a stuck drain rather than as a stored
# profile, so both are checked besides the pprof parse.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/spool_lib.sh"

KILLS_SPOOL=${KILLS_SPOOL:-40}
KILLS_DRAIN=${KILLS_DRAIN:-20}
seed=${SEED:-$$}
RANDOM=$seed
echo "spool_kill_test: seed $seed (rerun with SEED=$seed)"

ns=kill-$RANDOM
types=(heap goroutine threadcreate mutex block)
services=("svc-$ns-1" "svc-$ns-2")
spool_pod "$ns" p1 "${services[0]}"
spool_pod "$ns" p2 "${services[1]}"
e2e_extra_cleanup() {
	collectors_stop_all
	"$CLUSTER" profefe start >/dev/null 2>&1 || true
}
spool=$E2E_TMP/spool

# random_delay MIN_MS MAX_MS: seconds for sleep.
random_delay() {
	awk -v a="$1" -v b="$2" -v r="$RANDOM" 'BEGIN { printf "%.3f\n", (a + (b - a) * r / 32767) / 1000 }'
}

# lines LOG PATTERN: how many lines of LOG hold PATTERN (grep, not jq, on the
# JSON log: polled every 5 ms, where jq's start-up would delay the kill).
lines() {
	grep -c "$2" "$1" || true
}

# more_lines LOG PATTERN N: LOG holds PATTERN more than N times.
more_lines() {
	(($(lines "$1" "$2") > $3))
}

# wait_fast TIMEOUT CMD...: wait_for polling every 5 ms instead of 200 ms, so a
# kill timed from a log line lands when it should.
wait_fast() {
	local deadline=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		(($(date +%s%N) < deadline)) || fail "timed out waiting for: $*"
		sleep 0.005
	done
}

# kill_run NAME NODE MIN_MS MAX_MS [--after PATTERN] FLAGS...: one collector,
# SIGKILLed after a random delay, counted from its start or, with --after,
# from its next log line holding PATTERN; it must have been alive until then.
kill_run() {
	local name=$1 node=$2 min=$3 max=$4 rc=0 after="" before
	shift 4
	if [[ ${1:-} == --after ]]; then after=$2; shift 2; fi
	echo "=== run: kill $min..$max ms after ${after:-the start}" >>"$E2E_TMP/$name.log"
	[[ -z $after ]] || before=$(lines "$E2E_TMP/$name.log" "$after")
	spool_collector_bg "$name" "$node" "$spool" "$@"
	[[ -z $after ]] || wait_fast 10 more_lines "$E2E_TMP/$name.log" "$after" "$before"
	sleep "$(random_delay "$min" "$max")"
	kill -KILL "$collector_pid" 2>/dev/null || true
	wait "$collector_pid" 2>/dev/null || rc=$?
	((rc == 137)) || fail "collector $name exited with status $rc before its SIGKILL; log: $(tail -20 "$E2E_TMP/$name.log")"
}

# 1. Spool under kills, profefe down.
"$CLUSTER" profefe stop >/dev/null
for ((i = 0; i < KILLS_SPOOL; i++)); do
	# Half the kills at any moment, half among the spool writes: when the
	# first upload fails, what waits in memory goes to disk within a few ms.
	if ((i % 2)); then how=(0 10 --after '"msg":"profefe unavailable'); else how=(50 800); fi
	kill_run spooler "$SPOOL_NODE" "${how[@]}" --profiles "$(IFS=,; echo "${types[*]}")" \
		--batch-interval 200ms
done

# 2. What the spool holds, as kprofefe-spool reads it.
mapfile -t entries < <(spool_entries "$spool")
((${#entries[@]} >= KILLS_SPOOL / 2)) ||
	fail "only ${#entries[@]} entries spooled over $KILLS_SPOOL runs: the kills came too early to test anything"
: >"$E2E_TMP/want"
for e in "${entries[@]}"; do
	spool_entry_ok "$spool/$e" || fail "a torn or corrupt file counts as an entry: $e"
	svc=$(spool_entry_field "$spool/$e" service)
	[[ $svc == "${services[0]}" || $svc == "${services[1]}" ]] || fail "entry $e has service '$svc'"
	h=$(spool_payload "$spool/$e" | sha256sum | awk '{ print $1 }')
	echo "$h" >>"$E2E_TMP/want"
	echo "$h $e $svc $(spool_entry_field "$spool/$e" type)" >>"$E2E_TMP/want.names"
done
LC_ALL=C sort -u -o "$E2E_TMP/want" "$E2E_TMP/want"
assert_eq "${#entries[@]}" "$(wc -l <"$E2E_TMP/want")" "distinct payloads among the spooled entries"
[[ -z $(ls -A "$spool/quarantine") ]] || fail "quarantine/ after the spool kills: $(ls -A "$spool/quarantine")"
! log_json_has "$E2E_TMP/spooler.log" '.level == "error"' ||
	fail "errors logged: $(log_json "$E2E_TMP/spooler.log" 'select(.level == "error")' | sed -n 1,5p)"

# 3. Drain under kills, profefe up.
"$CLUSTER" profefe start >/dev/null
for ((i = 0; i < KILLS_DRAIN; i++)); do
	kill_run drainer "$SPOOL_IDLE_NODE" 100 600 --spool-drain-rate 100 --upload-concurrency 4 \
		--log-level debug
done
spool_collector last "$SPOOL_IDLE_NODE" "$spool" --spool-drain-rate 100 --upload-concurrency 4
wait_for 60 spool_empty "$spool"
wait_for 10 metric_is last kprofefe_spool_entries 0
collector_stop last
assert_eq 0 "$collector_rc" "exit status of the last drainer"
[[ -z $(ls -A "$spool/quarantine") ]] || fail "quarantine/ after the drain: $(ls -A "$spool/quarantine")"
[[ -z $(ls -A "$spool/rejected") ]] || fail "rejected/ after the drain: $(ls -A "$spool/rejected")"
# Kills in the middle of a write leave a .tmp- file, removed by the next start.
torn=$(for log in spooler drainer last; do
	log_json "$E2E_TMP/$log.log" 'select(.msg == "spool: removed leftover temporary file") | .file'
done | wc -l)

# 4. profefe holds exactly the spooled payloads, all parseable.
for s in "${services[@]}"; do
	for t in "${types[@]}"; do profefe_download "$s" "$t" "$E2E_TMP/got/$t"; done
done
got=()
for t in "${types[@]}"; do
	mapfile -t files < <(find "$E2E_TMP/got/$t" -name '*.pb.gz' 2>/dev/null)
	pprof_all "${files[@]}"
	got+=("${files[@]}")
done
hashes "${got[@]}" >"$E2E_TMP/got.all"
LC_ALL=C sort -u "$E2E_TMP/got.all" >"$E2E_TMP/got.set"
missing=$(LC_ALL=C comm -23 "$E2E_TMP/want" "$E2E_TMP/got.set" | wc -l)
extra=$(LC_ALL=C comm -13 "$E2E_TMP/want" "$E2E_TMP/got.set" | wc -l)
assert_eq 0 "$missing" "complete spool entries that never reached profefe"
assert_eq 0 "$extra" "profiles in profefe that were no complete spool entry"
dups=$((${#got[@]} - ${#entries[@]}))
((dups <= 2 * KILLS_DRAIN)) || fail "$dups duplicate uploads for $KILLS_DRAIN drain kills (at most 2 each)"

echo "PASS: $KILLS_SPOOL kills while spooling, $KILLS_DRAIN while draining: ${#entries[@]} entries, all complete, all in profefe and parseable ($dups duplicates from kills after a 200; $torn kills mid-write left a .tmp- file, removed at the next start)"
