#!/usr/bin/env bash
# e2e: the API server's security: a ServiceAccount token from the TokenRequest
# API authenticates, RBAC denies what its Role does not grant, and the audit
# log records the requests. (API server restart: cluster_lifecycle_test.)
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-rbac

# No controller-manager runs, so a deleted namespace would stay Terminating
# forever: keep the namespace, remove what this test creates in it.
kubectl create namespace $ns >/dev/null 2>&1 || true
e2e_extra_cleanup() {
	kubectl -n $ns delete rolebinding/reader role/pod-reader serviceaccount/reader --ignore-not-found >/dev/null 2>&1
}
e2e_extra_cleanup
kubectl -n $ns create serviceaccount reader >/dev/null
kubectl -n $ns create role pod-reader --verb=get,list --resource=pods >/dev/null
kubectl -n $ns create rolebinding reader --role=pod-reader --serviceaccount=$ns:reader >/dev/null
token=$(kubectl -n $ns create token reader --duration=10m) || fail "kubectl create token"
[[ $token == ey* ]] || fail "token does not look like a JWT"

as_reader() { # PATH: HTTP status as the service account
	http_code "$KPROFEFE_APISERVER$1" --cacert "$KPROFEFE_CA" -H "Authorization: Bearer $token"
}
wait_for 10 test "$(as_reader /api/v1/namespaces/$ns/pods)" = 200
assert_eq 200 "$(as_reader /api/v1/namespaces/$ns/pods)" "list pods as reader"
assert_eq 403 "$(as_reader /api/v1/namespaces/$ns/secrets)" "list secrets as reader"
assert_eq 403 "$(as_reader /api/v1/namespaces/default/pods)" "list pods in another namespace"
assert_eq 401 "$(http_code "$KPROFEFE_APISERVER/api/v1/namespaces/$ns/pods" --cacert "$KPROFEFE_CA" -H "Authorization: Bearer not-a-token")" "bad token"
# The real kubectl with only the token (no admin kubeconfig) is that user.
who=$(kubectl --kubeconfig /dev/null --server "$KPROFEFE_APISERVER" --certificate-authority "$KPROFEFE_CA" \
	--token "$token" auth whoami -o jsonpath='{.status.userInfo.username}') || fail "kubectl auth whoami with the token"
assert_eq "system:serviceaccount:$ns:reader" "$who" "whoami"
kubectl --kubeconfig /dev/null --server "$KPROFEFE_APISERVER" --certificate-authority "$KPROFEFE_CA" \
	--token "$token" -n $ns get secrets >/dev/null 2>&1 && fail "kubectl get secrets with the reader token succeeded"

# The audit log has these requests, with user and verb (JSON lines).
grep -q . "$KPROFEFE_AUDIT_LOG" || fail "audit log $KPROFEFE_AUDIT_LOG is empty"
n=$(jq -c "select(.user.username==\"system:serviceaccount:$ns:reader\" and .objectRef.resource==\"secrets\" and .responseStatus.code==403)" \
	"$KPROFEFE_AUDIT_LOG" | wc -l)
((n >= 1)) || fail "audit log lacks the denied secrets request"
# Counted, not `| grep -q`: grep would stop reading at the first match and jq,
# killed by SIGPIPE on a long log, would fail the pipeline.
n=$(jq -c 'select(.verb=="create" and .objectRef.resource=="serviceaccounts" and .objectRef.subresource=="token")' \
	"$KPROFEFE_AUDIT_LOG" | wc -l)
((n >= 1)) || fail "audit log lacks the TokenRequest"
# Metadata level: who and what, never request or response bodies.
n=$(jq -c 'select(.level != "Metadata" or has("requestObject") or has("responseObject"))' "$KPROFEFE_AUDIT_LOG" | wc -l)
((n == 0)) || fail "audit log has $n events above Metadata level"

echo "PASS cluster_auth_test"
