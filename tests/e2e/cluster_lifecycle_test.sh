#!/usr/bin/env bash
# e2e: cluster lifecycle on a private second instance (own KPROFEFE_CLUSTER_DIR,
# bridge, netns prefix, subnet, ports), so the faults never disturb the shared
# cluster other tests use: up beside it, a pod, profefe stop/start keeping its
# data, API server restart keeping certificates and tokens, and `down`
# leaving nothing behind (check-clean) while the shared cluster is untouched.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
dir2=$E2E_TMP/second-cluster
# A free instance number: no bridge, no listener on its API server port.
for idx in $(seq 15 -1 1); do
	ip link show "kpf$idx" >/dev/null 2>&1 || [[ -n $(ss -Htln "sport = :$((26400 + 10 * idx))") ]] || break
done
c2() { KPROFEFE_CLUSTER_DIR=$dir2 KPROFEFE_CLUSTER_INDEX=$idx "$CLUSTER" "$@"; }
e2e_extra_cleanup() { c2 down >/dev/null 2>&1; }

shared_ip=$(pod_add life-shared --node node-a --namespace e2e-life)

env2=$(c2 env)
[[ $env2 != *"$PROFEFE_URL"* ]] || fail "second instance shares PROFEFE_URL"
c2 up || fail "second instance did not come up; logs in $dir2/logs"
[[ $(c2 up) == *'already up'* ]] || fail "second up is not a no-op"
ip2=$(c2 pod add p2 --node node-a)
[[ $ip2 != "$shared_ip" ]] || fail "both instances gave out $ip2"

(
	eval "$env2"
	curl -fsS --noproxy '*' -o "$E2E_TMP/heap" "http://$ip2:6060/debug/pprof/heap" || fail "second instance pod"
	assert_eq "$ip2" "$(kubectl get pod p2 -o jsonpath='{.status.podIP}')" "p2's IP by the second instance's kubectl"

	# profefe stop: refused at once; start: same port, same stored profiles.
	curl -fsS --noproxy '*' -X POST --data-binary @"$E2E_TMP/heap" \
		"$PROFEFE_URL/api/0/profiles?service=life&type=heap" >/dev/null || fail "POST profile"
	c2 profefe stop
	assert_eq 000 "$(http_code "$PROFEFE_URL/api/0/version")" "stopped profefe"
	c2 profefe start
	assert_eq 1 "$(profefe_count life heap)" "profiles after profefe restart"

	# API server restart: same port and CA; a token issued before still works.
	kubectl create serviceaccount life >/dev/null
	# (Not the built-in "view": its rules come from the aggregation controller,
	# which does not run here.)
	kubectl create role pod-reader --verb=list --resource=pods >/dev/null
	kubectl create rolebinding life --role=pod-reader --serviceaccount=default:life >/dev/null
	token=$(kubectl create token life)
	c2 apiserver restart
	assert_eq 200 "$(http_code "$KPROFEFE_APISERVER/api/v1/namespaces/default/pods" --cacert "$KPROFEFE_CA" \
		-H "Authorization: Bearer $token")" "token after API server restart"
	assert_eq "$ip2" "$(kubectl get pod p2 -o jsonpath='{.status.podIP}')" "p2's IP after the API server's restart"
)

# A run killed without `down` (a killed test run, a machine restored from a
# snapshot): none of its processes runs, its files and network remain, and a
# pid file names a process that is not the cluster's. `up` clears the state
# and comes up, and leaves that process alone.
killed=()
for f in "$dir2"/*.pid; do killed+=("$(cat "$f")"); done
for f in "$dir2"/pods/*.env; do
	mapfile -t -O "${#killed[@]}" killed < <(ip netns pids "$(NETNS="" && source "$f" && echo "$NETNS")")
done
kill -KILL "${killed[@]}"
none_runs() { local p; for p in "$@"; do [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) =~ ^(Z|)$ ]] || return 1; done; }
wait_for 10 none_runs "${killed[@]}"
sleep 600 &
stranger=$!
echo "$stranger" >"$dir2/profefe.pid"
c2 up >"$E2E_TMP/up-stale.log" 2>&1 || fail "up over a killed run's state: $(cat "$E2E_TMP/up-stale.log")"
grep -q 'clearing what an earlier run left' "$E2E_TMP/up-stale.log" || fail "up did not say it cleared stale state: $(cat "$E2E_TMP/up-stale.log")"
kill -0 "$stranger" || fail "up killed process $stranger, which a stale pid file named"
kill "$stranger"
wait "$stranger" 2>/dev/null || true
assert_eq ok "$(eval "$env2" && kubectl get --raw /readyz)" "the second instance's API server after up over stale state"
c2 down || fail "second instance down left something behind"
c2 check-clean || fail "check-clean after down"
c2 down >/dev/null || fail "down twice is not safe"

# The shared cluster is untouched.
curl -fsS --noproxy '*' -o /dev/null "http://$shared_ip:6060/debug/pprof/heap" || fail "shared pod lost"
kapi /readyz >/dev/null || fail "shared API server not ready"
assert_eq 000 "$(http_code "http://$ip2:6060/" -m 2)" "second instance's pod after down"
echo "PASS cluster_lifecycle_test"
