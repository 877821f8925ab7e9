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
if ldd "$KPROFEFE_BIN" | grep -q libasan; then
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
add() { pod_add "$1" --node $node --namespace $ns --annotate profefe.com/enable=true --annotate profefe.com/service="$(svc "$1")" >/dev/null; }
for p in "${pods[@]}"; do add "$p"; done

# Four fetches at once: a slot lost to the churn shows as a stall.
COLLECTOR_START_TIMEOUT=120 collector_start c $node --profiles cpu,heap --cpu-seconds 3 --interval 8s \
	--max-concurrency 4 --fetch-timeout 20s --cpu-timeout-margin 20s
pid=$(cat "$E2E_TMP/c.pid")
alive() { kill -0 "$pid" 2>/dev/null || fail "the collector died: $(tail -5 "$E2E_TMP/c.log")"; }

# cpu_in_flight POD: the pod is serving a CPU profile right now (its
# goroutine dump shows net/http/pprof's Profile handler, which only the
# collector calls).
cpu_in_flight() {
	alive
	local dump
	dump=$(curl -fsS --noproxy '*' -m 5 "http://$("$CLUSTER" pod ip "$1" --namespace $ns):6060/debug/pprof/goroutine?debug=2") || return 1
	[[ $dump == *"net/http/pprof.Profile("* ]]
}
# in_flight_pods N: prints the pods with a CPU profile in flight; true when N or more.
in_flight_pods() {
	local p found=()
	for p in "$@"; do cpu_in_flight "$p" && found+=("$p"); done
	printf '%s\n' "${found[@]}" >"$E2E_TMP/in_flight"
	((${#found[@]} >= 3))
}
# API delete first, so the collector learns of it from the watch while its
# fetch is still open; the pod's process and network go afterwards.
api_delete() { kubectl delete pod "$1" -n $ns --grace-period=0 --force --wait=false >/dev/null 2>&1; }

wait_for 120 count_at_least 1 "$(svc churn-1)" heap
wait_for 120 in_flight_pods "${pods[@]}"
mapfile -t victims <"$E2E_TMP/in_flight"
echo "CPU profiles in flight on: ${victims[*]}"
deleted=${victims[0]} reannotated=${victims[1]} replaced=${victims[2]}
old_uid=$(kubectl get pod "$replaced" -n $ns -o jsonpath='{.metadata.uid}')
api_delete "$deleted"
kubectl annotate pod "$reannotated" -n $ns --overwrite profefe.com/enable=false >/dev/null
api_delete "$replaced"
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
wait_for 240 all_collected

collector_stop c
((memcheck)) || { assert_eq 0 "$collector_rc" "collector exit status after SIGTERM"; echo "PASS (ASan): churn survived, every live pod collected after it"; exit 0; }
summary=$(grep 'ERROR SUMMARY' "$E2E_TMP/valgrind.log" | tail -1)
echo "valgrind: $summary"
if [[ $summary != *"ERROR SUMMARY: 0 errors"* ]] || ((collector_rc == 97)); then
	kinds=$(grep -E '^==[0-9]+== (Invalid|Conditional|Use of|Syscall|Mismatched|[0-9,]+ bytes in)' "$E2E_TMP/valgrind.log" |
		sed 's/^==[0-9]*== //; s/ of size [0-9]*//; s/^[0-9,]* bytes in .* are definitely lost.*/definitely lost/' | sort | uniq -c | sort -rn | head -5)
	first=$(awk '/^==[0-9]+== (Invalid|Conditional|Use of)/ { p = 1 } p { print; if (++n == 14) exit }' "$E2E_TMP/valgrind.log")
	fail "memcheck found errors under churn ($summary; exit $collector_rc); kinds:
$kinds
first:
$first"
fi
assert_eq 0 "$collector_rc" "collector exit status after SIGTERM"
echo "PASS: $summary; the replaced, re-annotated and new pods collected after the churn"
