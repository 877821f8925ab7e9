#!/usr/bin/env bash
# An https profefe behind an authenticating proxy (--profefe-ca,
# --profefe-token, --profefe-header): `kprofefe --once` through the proxy
# stores every profile type; a wrong token is rejected with the proxy's 401
# text in the log and a failing exit; a CA the collector does not trust is
# named as a certificate problem, fails the exit, and spools the profiles,
# which a collector given the CA then delivers.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

: "${KPROFEFE_AUTHPROXY:?run through tests/e2e/run.sh (scripts/cluster.sh env sets it)}"
types=(cpu heap goroutine mutex block threadcreate)
token=tok-$RANDOM$RANDOM
header="X-Tenant: team-a"

e2e_extra_cleanup() {
	collectors_stop_all
	if [[ -n ${proxy_pid:-} ]]; then
		kill -TERM "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null
	fi
	return 0
}

# A throwaway CA and a server certificate for 127.0.0.1 (IP SAN) signed by it.
pki=$E2E_TMP/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj "/CN=kprofefe e2e throwaway CA" -keyout "$pki/ca.key" -out "$pki/ca.crt" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
	>"$pki/openssl.log" 2>&1 || fail "making the CA failed: $(cat "$pki/openssl.log")"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=127.0.0.1" \
	-keyout "$pki/server.key" -out "$pki/server.csr" >>"$pki/openssl.log" 2>&1 ||
	fail "making the server key failed: $(cat "$pki/openssl.log")"
printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
	"keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >"$pki/server.ext"
openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
	-days 1 -extfile "$pki/server.ext" -out "$pki/server.crt" >>"$pki/openssl.log" 2>&1 ||
	fail "signing the server certificate failed: $(cat "$pki/openssl.log")"

# The proxy in front of profefe, on a free loopback port it picks and logs.
"$KPROFEFE_AUTHPROXY" -addr 127.0.0.1:0 -cert "$pki/server.crt" -key "$pki/server.key" \
	-upstream "$PROFEFE_URL" -token "$token" -header "$header" 2>"$E2E_TMP/proxy.log" &
