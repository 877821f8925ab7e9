#!/usr/bin/env bash
# e2e on the real node (scripts/cluster.sh up --real-node): charts/kprofefe
# installed, upgraded and uninstalled with the real helm, the parts of issue 14
# that need a kubelet. Each check is one function below:
# - helm install, with the monitoring objects on (the Prometheus Operator's
#   CRDs installed first): the collector's pod becomes Ready, profiles arrive,
#   the PodMonitor, PrometheusRule and dashboard ConfigMap are accepted under
#   strict field validation;
# - helm upgrade changing a value (a ConfigMap-only change, rolled by the
#   pods' checksum/config) with profefe down: no profile lost, counted as in
#   realnode_rollout_test (the collectors' "stopped" counts against profefe);
# - helm uninstall: every object goes (the namespace controller runs), the
#   node's spool directory stays;
# - daemonset/examples/profefe/ with the profefe stand-in's image
#   (KPROFEFE_PROFEFE_IMAGE, built from tests/profefe) in place of
#   profefe/profefe: the chart with its default profefe.url finds it, through
#   the node's cluster DNS (CoreDNS, scripts/cluster-dns.sh) and the Service.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/helm_lib.sh
source "$(dirname "$0")/helm_lib.sh"
# shellcheck source=tests/e2e/realnode_lib.sh
source "$(dirname "$0")/realnode_lib.sh"
# shellcheck source=tests/e2e/monitoring_lib.sh
source "$(dirname "$0")/monitoring_lib.sh"

HELM_VALUES=$E2E_TMP/helm-values.yaml
types=(cpu heap goroutine)

# helm_rn_values [URL]: the values a user of this cluster writes: the locally
# built image, the node's own spool directory, only the real node, and the
# monitoring objects.
helm_rn_values() {
	cat >"$HELM_VALUES" <<-EOF
		image: {repository: "${KPROFEFE_COLLECTOR_IMAGE%:*}", tag: "${KPROFEFE_COLLECTOR_IMAGE##*:}", pullPolicy: Never}
		profefe: {url: "${1:-$KPROFEFE_POD_PROFEFE_URL}"}
		collector: {interval: 5s, cpuSeconds: 1, profiles: "$(IFS=,; echo "${types[*]}")", shutdownGraceSeconds: 5}
		spool: {hostPath: "$SPOOL_HOST"}
		nodeSelector: {kubernetes.io/hostname: "$NODE"}
		podMonitor: {enabled: true}
		prometheusRule: {enabled: true}
		dashboards: {enabled: true}
	EOF
}

# stored SERVICE FROM: profiles of SERVICE in profefe created since FROM, all types.
stored() { profefe_since "$1" "$2" "${types[@]}"; }

# helm_rn_install_ready APP FROM: helm install; the collector's pod Ready;
# every type of APP's profiles in profefe.
helm_rn_install_ready() {
	local app=$1 from=$2 out pod
	helm_rn_values
	out=$(helm install kprofefe "$CHART" -f "$HELM_VALUES" --wait --timeout 180s 2>&1) || fail "helm install --wait: $out"
	pod=$(ds_pod)
	[[ -n $pod ]] || fail "no collector pod after helm install"
	wait_for 60 pod_ready "$DS_NS" "$pod"
	arrived() { local t; for t in "${types[@]}"; do (($(profefe_count "$app" "$t") >= 1)) || return 1; done; }
	wait_for 120 arrived
	assert_eq "podmonitor.monitoring.coreos.com/kprofefe prometheusrule.monitoring.coreos.com/kprofefe configmap/kprofefe-dashboard" \
		"$(kubectl get podmonitor/kprofefe prometheusrule/kprofefe configmap/kprofefe-dashboard -n "$DS_NS" -o name | xargs)" "the monitoring objects"
	out=$(helm get manifest kprofefe | kubectl apply --dry-run=server --validate=strict -f - 2>&1) ||
		fail "the release's objects fail strict validation: $out"
	echo "helm install: $pod Ready, $(stored "$app" "$from") profiles of $app arrived; PodMonitor, PrometheusRule, dashboard accepted"
}

