#!/usr/bin/env bash
# e2e on the real node: the DaemonSet as deployed (`kubectl apply -k` of an
# overlay of daemonset/, with KPROFEFE_POD_LABELS set in its ConfigMap) collects
# a Deployment whose pods run two Go containers, each serving pprof on a named
# port (profefe.com/port: "pprof,admin"): each program's profiles are stored
# under its own service, labelled with its container, port and image, and with
# the version label of the pod.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/realnode_lib.sh
source "$(dirname "$0")/realnode_lib.sh"

e2e_extra_cleanup() { realnode_cleanup; }

app=duo$((RANDOM % 1000))
write_overlay KPROFEFE_INTERVAL=10s KPROFEFE_CPU_SECONDS=2 KPROFEFE_PROFILES=cpu,heap \
	KPROFEFE_SHUTDOWN_GRACE=5s KPROFEFE_POD_LABELS=app.kubernetes.io/version
kubectl create namespace "$APP_NS" >/dev/null
app_deployment "$app" 1 "app.kubernetes.io/version: v7" \
	'profefe.com/enable: "true", profefe.com/port: "pprof,admin"' \
	"$(target_container app pprof 6060; target_container proxy admin 7070)"
install_ds
app_rolled_out "$app"
mapfile -t pods < <(app_pods "$app")
assert_eq 1 "${#pods[@]}" "Running pods of Deployment $app"
pod=${pods[0]}

# arrived SERVICE CONTAINER PORT: cpu and heap of that program, with its labels.
arrived() {
	local t
	for t in cpu heap; do
		(($(profefe_count "$1" "$t" "pod=$pod,namespace=$APP_NS,container=$2,port=$3,version=v7") >= 1)) || return 1
	done
}
wait_for 120 arrived "$app" app 6060
wait_for 120 arrived "$app-proxy" proxy 7070
for svc in "$app" "$app-proxy"; do
	p=$(profefe_profiles "$svc" cpu "pod=$pod")
	assert_eq "$KPROFEFE_TARGET_IMAGE" "$(jq -r '.[0].labels[] | select(.key == "image") | .value' <<<"$p")" "image label of $svc"
	digest=$(jq -r '.[0].labels[] | select(.key == "digest") | .value' <<<"$p")
	[[ $digest == sha256:* ]] || fail "digest label of $svc: \"$digest\" (labels $(jq -c '.[0].labels' <<<"$p"))"
	profefe_get "$(jq -r '.[0].id' <<<"$p")" "$E2E_TMP/$svc.pb.gz"
	pprof_top "$E2E_TMP/$svc.pb.gz" | has_samples || fail "the cpu profile of $svc has no samples"
done
echo "PASS: the DaemonSet as deployed collects a two-container pod's named ports apart ($app, $app-proxy), labelled with container, port, image, digest and version"
