#!/usr/bin/env bash
# e2e: kubectl-profefe reaches the API server like kubectl does: kubeconfigs
# with a client certificate (files and inline data), a token, a token file, an
# exec credential plugin (v1 and v1beta1, run once per process), tls-server-name
# and insecure-skip-tls-verify; --kubeconfig, KUBECONFIG, --context and the
# context's namespace. A wrong token is a clear 401 line naming the API server;
# missing pods/proxy RBAC a clear 403; an auth-provider user an error naming it.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-plugin-auth
data=$E2E_ROOT/tests/data/plugin

# No controller-manager runs, so a deleted namespace would stay Terminating:
# keep the namespace, remove what this test creates in it.
kubectl create namespace $ns >/dev/null 2>&1 || true
e2e_extra_cleanup() {
	kubectl -n $ns delete rolebinding/capturer rolebinding/lister role/capturer role/lister \
		serviceaccount/capturer serviceaccount/lister --ignore-not-found >/dev/null 2>&1
}
e2e_extra_cleanup
kubectl -n $ns create serviceaccount capturer >/dev/null
kubectl -n $ns create role capturer --verb=get,list --resource=pods,pods/proxy >/dev/null
kubectl -n $ns create rolebinding capturer --role=capturer --serviceaccount=$ns:capturer >/dev/null
kubectl -n $ns create serviceaccount lister >/dev/null
kubectl -n $ns create role lister --verb=get,list --resource=pods >/dev/null
kubectl -n $ns create rolebinding lister --role=lister --serviceaccount=$ns:lister >/dev/null
token=$(kubectl -n $ns create token capturer --duration=10m) || fail "kubectl create token capturer"
lister_token=$(kubectl -n $ns create token lister --duration=10m) || fail "kubectl create token lister"
printf '%s' "$token" >"$E2E_TMP/token"

pod_add app --node node-a --namespace $ns --annotate profefe.com/enable=true >/dev/null
wait_for 10 kubectl --kubeconfig /dev/null --server "$KPROFEFE_APISERVER" --certificate-authority "$KPROFEFE_CA" \
	--token "$token" -n $ns get pod app

# kubeconfig USER-YAML [CLUSTER-EXTRA-YAML]: a kubeconfig file whose current
# context (namespace $ns) has that user; prints its path.
n=0
kubeconfig() {
	n=$((n + 1))
	local f=$E2E_TMP/kubeconfig-$n
	cat >"$f" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: $KPROFEFE_APISERVER
${2:-    certificate-authority: $KPROFEFE_CA}
users:
- name: someone
  user:
$1
contexts:
- name: here
  context: {cluster: local, user: someone, namespace: $ns}
current-context: here
EOF
	echo "$f"
}

# capture_ok WHAT ARGS...: captures pod app's heap and goroutine with ARGS into
# a fresh directory; fails unless both files are there and readable.
capture_ok() {
	local what=$1 dir
	shift
	dir=$(mktemp -d "$E2E_TMP/out.XXXX")
	kubectl profefe capture app --profiles heap,goroutine --output-dir "$dir" "$@" \
		>"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr" || fail "$what: capture failed: $(cat "$E2E_TMP/stderr")"
	assert_eq 2 "$(find "$dir" -name 'profile-*-app-*.pb.gz' | wc -l)" "$what: files"
	pprof_top "$(grep heap "$E2E_TMP/stdout")" >/dev/null
}

# proxied_by USER: the audit log has a pod proxy request of pod app by USER.
proxied_by() {
	# any(inputs): jq -e over a stream judges only the last line (see plugin_capture_test).
	jq -n -e --arg u "$1" --arg ns $ns 'any(inputs; .objectRef.subresource=="proxy" and
		.objectRef.namespace==$ns and .user.username==$u)' "$KPROFEFE_AUDIT_LOG" >/dev/null
}

# Client certificate, files (the cluster's admin kubeconfig), with -n.
capture_ok "client certificate files" -n $ns --kubeconfig "$KUBECONFIG"
# Client certificate, CA and key inline (kubectl's own --flatten).
kubectl config view --raw --flatten >"$E2E_TMP/inline"
grep -q client-certificate-data "$E2E_TMP/inline" || fail "flattened kubeconfig has no inline certificate"
capture_ok "inline certificate data" -n $ns --kubeconfig "$E2E_TMP/inline"

# A token; the namespace comes from the context.
kc=$(kubeconfig "    token: $token")
capture_ok "token" --kubeconfig "$kc"
proxied_by "system:serviceaccount:$ns:capturer" || fail "no pod proxy request as the service account"
# Through KUBECONFIG, as kubectl reads it (merged with another file first).
printf 'apiVersion: v1\nkind: Config\npreferences: {}\n' >"$E2E_TMP/empty"
KUBECONFIG="$E2E_TMP/empty:$kc" capture_ok "KUBECONFIG"
# A token file.
capture_ok "token file" --kubeconfig "$(kubeconfig "    tokenFile: $E2E_TMP/token")"

