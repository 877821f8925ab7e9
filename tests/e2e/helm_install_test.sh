#!/usr/bin/env bash
# e2e: the chart on the real API server, with the real helm: `helm install`
# (the README's command) creates daemonset/'s objects, owned by the release,
# with the RBAC they say; `helm upgrade` with changed values changes the
# DaemonSet's pod template (one new generation) and its ConfigMap, a bad value
# changes nothing, `helm rollback` restores the first revision; `helm
# uninstall` removes every object and the release. Then the other way in: a
# release in an existing namespace (namespace.create=false) leaves that
# namespace behind.
#
# No kubelet runs here, so no collector pod starts: the objects are checked,
# not the pods (see tests/e2e/helm_realnode.sh for those).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/helm_lib.sh
source "$(dirname "$0")/helm_lib.sh"

ns=$(render | jq -r '.[] | select(.kind == "Namespace") | .metadata.name')
[[ -n $ns ]] || fail "the chart renders no Namespace"

# remove_all: what a failed earlier run (or this one) may have left.
remove_all() {
	local r
	for r in kprofefe:default kprofefe:"$ns"; do
		helm status "${r%%:*}" -n "${r#*:}" >/dev/null 2>&1 && helm uninstall "${r%%:*}" -n "${r#*:}" >/dev/null 2>&1 || true
	done
	kubectl delete -k "$DS_DIR" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	namespace_finalize "$ns"
}
e2e_extra_cleanup() { remove_all; }
remove_all
kubectl get namespace "$ns" >/dev/null 2>&1 && fail "namespace $ns exists before the install"

# live KIND NAME [NS]: the object on the API server, as JSON.
live() { kubectl get "$1" "$2" ${3:+-n "$3"} -o json; }
gen() { live daemonset kprofefe "$ns" | jq .metadata.generation; }

# ------------------------------------------------------------- install --

out=$(helm install kprofefe "$CHART" 2>&1) || fail "helm install: $out"
assert_contains "$out" "STATUS: deployed" "helm install"
assert_contains "$out" "one collector per node in namespace $ns" "helm install's notes"
# What helm applied is what helm template renders, which is daemonset/ (helm_chart_test).
helm get manifest kprofefe | as_objects >"$E2E_TMP/manifest.json"
render >"$E2E_TMP/rendered.json"
jq -e --slurpfile r "$E2E_TMP/rendered.json" '. == $r[0]' "$E2E_TMP/manifest.json" >/dev/null ||
	fail "helm get manifest differs from helm template: $(diff <(jq -S . "$E2E_TMP/rendered.json") <(jq -S . "$E2E_TMP/manifest.json"))"
kinds=$(jq -r '[.[].kind] | sort | join(",")' "$E2E_TMP/manifest.json")
assert_eq "ClusterRole,ClusterRoleBinding,ConfigMap,DaemonSet,Namespace,ServiceAccount" "$kinds" "objects of the release"
# Each is on the API server, owned by the release, as rendered.
while read -r o; do
	kind=$(jq -r .kind <<<"$o") name=$(jq -r .metadata.name <<<"$o") ons=$(jq -r '.metadata.namespace // ""' <<<"$o")
	got=$(live "$kind" "$name" "$ons") || fail "helm install did not create $kind $name"
	assert_eq "kprofefe default Helm" "$(jq -r '[.metadata.annotations["meta.helm.sh/release-name"],
		.metadata.annotations["meta.helm.sh/release-namespace"], .metadata.labels["app.kubernetes.io/managed-by"]] | join(" ")' <<<"$got")" \
		"release owning $kind $name"
	for f in .data .rules .roleRef .subjects .spec.selector .spec.updateStrategy .spec.template.metadata \
		.spec.template.spec.containers[0].image .spec.template.spec.containers[0].envFrom .spec.template.spec.volumes[0]; do
		assert_eq "$(jq -cS "$f" <<<"$o")" "$(jq -cS "$f" <<<"$got")" "$kind $name $f on the API server"
	done
done < <(jq -c '.[]' "$E2E_TMP/manifest.json")
# The RBAC it installed: list and watch of pods, nothing more.
as="--as=system:serviceaccount:$ns:kprofefe"
# shellcheck disable=SC2086 # $a is a verb and a resource
for a in "list pods" "watch pods"; do
	assert_eq yes "$(kubectl auth can-i $a "$as" -A 2>/dev/null)" "the collector may $a"
done
for a in "get pods" "get pods/proxy" "list secrets" "create pods" "list nodes"; do
	assert_eq no "$(kubectl auth can-i $a "$as" -A 2>/dev/null || true)" "the collector may $a"
done
gen1=$(gen)
tmpl1=$(live daemonset kprofefe "$ns" | jq -c .spec.template)

# ------------------------------------------------------------- upgrade --

out=$(helm upgrade kprofefe "$CHART" --set collector.interval=30s --set image.tag=0.1.1 \
	--set 'extraArgs={--jitter=5s}' --set podLabels.team=perf 2>&1) || fail "helm upgrade: $out"
