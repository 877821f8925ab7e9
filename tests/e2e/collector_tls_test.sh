#!/usr/bin/env bash
# Pods that serve pprof over https only (profefe.com/scheme "https"), with a CA
# this test makes: the pprof target verified by --pod-ca by its IP and by
# profefe.com/tls-server-name, one behind a bearer token (the token rotated as
# a Secret is, then sent anew), one behind a client certificate (mTLS), all
# stored in profefe. Beside them, on the same node: each new annotation with a
# bad value (one log line naming the pod, the annotation and the value), and
# hostile https pods (a self-signed certificate, one of another CA, one for
# another name, a redirect to a listener the test owns and to the API server,
# plain http on the https port), each refused and counted by its reason, with
# no request reaching a redirect's target. The CA bundle rotated in place: a
# pod the new CA signed is collected without a restart. Then
# --pod-insecure-skip-verify: logged once per pod.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/hostile_lib.sh"
source "$(dirname "$0")/tls_lib.sh"

: "${KPROFEFE_HOSTILE_POD:?run through tests/e2e/run.sh (scripts/cluster.sh env sets it)}"
node="node-tls"
ns=tls-$RANDOM
pki=$E2E_TMP/pki
creds=$E2E_TMP/creds
types=(cpu heap goroutine mutex block threadcreate)

e2e_extra_cleanup() {
	collectors_stop_all
	sink_stop
}

# ---- certificates and credential sets ----
tls_ca "$pki" ca
tls_ca "$pki" other
tls_ca "$pki" next # joins the collector's CA bundle mid-test, as a rotated ConfigMap does
tls_cert "$pki" by-ip ca "DNS:not-yet.invalid" serverAuth # names the pod IP once known
tls_cert "$pki" by-name ca "DNS:web.tls.test" serverAuth
tls_cert "$pki" token ca "DNS:token.tls.test" serverAuth
tls_cert "$pki" mtls ca "DNS:mtls.tls.test" serverAuth
tls_cert "$pki" client ca "DNS:kprofefe" clientAuth
tls_cert "$pki" self-signed self "DNS:self.tls.test" serverAuth
tls_cert "$pki" other-ca other "DNS:other-ca.tls.test" serverAuth
tls_cert "$pki" wrong-name ca "DNS:someone-else.tls.test" serverAuth
tls_cert "$pki" redirect ca "DNS:redirect.tls.test" serverAuth
tls_cert "$pki" rotated next "DNS:rotated.tls.test" serverAuth
cp "$pki/ca.crt" "$E2E_TMP/pod-ca.crt" # the collector's --pod-ca, rotated below

echo "tok-one-$RANDOM$RANDOM" >"$E2E_TMP/token-one"
cp "$E2E_TMP/token-one" "$E2E_TMP/want-token" # what the token pod accepts
mkdir -p "$creds"
secret_set "$creds" api token="$E2E_TMP/token-one"
secret_set "$creds" client tls.crt="$pki/client.crt" tls.key="$pki/client.key"
mkdir -p "$creds/unreadable"
ln -s ..data/token "$creds/unreadable/token" # a Secret whose data is gone

sink_start

# https_pod NAME CERT [ANNOTATIONS...] [-- TARGET FLAGS]: a pprof target serving
# https only with CERT, service tls-NAME; prints its IP.
https_pod() {
	local name=$1 cert=$2 args
	shift 2
	args="--tls-cert $pki/$cert.crt --tls-key $pki/$cert.key ${TARGET_EXTRA:-}"
	KPROFEFE_TARGET_ARGS=$args pod_add "$name" --node "$node" --namespace "$ns" \
		--annotate profefe.com/enable=true --annotate profefe.com/service="tls-$name" \
		--annotate profefe.com/scheme=https "$@"
}

ip=$(https_pod by-ip by-ip)
tls_cert "$pki" by-ip ca "IP:$ip" serverAuth
https_pod by-name by-name --annotate profefe.com/tls-server-name=web.tls.test >/dev/null
TARGET_EXTRA="--require-token-file $E2E_TMP/want-token" https_pod token token \
	--annotate profefe.com/tls-server-name=token.tls.test --annotate profefe.com/credentials=api >/dev/null
TARGET_EXTRA="--client-ca $pki/ca.crt" https_pod mtls mtls \
	--annotate profefe.com/tls-server-name=mtls.tls.test --annotate profefe.com/credentials=client >/dev/null
good=(by-ip by-name token mtls)
https_pod rotated rotated --annotate profefe.com/tls-server-name=rotated.tls.test >/dev/null

# The targets refuse what lacks their credential: the token and the client
# certificate are really checked.
to_pod() { echo "--connect-to" "$1.tls.test:6060:$("$CLUSTER" pod ip "$1" --namespace "$ns"):6060"; }
# shellcheck disable=SC2046
assert_eq 401 "$(http_code https://token.tls.test:6060/debug/pprof/heap --cacert "$pki/ca.crt" \
	$(to_pod token) -H "Authorization: Bearer wrong")" "token pod's answer to a wrong token"