# Exec credential plugins, v1 and v1beta1, with args and env; the plugin runs
# once for the pod GET and both proxied fetches (its credential is cached).
# gcloud's kubectl dispatcher may run it too, inside `kubectl config view`: that
# many runs are counted first and allowed for.
for api in client.authentication.k8s.io/v1 client.authentication.k8s.io/v1beta1; do
	kc=$(kubeconfig "    exec:
      apiVersion: $api
      command: $data/exec-token.sh
      args: [--api-version, $api]
      env:
      - {name: PLUGIN_TOKEN_FILE, value: $E2E_TMP/token}
      - {name: PLUGIN_EXEC_COUNT, value: $E2E_TMP/count}
      interactiveMode: Never")
	: >"$E2E_TMP/count"
	kubectl config view --raw --minify -o json --kubeconfig "$kc" >/dev/null
	by_kubectl=$(wc -l <"$E2E_TMP/count")
	: >"$E2E_TMP/count"
	capture_ok "exec $api" --kubeconfig "$kc"
	assert_eq $((by_kubectl + 1)) "$(wc -l <"$E2E_TMP/count")" "runs of the $api exec plugin"
done

# An exec plugin that fails: one line naming the pod, the API server and the plugin.
kc=$(kubeconfig "    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/false
      interactiveMode: Never")
kubectl profefe capture app --kubeconfig "$kc" --output-dir "$E2E_TMP" 2>"$E2E_TMP/stderr" >/dev/null &&
	fail "a failing exec plugin was accepted"
assert_contains "$(cat "$E2E_TMP/stderr")" "error: pod $ns/app: request to the API server $KPROFEFE_APISERVER failed: /bin/false" \
	"failing exec plugin"

# tls-server-name: dial 127.0.0.1, verify the certificate as kubernetes.default.
capture_ok "tls-server-name" --kubeconfig "$(kubeconfig "    token: $token" "    certificate-authority: $KPROFEFE_CA
    tls-server-name: kubernetes.default")"
# A name the certificate does not have fails (the name is really checked).
kc=$(kubeconfig "    token: $token" "    certificate-authority: $KPROFEFE_CA
    tls-server-name: not-the-apiserver.example")
kubectl profefe capture app --profiles heap --kubeconfig "$kc" --output-dir "$E2E_TMP" 2>"$E2E_TMP/stderr" >/dev/null &&
	fail "a wrong tls-server-name was accepted"
assert_contains "$(cat "$E2E_TMP/stderr")" "cannot reach the API server" "wrong tls-server-name"
# insecure-skip-tls-verify: no CA at all.
capture_ok "insecure-skip-tls-verify" --kubeconfig "$(kubeconfig "    token: $token" "    insecure-skip-tls-verify: true")"

# --context picks another context of the same file.
cat >>"$E2E_TMP/multi" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: $KPROFEFE_APISERVER, certificate-authority: $KPROFEFE_CA}
users:
- name: good
  user: {token: $token}
- name: bad
  user: {token: not-a-token}
contexts:
- name: bad
  context: {cluster: local, user: bad, namespace: $ns}
- name: good
  context: {cluster: local, user: good, namespace: $ns}
current-context: bad
EOF
capture_ok "--context" --kubeconfig "$E2E_TMP/multi" --context good

# A wrong token: one line naming the pod, 401 and the API server; exit 1.
set +e
kubectl profefe capture app --kubeconfig "$E2E_TMP/multi" --output-dir "$E2E_TMP" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr"
rc=$?
set -e
assert_eq 1 "$rc" "exit status with a wrong token"
err=$(cat "$E2E_TMP/stderr")
assert_eq 1 "$(wc -l <"$E2E_TMP/stderr")" "lines for a wrong token"
assert_contains "$err" "error: pod $ns/app: the API server $KPROFEFE_APISERVER answered 401 Unauthorized" "wrong token"
[[ ! -s $E2E_TMP/stdout ]] || fail "something was captured with a wrong token"

# Allowed to get pods but not pods/proxy: each profile fails naming the cause.
set +e
kubectl profefe capture app --profiles heap --kubeconfig "$(kubeconfig "    token: $lister_token")" \
	--output-dir "$E2E_TMP" 2>"$E2E_TMP/stderr" >/dev/null
rc=$?
set -e
assert_eq 1 "$rc" "exit status without pods/proxy"
assert_contains "$(cat "$E2E_TMP/stderr")" "error: pod $ns/app: heap profile: " "no pods/proxy"
assert_contains "$(cat "$E2E_TMP/stderr")" "HTTP 403" "no pods/proxy"
assert_contains "$(cat "$E2E_TMP/stderr")" "pods/proxy" "no pods/proxy hint"

# An auth-provider user is refused with an error naming it.
kc=$(kubeconfig "    auth-provider:
      name: oidc
      config: {idp-issuer-url: https://issuer.example}")
kubectl profefe capture app --kubeconfig "$kc" 2>"$E2E_TMP/stderr" >/dev/null && fail "auth-provider accepted"
assert_contains "$(cat "$E2E_TMP/stderr")" "auth-provider" "auth-provider error"
assert_contains "$(cat "$E2E_TMP/stderr")" "oidc" "auth-provider error"
# A context that does not exist: kubectl's own error, passed on.
kubectl profefe capture app --kubeconfig "$E2E_TMP/multi" --context nope 2>"$E2E_TMP/stderr" >/dev/null &&
	fail "a missing context was accepted"
assert_contains "$(cat "$E2E_TMP/stderr")" "nope" "missing context error"
echo "PASS plugin_auth_test"
