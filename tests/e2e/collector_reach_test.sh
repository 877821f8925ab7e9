#!/usr/bin/env bash
# e2e: issue 19's reach, in one `kprofefe --once` round on one node: a pod
# running two pprof servers (profefe.com/port "6060,7070") stored as two
# services labelled with their port and container; an https-only pod whose
# certificate, made by this test, is verified by --pod-ca alone; and the pods'
# app.kubernetes.io/version copied by --pod-labels onto every profile, the two
# above included. Each stored profile is fetched back and read by go tool pprof.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/tls_lib.sh"

ns=reach-$RANDOM
node="node-reach" # a node of its own: the round covers this test's pods alone
on=profefe.com/enable=true
version=app.kubernetes.io/version
pki=$E2E_TMP/pki

# Two programs in one pod: app serves 6060, the sidecar 7070.
pod_add two-5f6b7c-x1 --node "$node" --namespace "$ns" --annotate $on \
	--annotate profefe.com/port=6060,7070 --container side=7070 \
	--label "$version=1.4.2" --owner "ReplicaSet/two-$ns-5f6b7c" >/dev/null
# pprof over https only, with a certificate for its IP from a CA of this test.
tls_ca "$pki" ca
ip=$(tls_pod "$pki" secure ca "secure-$ns" --node "$node" --namespace "$ns" --annotate $on \
	--label "$version=2.0.0-rc.1")
# One port, plain http; its team label is not asked for.
pod_add "plain-$ns" --node "$node" --namespace "$ns" --annotate $on \
	--label "$version=3.0.1" --label team=payments >/dev/null
# The https pod answers plain http with 400: its profiles can only come over TLS.
assert_eq 400 "$(http_code "http://$ip:6060/debug/pprof/heap")" "the https pod's answer to plain http"

# --cpu-seconds 2: a 1 s CPU profile of a near-idle program on a busy machine may
# hold no sample, and empty profiles are not stored.
rc=0
"$KPROFEFE_BIN" --node-name "$node" --kubeconfig "$KUBECONFIG" --profefe-hostport "$PROFEFE_URL" \
	--once --cpu-seconds 2 --metrics-addr "" --spool-dir "$E2E_TMP/spool" --log-format json \
	--profiles cpu,heap --pod-labels "$version" --pod-ca "$pki/ca.crt" \
	>"$E2E_TMP/once.log" 2>&1 || rc=$?
assert_eq 0 "$rc" "exit status of --once (log: $(cat "$E2E_TMP/once.log"))"
# The round covered the four targets and every fetch succeeded. (A --once
# process's /metrics ends with it: kprofefe_fetch_total{result="tls"} counts
# exactly the failed fetches with reason tls, and there are none.)
assert_eq "4 0" "$(log_json "$E2E_TMP/once.log" 'select(.msg == "round finished") | "\(.targets) \(.fetch_failures)"')" \
	"the round's targets and fetch failures"
if log_json_has "$E2E_TMP/once.log" '.msg == "profile fetch failed"'; then
	fail "a fetch failed: $(log_json "$E2E_TMP/once.log" 'select(.msg == "profile fetch failed")')"
fi
if log_json_has "$E2E_TMP/once.log" '.msg | startswith("pod certificate not verified")'; then
	fail "the https pod was not verified though --pod-ca was given"
fi

# Every target its own service, exactly one profile of each type, with its
# labels; each profile is one go tool pprof reads, with samples.
base=(from=kube-profefe "namespace=$ns" "node=$node" image=kprofefe/pprof-target:test)
declare -A WANT=(
	["two-$ns"]="container=app pod=two-5f6b7c-x1 port=6060 version=1.4.2"
	["two-$ns-side"]="container=side pod=two-5f6b7c-x1 port=7070 version=1.4.2"
	["secure-$ns"]="container=app pod=secure-$ns version=2.0.0-rc.1"
	["plain-$ns"]="container=app pod=plain-$ns version=3.0.1"
)
for svc in "${!WANT[@]}"; do
	for type in cpu heap; do
		d=() idx=()
		# A young program's heap holds nothing in use before its first GC: read its allocations.
		[[ $type == heap ]] && d=(delta=false) idx=(-sample_index=alloc_space)
		# shellcheck disable=SC2086 # WANT's labels, one word each
		assert_eq "$(label_list "${base[@]}" "${d[@]}" ${WANT[$svc]})" "$(profile_labels "$svc" $type)" \
			"labels of service $svc's $type profile"
		id=$(profefe_profiles "$svc" $type | jq -r '.[0].id')
		profefe_get "$id" "$E2E_TMP/$svc.$type.pb.gz"
		pprof_top "$E2E_TMP/$svc.$type.pb.gz" "${idx[@]}" | has_samples || fail "service $svc's $type profile has no samples"
	done
done
echo "PASS: one --once round stored two pprof servers of one pod apart (port and container labels), an https pod verified by --pod-ca alone, and each pod's version label copied by --pod-labels"
