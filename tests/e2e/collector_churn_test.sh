#!/usr/bin/env bash
# Rollout churn under valgrind memcheck (it sees inside libcurl, yajl and
# zlib, which AddressSanitizer does not): while the collector's CPU profiles
# are in flight, pods are deleted, un-annotated and re-annotated, and replaced
# by a pod of the same name with a new uid. Any memcheck error fails the test;
# afterwards every live pod, the replaced one and a new one are collected in
# the next rounds (no stuck target, no lost concurrency slot).
# With a sanitizer build (no valgrind under ASan) the churn runs under ASan.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=e2e-churn
node=node-churn
svc() { echo "churn-$1"; }

memcheck=1
if sanitizer_build "$KPROFEFE_BIN"; then
	memcheck=0
	echo "note: $KPROFEFE_BIN is a sanitizer build; the churn runs under ASan, not memcheck"
else
	command -v valgrind >/dev/null || fail "valgrind is not installed (scripts/install-deps.sh installs it)"
	# collector_start runs $KPROFEFE_BIN: a wrapper that execs memcheck.
	cat >"$E2E_TMP/memcheck" <<-EOF
		#!/bin/sh
		exec valgrind --tool=memcheck --error-exitcode=97 --track-origins=no --leak-check=full \\
			--show-leak-kinds=definite --errors-for-leak-kinds=definite \\
			--log-file="$E2E_TMP/valgrind.log" "$KPROFEFE_BIN" "\$@"
	EOF
	chmod +x "$E2E_TMP/memcheck"
	KPROFEFE_BIN=$E2E_TMP/memcheck
fi

pods=(churn-1 churn-2 churn-3 churn-4 churn-5 churn-6 churn-7 churn-8)
add() { # POD [ANNOTATIONS...]
	local p=$1
	shift
	pod_add "$p" --node $node --namespace $ns --annotate profefe.com/enable=true --annotate profefe.com/service="$(svc "$p")" "$@" >/dev/null
}
# The three pods churned take 15s CPU profiles, so the churn surely lands
# while they run; the others take short ones, as the test should be quick.
victims=(churn-1 churn-2 churn-3)
for p in "${victims[@]}"; do add "$p" --annotate profefe.com/cpu-seconds=15; done
for p in "${pods[@]:3}"; do add "$p"; done

declare -A ips uids
for p in "${pods[@]}"; do
	ips[$p]=$("$CLUSTER" pod ip "$p" --namespace $ns)
	uids[$p]=$(kubectl get pod "$p" -n $ns -o jsonpath='{.metadata.uid}')
done

# Four fetches at once: a slot lost to the churn shows as a stall.
COLLECTOR_START_TIMEOUT=120 collector_start c $node --profiles cpu,heap --cpu-seconds 2 --interval 20s \
	--max-concurrency 4 --fetch-timeout 10s --cpu-timeout-margin 3s
pid=$(cat "$E2E_TMP/c.pid")
alive() { kill -0 "$pid" 2>/dev/null || fail "the collector died: $(tail -5 "$E2E_TMP/c.log")"; }

# cpu_in_flight POD: the pod is serving a CPU profile right now (its
# goroutine dump shows net/http/pprof's Profile handler, which only the
# collector calls).
cpu_in_flight() {
	alive
	local dump
	dump=$(curl -fsS --noproxy '*' -m 5 "http://${ips[$1]}:6060/debug/pprof/goroutine?debug=2") || return 1
	[[ $dump == *"net/http/pprof.Profile("* ]]
}
all_in_flight() {
	local p
	for p in "$@"; do cpu_in_flight "$p" || return 1; done
}
# API delete first, so the collector learns of it from the watch while its
# fetch is still open; the pod's process and network go afterwards.
api_delete() { kubectl delete pod "$1" -n $ns --grace-period=0 --force --wait=false >/dev/null 2>&1; }