# helm_rn_upgrade_no_loss APP FROM: with profefe down, helm upgrade changes
# collector.interval: the pods' checksum/config changes, the DaemonSet rolls
# (maxSurge 0), the old pod spools on SIGTERM, the new one replays once profefe
# is back. Every profile both took (the old pod since its start, after FROM)
# is in profefe.
helm_rn_upgrade_no_loss() {
	local app=$1 from=$2 old new old_ip old_stop new_stop taken before after lp1 lp2 out
	old=$(ds_pod)
	kubectl logs -f -n "$DS_NS" "$old" -c kprofefe >"$E2E_TMP/old.log" 2>&1 &
	lp1=$!
	before=$(stored "$app" "$from")
	"$CLUSTER" profefe stop
	old_ip=$(kubectl get pod -n "$DS_NS" "$old" -o jsonpath='{.status.podIP}')
	spooling() {
		curl -fsS --noproxy '*' "http://$old_ip:9102/metrics" |
			awk '$1 ~ /^kprofefe_(spool_entries|queue_depth)/ { s += $2 } END { exit !(s > 0) }'
	}
	wait_for 60 spooling
	out=$(helm upgrade kprofefe "$CHART" -f "$HELM_VALUES" --set collector.interval=4s 2>&1) || fail "helm upgrade: $out"
	new_pod() { local p; p=$(ds_pod); [[ -n $p && $p != "$old" ]] && pod_ready "$DS_NS" "$p"; }
	wait_for 120 new_pod
	new=$(ds_pod)
	assert_eq 4s "$(kubectl get configmap kprofefe -n "$DS_NS" -o jsonpath='{.data.KPROFEFE_INTERVAL}')" "KPROFEFE_INTERVAL after helm upgrade"
	wait "$lp1" || true
	old_stop=$(stopped_line "$E2E_TMP/old.log")
	[[ -n $old_stop ]] || fail "the old pod did not stop cleanly: $(tail -20 "$E2E_TMP/old.log")"
	kubectl logs -f -n "$DS_NS" "$new" -c kprofefe >"$E2E_TMP/new.log" 2>&1 &
	lp2=$!
	"$CLUSTER" profefe start
	spool_empty() { (($(find "$SPOOL_HOST" -maxdepth 1 -type f ! -name '.*' | wc -l) == 0)); }
	wait_for 120 spool_empty
	# Both counts final: the new pod stops too (profefe up, it uploads all).
	helm uninstall kprofefe --wait --timeout 120s >/dev/null || fail "helm uninstall --wait"
	wait "$lp2" || true
	new_stop=$(stopped_line "$E2E_TMP/new.log")
	[[ -n $new_stop ]] || fail "the new pod did not stop cleanly: $(tail -20 "$E2E_TMP/new.log")"
	taken=$(($(jq -r .profiles_collected <<<"$old_stop") + $(jq -r .profiles_collected <<<"$new_stop")))
	after=$(stored "$app" "$from")
	assert_eq "$taken" "$after" "profiles in profefe since the test started vs taken by the old ($old) and new ($new) pods"
	echo "helm upgrade: old pod spooled $(jq -r .spool_entries <<<"$old_stop") on SIGTERM; $taken taken, $after in profefe ($before stored before profefe stopped), none lost"
}

# helm_rn_uninstall_leaves_spool: after helm uninstall, nothing of the
# release is left but the node's spool directory.
helm_rn_uninstall_leaves_spool() {
	local o kind name ons
	helm_rn_values
	helm install kprofefe "$CHART" -f "$HELM_VALUES" --wait --timeout 180s >/dev/null 2>&1 || fail "helm install --wait"
	helm get manifest kprofefe | as_objects >"$E2E_TMP/manifest.json"
	[[ -d $SPOOL_HOST ]] || fail "no spool directory $SPOOL_HOST on the node after install"
	helm uninstall kprofefe --wait --timeout 120s >/dev/null 2>&1 || fail "helm uninstall --wait"
	wait_for 120 bash -c "! kubectl get namespace $DS_NS"
	while read -r o; do
		kind=$(jq -r .kind <<<"$o") name=$(jq -r .metadata.name <<<"$o") ons=$(jq -r '.metadata.namespace // ""' <<<"$o")
		kubectl get "$kind" "$name" ${ons:+-n "$ons"} >/dev/null 2>&1 && fail "$kind $name left after helm uninstall"
	done < <(jq -c '.[]' "$E2E_TMP/manifest.json")
	assert_eq "" "$(kubectl get pods -A -l app.kubernetes.io/name=kprofefe -o name)" "collector pods after helm uninstall"
	[[ -d $SPOOL_HOST ]] || fail "helm uninstall removed the node's spool directory $SPOOL_HOST"
	echo "helm uninstall: $(jq length "$E2E_TMP/manifest.json") objects gone, $SPOOL_HOST kept"
}

