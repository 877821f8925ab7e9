#!/usr/bin/env bash
# Helpers for the tests with hostile pods (source after lib.sh): every mode of
# tests/targets/hostile-pod, the reasons the collector may give for each, a
# sink for redirects that must never be reached, and the requests a hostile
# pod recorded.

# Every mode, and the fetch failure reasons (kprofefe_fetch_total's result)
# the collector may give for it. (Zeros are no protobuf: a check that reads
# the inflated stream may refuse a bomb at its first bytes as not_pprof.)
declare -A HOSTILE_REASONS=(
	[redirect-api]='redirect'
	[redirect-sink]='redirect'
	[endless-body]='too_large|budget'
	[slow-drip]='timeout'
	[endless-headers]='error|too_large'
	[gzip-bomb]='too_large|budget|not_pprof'
	[gzip-bomb-ce]='too_large|budget|not_pprof'
	[html]='not_pprof'
	[reset]='error'
	[busy]='busy'
	[not-pprof]='not_pprof'
)
HOSTILE_PODS=("${!HOSTILE_REASONS[@]}")
# A path on the API server a redirect points to; no request for it may appear
# in the audit log.
HOSTILE_API_MARK=kprofefe-hostile-redirect

# sink_start: a hostile-pod in sink mode on loopback, where the redirect-sink
# pod points; sets SINK_URL and SINK_REQUESTS (its recorded requests).
sink_start() {
	"$KPROFEFE_HOSTILE_POD" --mode sink --addr 127.0.0.1:0 --requests-addr 127.0.0.1:0 \
		>"$E2E_TMP/sink.out" 2>&1 &
	echo $! >"$E2E_TMP/sink.pid"
	wait_for 20 grep -q 'listening on' "$E2E_TMP/sink.out"
	SINK_URL=http://$(sed -n 's/.* listening on \([^ ]*\) .*/\1/p' "$E2E_TMP/sink.out")/stolen
	SINK_REQUESTS=http://$(sed -n 's/.* requests on \([^ ]*\)$/\1/p' "$E2E_TMP/sink.out")/_requests
}

sink_stop() {
	[[ -f $E2E_TMP/sink.pid ]] || return 0
	kill "$(cat "$E2E_TMP/sink.pid")" 2>/dev/null || true
	wait "$(cat "$E2E_TMP/sink.pid")" 2>/dev/null || true
}

# hostile_pods_add NS NODE [ANNOTATIONS...]: one pod per mode, named after it,
# service hostile-MODE.
hostile_pods_add() {
	local ns=$1 node=$2 p mode args
	shift 2
	for p in "${HOSTILE_PODS[@]}"; do
		mode=$p args=""
		case $p in
		redirect-api) mode=redirect args="--redirect-to $KPROFEFE_APISERVER/api/v1/namespaces/$HOSTILE_API_MARK/secrets" ;;
		redirect-sink) mode=redirect args="--redirect-to $SINK_URL" ;;
		esac
		KPROFEFE_TARGET_ARGS=$args pod_add "$p" --node "$node" --namespace "$ns" --server hostile --mode "$mode" \
			--annotate profefe.com/enable=true --annotate profefe.com/service="hostile-$p" "$@" >/dev/null
	done
}

# hostile_requests NS POD: the JSON list of requests the hostile pod received.
hostile_requests() {
	curl -fsS --noproxy '*' -m 5 "http://$("$CLUSTER" pod ip "$2" --namespace "$1"):6061/_requests"
}

# hostile_profile_requests NS POD: how many of them asked for a profile.
hostile_profile_requests() {
	hostile_requests "$1" "$2" | jq '[.[] | select(.uri | startswith("/debug/pprof/"))] | length'
}

# assert_no_credentials NS: no request to any hostile pod of NS, nor to the
# sink, carried an Authorization header or a cookie; and the sink and the API
# server's marked path were never reached.
assert_no_credentials() {
	local p reqs leaked
	for p in "${HOSTILE_PODS[@]}"; do
		reqs=$(hostile_requests "$1" "$p") || fail "reading the requests pod $1/$p received"
		leaked=$(jq -c '[.[] | select(.headers | keys | map(ascii_downcase) |
			any(. == "authorization" or . == "cookie" or . == "proxy-authorization"))]' <<<"$reqs")
		assert_eq '[]' "$leaked" "requests to pod $1/$p with credentials"
	done
	reqs=$(curl -fsS --noproxy '*' -m 5 "$SINK_REQUESTS") || fail "reading the sink's requests"
	assert_eq '[]' "$reqs" "requests that reached the redirect target"
	if jq -e --arg m "$HOSTILE_API_MARK" 'select(.requestURI | contains($m))' "$KPROFEFE_AUDIT_LOG" >/dev/null; then
		fail "a redirect reached the API server: $(jq -c --arg m "$HOSTILE_API_MARK" \
			'select(.requestURI | contains($m)) | {user: .user.username, userAgent, requestURI}' "$KPROFEFE_AUDIT_LOG" | head -3)"
	fi
}

# sa_kubeconfig NS NAME FILE: a service account NAME in NS allowed to list and
# watch pods, and a kubeconfig at FILE that uses its bearer token (so there is
# a credential that must never reach a pod). Removed by sa_cleanup.
sa_kubeconfig() {
	local ns=$1 sa=$2 file=$3 token
	kubectl create namespace "$ns" >/dev/null 2>&1 || true
	kubectl -n "$ns" create serviceaccount "$sa" >/dev/null 2>&1 || true
	kubectl create clusterrole "$sa" --verb=list,watch,get --resource=pods,pods/proxy >/dev/null 2>&1 || true
	kubectl create clusterrolebinding "$sa" --clusterrole="$sa" --serviceaccount="$ns:$sa" >/dev/null 2>&1 || true
	echo "$sa" >>"$E2E_TMP/.rbac"
	token=$(kubectl -n "$ns" create token "$sa" --duration=1h) || fail "kubectl create token $sa"
	cat >"$file" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: kprofefe
		  cluster:
		    server: $KPROFEFE_APISERVER
		    certificate-authority: $KPROFEFE_CA
		users:
		- name: $sa
		  user:
		    token: $token
		contexts:
		- name: kprofefe
		  context:
		    cluster: kprofefe
		    user: $sa
		    namespace: $ns
		current-context: kprofefe
	EOF
}

sa_cleanup() {
	local sa
	[[ -f $E2E_TMP/.rbac ]] || return 0
	while read -r sa; do
		kubectl delete clusterrolebinding "$sa" >/dev/null 2>&1 || true
		kubectl delete clusterrole "$sa" >/dev/null 2>&1 || true
	done <"$E2E_TMP/.rbac"
}

# vm_hwm_kib PID: the process's peak resident set size (VmHWM), KiB.
vm_hwm_kib() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}