# shellcheck disable=SC2046
assert_eq 403 "$(http_code https://mtls.tls.test:6060/debug/pprof/heap --cacert "$pki/ca.crt" \
	$(to_pod mtls))" "mTLS pod's answer to a client without a certificate"

# ---- bad values, one per annotation (no process needed: refused before any fetch) ----
bad_pod() {
	local name=$1
	shift
	pod_add "$name" --node "$node" --namespace "$ns" --no-process --annotate profefe.com/enable=true "$@" >/dev/null
}
declare -A BAD=(
	[bad-scheme]='profefe.com/scheme="ftp"'
	[bad-server-name]='profefe.com/tls-server-name="bad..name"'
	[bad-credentials]='profefe.com/credentials="missing"'
	[credentials-over-http]='profefe.com/credentials="api"'
	[unreadable-token]='profefe.com/credentials="unreadable"'
)
bad_pod bad-scheme --annotate profefe.com/scheme=ftp
bad_pod bad-server-name --annotate profefe.com/scheme=https --annotate profefe.com/tls-server-name=bad..name
bad_pod bad-credentials --annotate profefe.com/scheme=https --annotate profefe.com/credentials=missing
bad_pod credentials-over-http --annotate profefe.com/credentials=api
bad_pod unreadable-token --annotate profefe.com/scheme=https --annotate profefe.com/credentials=unreadable

# ---- hostile https pods: each sends a token it must never see through a redirect ----
hostile_tls_pod() {
	local name=$1 mode=$2 cert=$3 server_name=$4 args=${5:-}
	[[ -n $cert ]] && args+=" --tls-cert $pki/$cert.crt --tls-key $pki/$cert.key"
	KPROFEFE_TARGET_ARGS=$args pod_add "$name" --node "$node" --namespace "$ns" --server hostile --mode "$mode" \
		--annotate profefe.com/enable=true --annotate profefe.com/service="tls-$name" \
		--annotate profefe.com/scheme=https --annotate profefe.com/credentials=api \
		${server_name:+--annotate profefe.com/tls-server-name=$server_name} >/dev/null
}
# Each hostile pod and the reasons its fetches may fail with.
declare -A REASONS=(
	[self-signed]=tls [other-ca]=tls [wrong-name]=tls [plain-http]=tls
	[redirect-sink]=redirect [redirect-api]=redirect
)
hostile_tls_pod self-signed sink self-signed self.tls.test
hostile_tls_pod other-ca sink other-ca other-ca.tls.test
hostile_tls_pod wrong-name sink wrong-name wrong-name.tls.test
hostile_tls_pod plain-http sink "" ""
hostile_tls_pod redirect-sink redirect redirect redirect.tls.test "--redirect-to $SINK_URL"
hostile_tls_pod redirect-api redirect redirect redirect.tls.test \
	"--redirect-to $KPROFEFE_APISERVER/api/v1/namespaces/$HOSTILE_API_MARK/secrets"

# ---- one collector for the node ----
collector_start tls "$node" --pod-ca "$E2E_TMP/pod-ca.crt" --pod-credentials-dir "$creds" --log-format json
for p in "${good[@]}"; do
	for type in "${types[@]}"; do
		wait_for 60 count_at_least 1 "tls-$p" "$type"
	done
done

# The stored profiles are the pods' own, labelled as plain ones are.
profefe_profiles "tls-by-ip" cpu | jq -e --arg ns "$ns" \
	'.[0].labels | map({(.key): .value}) | add | .namespace == $ns and .pod == "by-ip" and .node == "node-tls"' >/dev/null ||
	fail "labels of the https pod's profile: $(profefe_profiles tls-by-ip cpu | jq -c '.[0].labels')"

# json_lines MSG: the collector's log lines with that msg, as JSON.
json_lines() {
	jq -cR --arg m "$1" 'fromjson? | select(.msg == $m)' "$E2E_TMP/tls.log"
}

# Bad values: one line each, naming the pod, the annotation and the value.
for p in "${!BAD[@]}"; do
	lines=$(json_lines "pod skipped: invalid annotation" | jq -c --arg pod "$ns/$p" 'select(.pod == $pod)')
	assert_eq 1 "$(grep -c . <<<"$lines")" "invalid-annotation lines for $p (log: $(json_lines "pod skipped: invalid annotation"))"
	assert_contains "$(jq -r .error <<<"$lines")" "pod $ns/$p: annotation ${BAD[$p]}" "the line for $p"
done
assert_contains "$(json_lines "pod skipped: invalid annotation" | jq -r --arg pod "$ns/unreadable-token" 'select(.pod == $pod) | .error')" \
	"No such file or directory" "the unreadable token's line"