proxy_pid=$!
wait_for 10 grep -q 'serving https on' "$E2E_TMP/proxy.log"
port=$(sed -n 's/.*serving https on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$E2E_TMP/proxy.log")
[[ -n $port ]] || fail "the proxy named no port: $(cat "$E2E_TMP/proxy.log")"
url=https://127.0.0.1:$port
# The proxy itself: 401 in profefe's envelope without credentials, through with them.
out=$(curl -sS --noproxy '*' --cacert "$pki/ca.crt" "$url/api/0/version")
assert_eq 401 "$(jq -r .code <<<"$out")" "proxy's answer without a token: $out"
assert_eq 200 "$(http_code "$url/api/0/version" --cacert "$pki/ca.crt" \
	-H "Authorization: Bearer $token" -H "$header")" "proxy's answer with the credentials"

ns=https-$RANDOM
service=https-$ns
pod_add app --node node-a --namespace "$ns" --annotate profefe.com/enable=true \
	--annotate profefe.com/service="$service" >/dev/null

# once NAME FLAGS...: one --once round on node-a; log in $E2E_TMP/NAME.log,
# spool in $E2E_TMP/NAME.spool, exit status in $rc.
once() {
	local name=$1
	shift
	rc=0
	"$KPROFEFE_BIN" --node-name node-a --kubeconfig "$KUBECONFIG" --once --cpu-seconds 1 \
		--connect-timeout 2s --upload-timeout 10s --metrics-addr "" \
		--spool-dir "$E2E_TMP/$name.spool" --profefe-hostport "$url" "$@" \
		>"$E2E_TMP/$name.log" 2>&1 || rc=$?
	grep -q 'msg="round finished" targets=1 ' "$E2E_TMP/$name.log" ||
		fail "$name: the round did not cover exactly this test's pod: $(cat "$E2E_TMP/$name.log")"
}

# spooled NAME: how many entries NAME's spool holds.
spooled() {
	find "$E2E_TMP/$1.spool" -maxdepth 1 -name '[!.]*.prof' | wc -l
}

spool_drained() {
	(($(spooled notrust) == 0))
}

# 1. The right CA, token and header: everything arrives, through the proxy.
once ok --profefe-ca "$pki/ca.crt" --profefe-token "$token" --profefe-header "$header"
assert_eq 0 "$rc" "exit status of --once through the proxy (log: $(cat "$E2E_TMP/ok.log"))"
for type in "${types[@]}"; do
	assert_eq 1 "$(profefe_count "$service" "$type")" "$type profiles stored through the proxy"
done
assert_eq 6 "$(grep -cE '^POST /api/0/profiles 20[01]$' "$E2E_TMP/proxy.log")" \
	"uploads the proxy passed on (proxy log: $(cat "$E2E_TMP/proxy.log"))"
assert_eq 0 "$(spooled ok)" "entries spooled by the good run"

# 2. A wrong token: profefe's (the proxy's) 401 text is logged, the profiles
# are rejected, not spooled or retried, and --once fails.
once badtoken --profefe-ca "$pki/ca.crt" --profefe-token "not-$token" --profefe-header "$header"
assert_eq 1 "$rc" "exit status of --once with a wrong token"
if grep -q 'msg="upload to retry"' "$E2E_TMP/badtoken.log"; then
	fail "an upload the proxy refused with 401 was taken for an outage and retried: $(cat "$E2E_TMP/badtoken.log")"
fi
rejected=$(grep 'msg="profefe rejected profile"' "$E2E_TMP/badtoken.log" | grep 'status=401' |
	grep -c 'invalid bearer token' || true)
assert_eq 6 "$rejected" "401 rejections logged with the proxy's text (log: $(cat "$E2E_TMP/badtoken.log"))"
assert_eq 0 "$(spooled badtoken)" "entries spooled after a 401"
assert_eq 6 "$(grep -cE '^POST /api/0/profiles 401$' "$E2E_TMP/proxy.log")" \
	"uploads the proxy refused (a 401 is not retried)"

# 3. No --profefe-ca: the system store does not know the throwaway CA. The log
# names the certificate problem, --once fails, and the profiles are spooled.
once notrust --profefe-token "$token" --profefe-header "$header"
assert_eq 1 "$rc" "exit status of --once with an untrusted CA"
grep 'msg="profefe unavailable; spooling until it answers"' "$E2E_TMP/notrust.log" |
	grep -qi 'certificate' ||
	fail "no certificate problem named in the log: $(cat "$E2E_TMP/notrust.log")"
assert_eq 6 "$(spooled notrust)" "entries spooled when the CA is not trusted (log: $(cat "$E2E_TMP/notrust.log"))"
for type in "${types[@]}"; do
	assert_eq 1 "$(profefe_count "$service" "$type")" "$type profiles stored after the failed runs"
done

# Nothing lost: a collector given the CA (for a node without pods, so it only
# drains the spool) delivers the spooled round.
collector_start drain https-idle --profefe-hostport "$url" --spool-dir "$E2E_TMP/notrust.spool" \
	--profefe-ca "$pki/ca.crt" --profefe-token "$token" --profefe-header "$header"
for type in "${types[@]}"; do
	wait_for 30 count_at_least 2 "$service" "$type"
done
wait_for 10 spool_drained
collector_stop drain
assert_eq 0 "$collector_rc" "exit status of the draining collector"
for type in "${types[@]}"; do
	assert_eq 2 "$(profefe_count "$service" "$type")" "$type profiles after the spool drained"
done
echo "PASS: kprofefe uploads to an https profefe behind an authenticating proxy; a wrong token and an untrusted CA fail clearly, and the untrusted round is spooled, then delivered"
