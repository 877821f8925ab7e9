#!/usr/bin/env bash
# e2e: kubectl profefe capture of pods serving pprof over https only: through
# the API server's pod proxy (pods/https:NAME:PORT, seen in the audit log) and
# with --direct, verified against --pod-ca (refused without it, taken with an
# explicit --pod-insecure-skip-verify); a pod's credentials only with --direct;
# and a pod named on the command line without any annotation, captured with
# --port, --path and --scheme.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tls_lib.sh"

ns=e2e-plugin-tls-$RANDOM
pki=$E2E_TMP/pki
tls_ca "$pki" ca
tls_pod "$pki" web ca web --node node-a --namespace "$ns" --annotate profefe.com/enable=true >/dev/null

# capture NAME ARGS...: kubectl profefe capture into $E2E_TMP/NAME; status in $rc.
capture() {
	local name=$1
	shift
	mkdir -p "$E2E_TMP/$name"
	rc=0
	kubectl profefe capture -n "$ns" --profiles heap,goroutine --output-dir "$E2E_TMP/$name" "$@" \
		>"$E2E_TMP/$name.out" 2>"$E2E_TMP/$name.err" || rc=$?
}

# captured NAME POD: both profiles of POD are files go tool pprof reads.
captured() {
	local t f index
	assert_eq 0 "$rc" "exit status of capture $1 (stderr: $(cat "$E2E_TMP/$1.err"))"
	for t in heap goroutine; do
		f=$(ls "$E2E_TMP/$1"/profile-$t-"$2"-*.pb.gz 2>/dev/null | head -1)
		[[ -n $f ]] || fail "capture $1: no $t profile of $2 (stderr: $(cat "$E2E_TMP/$1.err"))"
		# A young heap may hold nothing in use yet: what it allocated counts.
		index=-sample_index=$([[ $t == heap ]] && echo alloc_space || echo 0)
		pprof_top "$f" "$index" | has_samples ||
			fail "capture $1: $f has no samples"
	done
}

# 1. Through the pod proxy: the API server dials pods/https:web:6060.
since=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
capture proxy web
captured proxy web
# proxied: the audit log (written a moment after the request) holds the capture's.
proxied() {
	[[ -n $(jq -c --arg ns "$ns" --arg since "$since" 'select(.stageTimestamp >= $since and
		(.requestURI | startswith("/api/v1/namespaces/\($ns)/pods/https:web:6060/proxy/debug/pprof/heap")))' \
		"$KPROFEFE_AUDIT_LOG") ]]
}
wait_for 10 proxied

# 2. --direct, verified against the test's CA.
capture direct web --direct --pod-ca "$pki/ca.crt"
captured direct web
# Without the CA the system store does not know it: refused, naming TLS.
capture untrusted web --direct
assert_eq 1 "$rc" "exit status of --direct without --pod-ca"
grep -qi 'certificate' "$E2E_TMP/untrusted.err" ||
	fail "no certificate problem named: $(cat "$E2E_TMP/untrusted.err")"
# Not verified, when asked explicitly.
capture insecure web --direct --pod-insecure-skip-verify
captured insecure web
# The --pod-* flags mean nothing through the proxy: a usage error.
capture misuse web --pod-ca "$pki/ca.crt"
assert_eq 2 "$rc" "exit status of --pod-ca without --direct"
assert_contains "$(cat "$E2E_TMP/misuse.err")" "go with --direct" "the usage error"

# 3. A pod's credentials only directly: through the proxy it is refused.
tls_cert "$pki" client ca "DNS:kprofefe" clientAuth
secret_set "$E2E_TMP/creds" client tls.crt="$pki/client.crt" tls.key="$pki/client.key"
tls_cert "$pki" mtls ca "DNS:mtls.tls.test" serverAuth
KPROFEFE_TARGET_ARGS="--tls-cert $pki/mtls.crt --tls-key $pki/mtls.key --client-ca $pki/ca.crt" \
	pod_add mtls --node node-a --namespace "$ns" --annotate profefe.com/enable=true \
	--annotate profefe.com/scheme=https --annotate profefe.com/tls-server-name=mtls.tls.test \
	--annotate profefe.com/credentials=client >/dev/null
capture mtls-proxy mtls --pod-credentials-dir "$E2E_TMP/creds"
assert_eq 2 "$rc" "exit status of --pod-credentials-dir without --direct"
capture mtls-proxy mtls
assert_eq 1 "$rc" "exit status of a pod with credentials through the proxy"
assert_contains "$(cat "$E2E_TMP/mtls-proxy.err")" "pod's credentials" "the refusal"
capture mtls-direct mtls --direct --pod-ca "$pki/ca.crt" --pod-credentials-dir "$E2E_TMP/creds"
captured mtls-direct mtls

# 4. A pod with no annotation at all, listening on https 7070 under
# /internal/pprof: named, it is captured with --port, --path and --scheme.
KPROFEFE_TARGET_ARGS="--tls-cert $pki/web.crt --tls-key $pki/web.key" pod_add legacy --node node-a \
	--namespace "$ns" --annotate profefe.com/port=7070 --annotate profefe.com/path=/internal/pprof >/dev/null
kubectl annotate pod legacy -n "$ns" profefe.com/port- profefe.com/path- >/dev/null
assert_eq "" "$(kubectl get pod legacy -n "$ns" -o jsonpath='{.metadata.annotations}')" "legacy's annotations"
capture legacy-defaults legacy
assert_eq 1 "$rc" "exit status of capturing legacy at the default port"
capture legacy legacy --port 7070 --path /internal/pprof --scheme https
captured legacy legacy
# -l still takes annotated pods only.
capture listed -l '!nothing'
[[ -z $(ls "$E2E_TMP/listed"/profile-*-legacy-* 2>/dev/null) ]] || fail "-l captured the unannotated pod"
capture badflag legacy --scheme ftp
assert_eq 2 "$rc" "exit status of --scheme ftp"
echo "PASS: capture of https pods through the pod proxy (pods/https:) and --direct (--pod-ca, --pod-insecure-skip-verify, credentials only directly), and of an unannotated named pod with --port, --path, --scheme"