# Hostile pods: refused, each failure with its reason.
for p in "${!REASONS[@]}"; do
	# shellcheck disable=SC2016 # jq's $pod
	wait_for 30 log_json_has "$E2E_TMP/tls.log" --arg pod "$ns/$p" '.msg == "profile fetch failed" and .pod == $pod'
	reasons=$(json_lines "profile fetch failed" | jq -r --arg pod "$ns/$p" 'select(.pod == $pod) | .reason' | sort -u | paste -sd,)
	assert_eq "${REASONS[$p]}" "$reasons" "fetch failure reasons of $p (log: $(json_lines "profile fetch failed" | grep -F "\"$ns/$p\"" | head -2))"
	assert_eq 0 "$(profefe_count "tls-$p" cpu)" "profiles stored for hostile pod $p"
done
for reason in tls redirect; do
	total=$(collector_metrics tls | awk -v r="result=\"$reason\"" 'index($1, "kprofefe_fetch_total{") == 1 && index($1, r) { s += $2 } END { print s + 0 }')
	((total > 0)) || fail "kprofefe_fetch_total counts no result=\"$reason\""
done
# No request reached a pod whose handshake failed, nor a redirect's target.
for p in self-signed other-ca wrong-name plain-http; do
	assert_eq 0 "$(hostile_requests "$ns" "$p" | jq '[.[] | select(.uri != "/healthz")] | length')" \
		"requests that reached $p past the handshake"
done
assert_eq '[]' "$(curl -fsS --noproxy '*' -m 5 "$SINK_REQUESTS")" "requests that reached the redirect target"
if jq -e --arg m "$HOSTILE_API_MARK" 'select(.requestURI | contains($m))' "$KPROFEFE_AUDIT_LOG" >/dev/null; then
	fail "a redirect reached the API server"
fi
# The redirecting pods did get the token: it is their credential, sent to them only.
hostile_requests "$ns" redirect-sink | jq -e --arg t "Bearer $(cat "$E2E_TMP/token-one")" \
	'any(.[]; .headers.Authorization == [$t])' >/dev/null || fail "the redirecting pod never got its token"

# ---- the token rotated as a Secret is: the next fetches send the new one ----
echo "tok-two-$RANDOM$RANDOM" >"$E2E_TMP/token-two"
before=$(profefe_count tls-token heap)
cp "$E2E_TMP/token-two" "$E2E_TMP/want-token"
secret_set "$creds" api token="$E2E_TMP/token-two"
wait_for 30 count_at_least $((before + 2)) tls-token heap
reloads=$(metric_value tls 'kprofefe_pod_token_reloads_total{result="ok"}')
((reloads >= 1)) || fail "no token reload counted: $(collector_metrics tls | grep token_reloads)"

# ---- the CA bundle rotated in place (a ConfigMap's symlink swap): no restart ----
# Until then the pod whose certificate the next CA signed is refused.
# shellcheck disable=SC2016 # jq's $pod
wait_for 30 log_json_has "$E2E_TMP/tls.log" --arg pod "$ns/rotated" \
	'.msg == "profile fetch failed" and .pod == $pod and .reason == "tls"'
assert_eq 0 "$(profefe_count tls-rotated heap)" "profiles of the pod the bundle does not trust yet"
cat "$pki/ca.crt" "$pki/next.crt" >"$E2E_TMP/pod-ca.crt.new"
mv "$E2E_TMP/pod-ca.crt.new" "$E2E_TMP/pod-ca.crt"
# libcurl reads the bundle again at most 60 s after it last loaded it.
wait_for 150 count_at_least 1 tls-rotated heap
assert_eq 0 "$(metric_value tls kprofefe_pod_tls_insecure_total)" "insecure targets without the flag"
collector_stop tls

# ---- --pod-insecure-skip-verify, without the CA: collected, said once per https pod ----
heap_before=$(profefe_count tls-by-ip heap)
rc=0
"$KPROFEFE_BIN" --node-name "$node" --kubeconfig "$KUBECONFIG" --once --cpu-seconds 1 \
	--connect-timeout 2s --metrics-addr "" --spool-dir "$E2E_TMP/insecure.spool" \
	--profefe-hostport "$PROFEFE_URL" --pod-insecure-skip-verify --pod-credentials-dir "$creds" \
	--log-format json >"$E2E_TMP/insecure.log" 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status of --once beside the hostile pods"
said=$(jq -rR 'fromjson? | select(.msg | startswith("pod certificate not verified")) | .pod' "$E2E_TMP/insecure.log" | sort | paste -sd,)
expected=$(for p in "${good[@]}" rotated self-signed other-ca wrong-name plain-http redirect-sink redirect-api; do echo "$ns/$p"; done | sort | paste -sd,)
assert_eq "$expected" "$said" "pods logged as not verified (once each)"
after=$(profefe_count tls-by-ip heap)
((after > heap_before)) || fail "the insecure round stored no heap profile of by-ip (log: $(cat "$E2E_TMP/insecure.log"))"
echo "PASS: https pods verified by --pod-ca (pod IP and tls-server-name), a bearer token (rotated, re-read) and mTLS stored; bad values of each annotation refused with one line; hostile https pods refused by reason, nothing through a redirect; --pod-insecure-skip-verify logged once per pod"