# helm_rn_profefe_example APP IMAGE: daemonset/examples/profefe/ with IMAGE
# (the stand-in's, scripts/cluster-images.sh) in place of profefe/profefe, its
# claim bound to a hostPath PersistentVolume of the node; the chart with its
# default profefe.url uploads APP's profiles to it.
helm_rn_profefe_example() {
	local app=$1 image=$2 ex=$E2E_ROOT/daemonset/examples/profefe
	# The volume's directory as a provisioner makes it for the pod's fsGroup
	# (which a hostPath volume does not apply): its group's, group-writable.
	install -d -o root -g 65532 -m 0770 "$PROFEFE_PV_DIR" || fail "mkdir $PROFEFE_PV_DIR"
	kubectl apply -f - >/dev/null <<-EOF || fail "PersistentVolume for profefe-data"
		apiVersion: v1
		kind: PersistentVolume
		metadata: {name: e2e-profefe-data}
		spec:
		  capacity: {storage: 10Gi}
		  accessModes: [ReadWriteOnce]
		  hostPath: {path: "$PROFEFE_PV_DIR", type: Directory}
		  claimRef: {namespace: profefe, name: profefe-data}
	EOF
	# The stand-in, named as such, in place of profefe's published image.
	sed "s|image: profefe/profefe:.*|image: $image # the profefe-compat stand-in, in place of profefe/profefe|" \
		"$ex/20-deployment.yaml" >"$E2E_TMP/20-deployment.yaml"
	kubectl apply -f "$ex/00-namespace.yaml" -f "$ex/10-pvc.yaml" -f "$E2E_TMP/20-deployment.yaml" -f "$ex/30-service.yaml" >/dev/null ||
		fail "kubectl apply daemonset/examples/profefe"
	kubectl -n profefe rollout status deployment/profefe --timeout=120s >/dev/null ||
		fail "profefe's Deployment not Ready (probes): $(kubectl -n profefe get pods,pvc -o wide 2>&1; kubectl -n profefe get events 2>&1 | tail -20)"
	helm_rn_values "$(sed -n 's/^  url: //p' "$CHART/values.yaml")"
	helm install kprofefe "$CHART" -f "$HELM_VALUES" --wait --timeout 180s >/dev/null 2>&1 || fail "helm install --wait"
	# Asked through the API server's service proxy: the Service, as the collector reaches it.
	in_example() {
		grep -q "\"$app\"" <(kubectl get --raw "/api/v1/namespaces/profefe/services/profefe:10100/proxy/api/0/services")
	}
	wait_for 120 in_example
	# Stored on the claim's volume, where profefe's data goes.
	[[ -s $PROFEFE_PV_DIR/index.jsonl ]] || fail "nothing stored on the PersistentVolume $PROFEFE_PV_DIR"
	echo "examples/profefe: the chart's default profefe.url reached the in-cluster profefe (stand-in image $image), stored on its volume"
}

PROFEFE_PV_DIR=$KPROFEFE_NODE_DIR/profefe-data

realnode_helm_main() {
	local app=helm$((RANDOM % 1000)) start
	e2e_extra_cleanup() {
		helm uninstall kprofefe --wait --timeout 120s >/dev/null 2>&1 || true
		kubectl delete -f "$E2E_ROOT/daemonset/examples/profefe" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 || true
		kubectl delete pv e2e-profefe-data --ignore-not-found >/dev/null 2>&1 || true
		rm -rf "$PROFEFE_PV_DIR"
		realnode_cleanup
		monitoring_crds_remove
	}
	monitoring_crds_install
	start=$(profefe_time -2)
	kubectl create namespace "$APP_NS" >/dev/null
	deploy_app "$app" 1
	helm_rn_install_ready "$app" "$start"
	helm_rn_upgrade_no_loss "$app" "$start"
	helm_rn_uninstall_leaves_spool
	[[ -n ${KPROFEFE_PROFEFE_IMAGE:-} ]] || fail "KPROFEFE_PROFEFE_IMAGE (the stand-in's image) is not set"
	helm_rn_profefe_example "$app" "$KPROFEFE_PROFEFE_IMAGE"
	echo "PASS: helm on the real node: install Ready + profiles + monitoring objects, upgrade without loss, uninstall keeps only the spool, examples/profefe at the default URL"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then realnode_helm_main; fi