assert_contains "$out" "REVISION: 2" "helm upgrade"
assert_eq $((gen1 + 1)) "$(gen)" "the DaemonSet's generation after helm upgrade"
ds=$(live daemonset kprofefe "$ns")
assert_eq kprofefe/kprofefe:0.1.1 "$(jq -r '.spec.template.spec.containers[0].image' <<<"$ds")" "image after the upgrade"
assert_eq kprofefe/kprofefe:0.1.1 "$(jq -r '.spec.template.spec.initContainers[0].image' <<<"$ds")" "init image after the upgrade"
assert_eq '["--jitter=5s"]' "$(jq -c '.spec.template.spec.containers[0].args' <<<"$ds")" "args after the upgrade"
assert_eq perf "$(jq -r '.spec.template.metadata.labels.team' <<<"$ds")" "pod label after the upgrade"
assert_eq 30s "$(live configmap kprofefe "$ns" | jq -r .data.KPROFEFE_INTERVAL)" "KPROFEFE_INTERVAL after the upgrade"
[[ $(jq -r '.spec.template.metadata.annotations["checksum/config"]' <<<"$ds") != \
	"$(jq -r '.metadata.annotations["checksum/config"]' <<<"$tmpl1")" ]] || fail "checksum/config unchanged by a changed ConfigMap"
# A ConfigMap change alone rolls the pods too (their checksum changes).
gen2=$(gen)
helm upgrade kprofefe "$CHART" --reuse-values --set collector.logLevel=debug >/dev/null 2>&1 || fail "helm upgrade --set collector.logLevel=debug"
assert_eq $((gen2 + 1)) "$(gen)" "the DaemonSet's generation after a ConfigMap-only upgrade"
assert_eq debug "$(live configmap kprofefe "$ns" | jq -r .data.KPROFEFE_LOG_LEVEL)" "KPROFEFE_LOG_LEVEL after the upgrade"
# A bad value: refused before anything changes.
gen3=$(gen)
out=$(helm upgrade kprofefe "$CHART" --reuse-values --set spool.hostPath=/ 2>&1) && fail "helm upgrade accepted spool.hostPath=/: $out"
assert_contains "$out" "at '/spool/hostPath'" "helm upgrade's refusal"
assert_eq "$gen3" "$(gen)" "the DaemonSet's generation after a refused upgrade"
assert_eq 3 "$(helm history kprofefe -o json | jq length)" "revisions after a refused upgrade"
# Rollback: revision 1's pod template again.
helm rollback kprofefe 1 >/dev/null 2>&1 || fail "helm rollback kprofefe 1"
assert_eq "$tmpl1" "$(live daemonset kprofefe "$ns" | jq -c .spec.template)" "pod template after helm rollback to revision 1"
assert_eq 60s "$(live configmap kprofefe "$ns" | jq -r .data.KPROFEFE_INTERVAL)" "KPROFEFE_INTERVAL after the rollback"

# ----------------------------------------------------------- uninstall --

out=$(helm uninstall kprofefe 2>&1) || fail "helm uninstall: $out"
assert_contains "$out" 'release "kprofefe" uninstalled' "helm uninstall"
# The namespace controller (not running here) would finish the Namespace's
# deletion; namespace_finalize plays it, once nothing is left inside.
[[ $(kubectl get namespace "$ns" -o jsonpath='{.status.phase}' 2>/dev/null || echo gone) =~ ^(Terminating|gone)$ ]] ||
	fail "namespace $ns not being deleted after helm uninstall"
namespace_finalize "$ns" || fail "objects left in $ns after helm uninstall"
while read -r o; do
	kind=$(jq -r .kind <<<"$o") name=$(jq -r .metadata.name <<<"$o") ons=$(jq -r '.metadata.namespace // ""' <<<"$o")
	live "$kind" "$name" "$ons" >/dev/null 2>&1 && fail "$kind $name left after helm uninstall"
done < <(jq -c '.[]' "$E2E_TMP/manifest.json")
assert_eq "" "$(kubectl get secrets -n default -l owner=helm,name=kprofefe -o name)" "the release's records after helm uninstall"

# ------------------------------ into an existing namespace, the other way --

out=$(helm install kprofefe "$CHART" -n "$ns" --create-namespace --set namespace.create=false 2>&1) ||
	fail "helm install -n $ns --create-namespace --set namespace.create=false: $out"
assert_eq kprofefe "$(live daemonset kprofefe "$ns" | jq -r '.metadata.annotations["meta.helm.sh/release-name"]')" "DaemonSet of the release in $ns"
helm uninstall kprofefe -n "$ns" >/dev/null 2>&1 || fail "helm uninstall -n $ns"
live namespace "$ns" >/dev/null || fail "helm uninstall deleted namespace $ns, which the release did not create"
assert_eq "" "$(kubectl get daemonsets,configmaps,serviceaccounts,secrets -n "$ns" -o name)" "objects left in $ns"
kubectl delete namespace "$ns" --wait=false >/dev/null
namespace_finalize "$ns"

echo "PASS: helm install ($(jq length "$E2E_TMP/manifest.json") objects, RBAC list+watch pods), upgrade (new pod template, ConfigMap-only roll, bad value refused), rollback, uninstall (nothing left), install into an existing namespace"
