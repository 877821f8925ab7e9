#!/usr/bin/env bash
# e2e on the real node: the DaemonSet as deployed (`kubectl apply -k` of an
# overlay of daemonset/ with the component daemonset/examples/pod-tls, the CA
# in the ConfigMap pods-ca, no pprof-reader Secret) collects a Deployment whose
# pod serves pprof over https only, its certificate (from a Secret mounted in
# the pod) naming the DNS name of profefe.com/tls-server-name and verified
# against that CA: cpu and heap stored with the pod's version label, readable
# by go tool pprof (the cpu one with samples). A pod with the same name in a
# certificate of another CA is refused (result "tls"), nothing of it stored:
# verification is on. A pod asking for the missing set is skipped with a line.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/realnode_lib.sh
source "$(dirname "$0")/realnode_lib.sh"
# shellcheck source=tests/e2e/tls_lib.sh
source "$(dirname "$0")/tls_lib.sh"

e2e_extra_cleanup() { realnode_cleanup; }

app=web$((RANDOM % 1000))
impostor=$app-impostor
asker=$app-token
server_name=$app.$APP_NS.svc # the pod IP is not known when the certificate is made
pki=$E2E_TMP/pki
tls_ca "$pki" ca
tls_ca "$pki" other
tls_cert "$pki" "$app" ca "DNS:$server_name" serverAuth
tls_cert "$pki" "$impostor" other "DNS:$server_name" serverAuth

write_overlay --component examples/pod-tls KPROFEFE_INTERVAL=10s KPROFEFE_CPU_SECONDS=2 \
	KPROFEFE_PROFILES=cpu,heap KPROFEFE_SHUTDOWN_GRACE=5s KPROFEFE_POD_LABELS=app.kubernetes.io/version
# As docs/installing.md says: the namespace, then the CA's ConfigMap in it.
kubectl apply -f "$DS_DIR/00-namespace.yaml" >/dev/null
kubectl -n "$DS_NS" create configmap pods-ca --from-file=ca.crt="$pki/ca.crt" >/dev/null
kubectl create namespace "$APP_NS" >/dev/null

# https_app NAME CERT [ANNOTATIONS]: a Deployment serving pprof over https
# only with the certificate CERT, from the Secret NAME-tls mounted into its
# pod, annotated for the collector and ANNOTATIONS.
https_app() {
	kubectl -n "$APP_NS" create secret tls "$1-tls" --cert "$pki/$2.crt" --key "$pki/$2.key" >/dev/null
	app_deployment "$1" 1 "app.kubernetes.io/version: v8" \
		"profefe.com/enable: \"true\", profefe.com/port: \"pprof\", profefe.com/scheme: \"https\", profefe.com/tls-server-name: \"$server_name\"${3:+, $3}" \
		"$(target_container app pprof 6060 "$1-tls")" "$(tls_volume "$1-tls")"
	app_rolled_out "$1"
}
install_ds
https_app "$app" "$app"
https_app "$impostor" "$impostor"
# Asks for the set pprof-reader, whose Secret was never made.
https_app "$asker" "$app" 'profefe.com/credentials: "pprof-reader"'
mapfile -t pods < <(app_pods "$app")
assert_eq 1 "${#pods[@]}" "Running pods of Deployment $app"
pod=${pods[0]}
impostor_pod=$(app_pods "$impostor")
asker_pod=$(app_pods "$asker")

# The pod answers https only: Go's TLS server refuses plain http with 400.
pod_ip=$(kubectl get pod -n "$APP_NS" "$pod" -o jsonpath='{.status.podIP}')
assert_eq 400 "$(http_code "http://$pod_ip:6060/debug/pprof/heap")" "plain http to the https pod"

arrived() { # cpu and heap of the https pod, with its version label
	local t
	for t in cpu heap; do
		(($(profefe_count "$app" "$t" "pod=$pod,namespace=$APP_NS,version=v8") >= 1)) || return 1
	done
}
wait_for 120 arrived
for t in cpu heap; do
	profefe_get "$(profefe_profiles "$app" "$t" "pod=$pod" | jq -r '.[0].id')" "$E2E_TMP/$t.pb.gz"
	pprof_top "$E2E_TMP/$t.pb.gz" >"$E2E_TMP/$t.top"
done
# (The heap is as of the last GC: a young pod's may still be empty.)
has_samples <"$E2E_TMP/cpu.top" || fail "the cpu profile of $pod has no samples"

# The collector verified: the impostor's fetches fail with result "tls", none
# stored, and no pod was fetched unverified.
ds=$(ds_pod)
ds_log() { kubectl logs -n "$DS_NS" "$ds" -c kprofefe >"$E2E_TMP/ds.log"; }
refused() {
	# shellcheck disable=SC2016 # jq's $pod
	ds_log && log_json_has "$E2E_TMP/ds.log" --arg pod "$APP_NS/$impostor_pod" \
		'.msg == "profile fetch failed" and .pod == $pod and .reason == "tls"'
}
wait_for 60 refused
assert_eq 0 "$(profefe_count "$impostor" cpu)" "cpu profiles stored of $impostor (certificate of another CA)"
assert_eq 0 "$(profefe_count "$impostor" heap)" "heap profiles stored of $impostor (certificate of another CA)"
# The pprof-reader Secret is optional: its set is empty, the pod asking for it
# skipped with one line.
skipped() {
	# shellcheck disable=SC2016 # jq's $pod
	ds_log && log_json_has "$E2E_TMP/ds.log" --arg pod "$APP_NS/$asker_pod" \
		'.msg == "pod skipped: invalid annotation" and .pod == $pod and
		 (.error | contains("credential set pprof-reader has neither token"))'
}
wait_for 30 skipped
assert_eq 0 "$(profefe_count "$asker" heap)" "heap profiles stored of $asker"
if log_json_has "$E2E_TMP/ds.log" '.msg | startswith("pod certificate not verified")'; then
	fail "the collector fetched a pod unverified: $(log_json "$E2E_TMP/ds.log" 'select(.msg | startswith("pod certificate not verified"))')"
fi
echo "PASS: the DaemonSet as deployed with daemonset/examples/pod-tls (CA from the ConfigMap pods-ca, no pprof-reader Secret) collects an https-only Deployment by its tls-server-name, labelled version=v8, readable by go tool pprof; a certificate of another CA is refused; a pod asking for the absent pprof-reader set is skipped with a line"