wait_for 120 all_in_flight "${victims[@]}"
echo "CPU profiles in flight on: ${victims[*]}"
deleted=${victims[0]} reannotated=${victims[1]} replaced=${victims[2]}
api_delete "$deleted" &
acts=($!)
kubectl annotate pod "$reannotated" -n $ns --overwrite profefe.com/enable=false >/dev/null &
acts+=($!)
api_delete "$replaced" &
acts+=($!)
wait "${acts[@]}"
old_uid=${uids[$replaced]}
# The collector saw all three while the profiles ran.
wait_for 60 grep -q "msg=\"target removed\" pod=$ns/$deleted" "$E2E_TMP/c.log"
wait_for 60 grep -q "msg=\"target removed\" pod=$ns/$replaced" "$E2E_TMP/c.log"
wait_for 60 grep -q "msg=\"target removed\" pod=$ns/$reannotated" "$E2E_TMP/c.log"
kubectl annotate pod "$reannotated" -n $ns --overwrite profefe.com/enable=true >/dev/null
"$CLUSTER" pod del "$deleted" --namespace $ns >/dev/null
"$CLUSTER" pod del "$replaced" --namespace $ns >/dev/null
add "$replaced"
new_uid=$(kubectl get pod "$replaced" -n $ns -o jsonpath='{.metadata.uid}')
[[ -n $new_uid && $new_uid != "$old_uid" ]] || fail "the replacement of $replaced has uid '$new_uid', the old one had '$old_uid'"
add churn-new
alive

# The next rounds collect every live pod: the replaced one (new uid), the
# re-annotated one, the new one and the untouched ones, twice each.
declare -A base
live=()
for p in "${pods[@]}" churn-new; do
	[[ $p == "$deleted" ]] && continue
	live+=("$p")
	base[$p]=$(profefe_count "$(svc "$p")" cpu)
done
all_collected() {
	local p
	alive
	for p in "${live[@]}"; do
		count_at_least $((base[$p] + 2)) "$(svc "$p")" cpu || return 1
		count_at_least $((base[$p] + 2)) "$(svc "$p")" heap || return 1
	done
}
# Findings before the stop are kept, so that the memcheck report is always read.
findings=()
(wait_for 240 all_collected) 2>"$E2E_TMP/stuck" || findings+=("after the churn: $(cat "$E2E_TMP/stuck"); $(
	grep -c 'msg="previous scrape still running' "$E2E_TMP/c.log") scrapes skipped as still running")
# The churn landed while fetches ran: the collector canceled some.
canceled=$(collector_metrics c | awk '$1 ~ /^kprofefe_fetch_total\{.*result="canceled"/ { n += $2 } END { print n + 0 }')
((canceled >= 1)) || findings+=("no fetch was canceled: the churn landed between the fetches, not during them")

collector_stop c
if ((memcheck)); then
	summary=$(grep 'ERROR SUMMARY' "$E2E_TMP/valgrind.log" | tail -1 | sed 's/^==[0-9]*== //')
	echo "valgrind: $summary (collector exit status $collector_rc)"
	if [[ $summary != "ERROR SUMMARY: 0 errors"* ]] || ((collector_rc == 97)); then
		kinds=$(grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|[0-9,]+ bytes in)' "$E2E_TMP/valgrind.log" |
			sed 's/^==[0-9]*== //; s/^[0-9,]* bytes in .* are definitely lost.*/definitely lost/' | sort | uniq -c | sort -rn | head -6)
		first=$(awk '/^==[0-9]+== (Invalid|Conditional|Use of)/ { p = 1 } p { print; if (++n == 22) exit }' "$E2E_TMP/valgrind.log")
		findings+=("memcheck: $summary; by kind:
$kinds
the first:
$first")
	fi
else
	((collector_rc == 0)) || findings+=("the collector exited with status $collector_rc after SIGTERM")
fi
if ((${#findings[@]})); then
	fail "$(printf '%s\n' "${findings[@]}")"
fi
assert_eq 0 "$collector_rc" "collector exit status after SIGTERM"
echo "PASS: ${summary:-ASan build}; $canceled fetches canceled by the churn; the replaced (new uid), re-annotated and new pods and the untouched ones collected after it"
