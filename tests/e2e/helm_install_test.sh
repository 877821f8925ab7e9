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
# not the pods (see tests/e2e/realnode_helm_test.sh for those).
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
# Each is on the API server (one request for all), owned by the release, as rendered.
mapfile -t refs < <(jq -r '.[] | "\(.kind | ascii_downcase)/\(.metadata.name)"' "$E2E_TMP/manifest.json")
kubectl get "${refs[@]}" -n "$ns" -o json | jq '.items' >"$E2E_TMP/live.json" || fail "helm install did not create ${refs[*]}"
# One jq for all: each rendered object has a live one, owned by the release
# (Helm's annotations and label), with the same content in these fields.
# shellcheck disable=SC2016 # a jq program
diffs=$(jq -r --slurpfile live "$E2E_TMP/live.json" '
	def fields: {data, rules, roleRef, subjects, selector: .spec.selector, strategy: .spec.updateStrategy,
		podLabels: .spec.template.metadata.labels, podAnnotations: .spec.template.metadata.annotations,
		image: .spec.template.spec.containers[0].image, envFrom: .spec.template.spec.containers[0].envFrom,
		spool: .spec.template.spec.volumes[0]};
	.[] | . as $o | [$live[0][] | select(.kind == $o.kind and .metadata.name == $o.metadata.name)][0] as $l
	| if $l == null then "\($o.kind) \($o.metadata.name): not created"
	  elif [$l.metadata.annotations["meta.helm.sh/release-name"], $l.metadata.annotations["meta.helm.sh/release-namespace"],
		$l.metadata.labels["app.kubernetes.io/managed-by"]] != ["kprofefe", "default", "Helm"]
	  then "\($o.kind) \($o.metadata.name): not owned by release default/kprofefe: \($l.metadata | tojson)"
	  else ($o | fields) as $w | ($l | fields) as $g | $w | keys[] | select($w[.] != $g[.])
	  | "\($o.kind) \($o.metadata.name) \(.): rendered \($w[.] | tojson), live \($g[.] | tojson)" end' \
	"$E2E_TMP/manifest.json" 2>&1) || fail "comparing the release's objects: $diffs"
[[ -z $diffs ]] || fail "the live objects are not the rendered ones:
$diffs"
# The RBAC it installed: list and watch of pods, nothing more.
as="--as=system:serviceaccount:$ns:kprofefe"
# shellcheck disable=SC2086 # $a is a verb and a resource
for a in "list pods" "watch pods"; do
	assert_eq yes "$(kubectl auth can-i $a "$as" -A 2>/dev/null)" "the collector may $a"
done
# shellcheck disable=SC2086
for a in "get pods" "list secrets"; do
	assert_eq no "$(kubectl auth can-i $a "$as" -A 2>/dev/null || true)" "the collector may $a"
done
ds_of() { jq '.[] | select(.kind == "DaemonSet")' "$E2E_TMP/live.json"; }
gen1=$(ds_of | jq .metadata.generation)
tmpl1=$(ds_of | jq -c .spec.template)

# ------------------------------------------------------------- upgrade --

# ds_cm: the DaemonSet and the ConfigMap on the API server (one request).
ds_cm() { kubectl get daemonset/kprofefe configmap/kprofefe -n "$ns" -o json; }
out=$(helm upgrade kprofefe "$CHART" --set collector.interval=30s --set image.tag=0.1.1 \
	--set 'extraArgs={--jitter=5s}' --set podLabels.team=perf 2>&1) || fail "helm upgrade: $out"
assert_contains "$out" "REVISION: 2" "helm upgrade"
got=$(ds_cm)
q() { jq -r ".items[] | select(.kind == \"$1\") | $2" <<<"$got"; }
assert_eq $((gen1 + 1)) "$(q DaemonSet .metadata.generation)" "the DaemonSet's generation after helm upgrade"
assert_eq kprofefe/kprofefe:0.1.1 "$(q DaemonSet '.spec.template.spec.containers[0].image')" "image after the upgrade"
assert_eq kprofefe/kprofefe:0.1.1 "$(q DaemonSet '.spec.template.spec.initContainers[0].image')" "init image after the upgrade"
assert_eq '["--jitter=5s"]' "$(q DaemonSet '.spec.template.spec.containers[0].args | tojson')" "args after the upgrade"
assert_eq perf "$(q DaemonSet '.spec.template.metadata.labels.team')" "pod label after the upgrade"
assert_eq 30s "$(q ConfigMap .data.KPROFEFE_INTERVAL)" "KPROFEFE_INTERVAL after the upgrade"
[[ $(q DaemonSet '.spec.template.metadata.annotations["checksum/config"]') != \
	"$(jq -r '.metadata.annotations["checksum/config"]' <<<"$tmpl1")" ]] || fail "checksum/config unchanged by a changed ConfigMap"
# A ConfigMap change alone rolls the pods too (their checksum changes).
gen2=$(q DaemonSet .metadata.generation)
helm upgrade kprofefe "$CHART" --reuse-values --set collector.logLevel=debug >/dev/null 2>&1 || fail "helm upgrade --set collector.logLevel=debug"
got=$(ds_cm)
assert_eq $((gen2 + 1)) "$(q DaemonSet .metadata.generation)" "the DaemonSet's generation after a ConfigMap-only upgrade"
assert_eq debug "$(q ConfigMap .data.KPROFEFE_LOG_LEVEL)" "KPROFEFE_LOG_LEVEL after the upgrade"
# A bad value: refused before anything changes.
out=$(helm upgrade kprofefe "$CHART" --reuse-values --set spool.hostPath=/ 2>&1) && fail "helm upgrade accepted spool.hostPath=/: $out"
assert_contains "$out" "at '/spool/hostPath'" "helm upgrade's refusal"
gen3=$(q DaemonSet .metadata.generation)
got=$(ds_cm)
assert_eq "$gen3" "$(q DaemonSet .metadata.generation)" "the DaemonSet's generation after a refused upgrade"
assert_eq 3 "$(helm history kprofefe -o json | jq length)" "revisions after a refused upgrade"
# Rollback: revision 1's pod template again.
helm rollback kprofefe 1 >/dev/null 2>&1 || fail "helm rollback kprofefe 1"
got=$(ds_cm)
assert_eq "$tmpl1" "$(q DaemonSet '.spec.template | tojson')" "pod template after helm rollback to revision 1"
assert_eq 60s "$(q ConfigMap .data.KPROFEFE_INTERVAL)" "KPROFEFE_INTERVAL after the rollback"

# ----------------------------------------------------------- uninstall --

out=$(helm uninstall kprofefe 2>&1) || fail "helm uninstall: $out"
assert_contains "$out" 'release "kprofefe" uninstalled' "helm uninstall"
# The namespace controller (not running here) would finish the Namespace's
# deletion; namespace_finalize plays it, once nothing is left inside.
[[ $(kubectl get namespace "$ns" -o jsonpath='{.status.phase}' 2>/dev/null || echo gone) =~ ^(Terminating|gone)$ ]] ||
	fail "namespace $ns not being deleted after helm uninstall"
namespace_finalize "$ns" || fail "objects left in $ns after helm uninstall"
left=$(kubectl get "${refs[@]}" -n "$ns" -o name --ignore-not-found 2>&1) || fail "kubectl get after helm uninstall: $left"
assert_eq "" "$left" "objects left after helm uninstall"
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
