#!/usr/bin/env bash
# e2e: daemonset/ installs on the real API server, with both `kubectl apply
# -k` and `kubectl apply -f`, the same objects either way; they pass the
# server's validation; the pod template is tight (non-root, read-only root,
# no capabilities, seccomp, a writable spool volume); the deployed RBAC allows
# exactly list and watch of pods. That the pods run and collect, on a real
# kubelet, is tests/e2e/realnode_daemonset_test.sh.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

DS_DIR=$E2E_ROOT/daemonset
pod_ns=e2e-ds

# files_of DIR: the YAML files `kubectl apply -f DIR` reads, as one stream.
files_of() {
	local f
	for f in "$1"/*.yaml "$1"/*.yml "$1"/*.json; do
		[[ -e $f ]] && { printf -- '---\n'; cat "$f"; printf '\n'; }
	done
	return 0
}

# ---------------------------------------------------------------- cleanup --

# uninstall -k|-f DIR: kubectl delete of what `kubectl apply -k|-f DIR`
# creates, then the namespaces among it (see namespace_finalize in lib.sh).
uninstall() {
	local mode=$1 dir=$2 objs n
	if [[ $mode == -k ]]; then objs=$(kubectl kustomize "$dir"); else objs=$(files_of "$dir"); fi
	kubectl delete "$mode" "$dir" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	for n in $(as_objects <<<"$objs" | jq -r '.[] | select(.kind == "Namespace") | .metadata.name'); do
		namespace_finalize "$n"
	done
}

e2e_extra_cleanup() { uninstall -k "$DS_DIR"; }

# ------------------------------------------- same objects, -k and -f --

kubectl kustomize "$DS_DIR" | as_objects >"$E2E_TMP/k.json" || fail "kubectl kustomize $DS_DIR"
files_of "$DS_DIR" | as_objects >"$E2E_TMP/f.json" || fail "kubectl reading $DS_DIR/*.yaml"
jq -e --slurpfile f "$E2E_TMP/f.json" '. == $f[0]' "$E2E_TMP/k.json" >/dev/null ||
	fail "apply -k and apply -f would create different objects: $(diff <(jq -S . "$E2E_TMP/k.json") <(jq -S . "$E2E_TMP/f.json"))"
kinds=$(jq -r '[.[].kind] | sort | join(",")' "$E2E_TMP/k.json")
assert_eq "ClusterRole,ClusterRoleBinding,ConfigMap,DaemonSet,Namespace,ServiceAccount" "$kinds" "objects in $DS_DIR"
name_of() { jq -r --arg k "$1" '.[] | select(.kind == $k) | .metadata.name' "$E2E_TMP/k.json"; }
ns=$(name_of Namespace)
ds_name=$(name_of DaemonSet)
role=$(name_of ClusterRole)
binding=$(name_of ClusterRoleBinding)
nobjs=$(jq length "$E2E_TMP/k.json")

# A previous run that died may have left the install behind.
uninstall -k "$DS_DIR"
kubectl get namespace "$ns" >/dev/null 2>&1 && fail "namespace $ns exists before the install"

# ---------------------------------------- server dry-run, then install --

# A server dry-run persists nothing, so on a cluster without the namespace the
# namespaced objects fail with exactly "namespace not found"; everything else
# must pass the API server's validation.
out=$(kubectl apply --dry-run=server --validate=strict -k "$DS_DIR" 2>&1) || true
errors=$(grep -i 'error' <<<"$out" | grep -v "namespaces \"$ns\" not found" || true)
[[ -z $errors ]] || fail "server dry-run on a fresh cluster: $out"
for o in "namespace/$ns" "clusterrole.rbac.authorization.k8s.io/$role" "clusterrolebinding.rbac.authorization.k8s.io/$binding"; do
	assert_contains "$out" "$o created (server dry run)" "server dry-run on a fresh cluster"
done
# With the namespace there, the dry-run of everything succeeds.
jq '.[] | select(.kind == "Namespace")' "$E2E_TMP/k.json" | kubectl apply -f - >/dev/null
out=$(kubectl apply --dry-run=server --validate=strict -k "$DS_DIR" 2>&1) || fail "kubectl apply --dry-run=server -k: $out"
assert_eq "$nobjs" "$(grep -c '(server dry run)$' <<<"$out")" "objects passing the server dry-run: $out"
out=$(kubectl apply --validate=strict -k "$DS_DIR" 2>&1) || fail "kubectl apply -k: $out"
# And -f over it changes nothing: the same objects.
out=$(kubectl apply --validate=strict -f "$DS_DIR" 2>&1) || fail "kubectl apply -f over -k: $out"
assert_eq "$nobjs" "$(grep -c ' unchanged$' <<<"$out")" "kubectl apply -f after -k: all unchanged: $out"

# ------------------------------------------------- what was deployed --

ds=$(kubectl get daemonset "$ds_name" -n "$ns" -o json)
tmpl_spec=$(jq '.spec.template.spec' <<<"$ds")
sa=$(jq -r '.serviceAccountName' <<<"$tmpl_spec")
dsq() { jq -r "$1" <<<"$ds"; }
assert_eq RollingUpdate "$(dsq .spec.updateStrategy.type)" "update strategy"
assert_eq 0 "$(dsq .spec.updateStrategy.rollingUpdate.maxSurge)" "maxSurge (two collectors would share the spool)"
# Tolerates every taint: a toleration with operator Exists and no key.
assert_eq true "$(dsq '[.spec.template.spec.tolerations[] | select(.operator == "Exists" and (.key // "") == "" and (.effect // "") == "")] | length > 0')" "tolerate all taints"
# NODE_NAME from the downward API; settings from the ConfigMap.
assert_eq spec.nodeName "$(dsq '.spec.template.spec.containers[0].env[] | select(.name == "NODE_NAME") | .valueFrom.fieldRef.fieldPath')" "NODE_NAME source"
cm_name=$(dsq '.spec.template.spec.containers[0].envFrom[0].configMapRef.name')
cm=$(kubectl get configmap "$cm_name" -n "$ns" -o json | jq '.data')
for k in PROFEFE_URL KPROFEFE_SPOOL_DIR KPROFEFE_METRICS_ADDR KPROFEFE_SHUTDOWN_GRACE; do
	[[ $(jq -r --arg k "$k" '.[$k] // ""' <<<"$cm") != "" ]] || fail "ConfigMap $cm_name does not set $k"
done
# Resources: requests and a memory limit.
for r in requests.cpu requests.memory limits.memory; do
	[[ $(dsq ".spec.template.spec.containers[0].resources.$r // \"\"") != "" ]] || fail "collector has no resources.$r"
done
# The grace period covers the collector's shutdown grace (plus 5s for the spool writes).
grace=$(jq -r '.KPROFEFE_SHUTDOWN_GRACE' <<<"$cm")
[[ $grace =~ ^([0-9]+)s$ ]] || fail "KPROFEFE_SHUTDOWN_GRACE $grace: this test reads whole seconds only"
tgps=$(dsq .spec.template.spec.terminationGracePeriodSeconds)
((tgps >= BASH_REMATCH[1] + 5)) || fail "terminationGracePeriodSeconds $tgps does not cover the shutdown grace $grace"
# Prometheus annotations point at the metrics port, which serves the probes.
metrics_port=$(dsq '.spec.template.spec.containers[0].ports[] | select(.name == "metrics") | .containerPort')
assert_eq "$metrics_port" "$(jq -r '.KPROFEFE_METRICS_ADDR | sub("^.*:"; "")' <<<"$cm")" "KPROFEFE_METRICS_ADDR port vs the metrics containerPort"
assert_eq true "$(dsq '.spec.template.metadata.annotations["prometheus.io/scrape"]')" "prometheus.io/scrape"
assert_eq "$metrics_port" "$(dsq '.spec.template.metadata.annotations["prometheus.io/port"]')" "prometheus.io/port"

# Security: every container without privilege escalation, on a read-only root
# filesystem, with all capabilities dropped, under seccomp RuntimeDefault. The
# collector runs as non-root with no capability; the only exception is the
# spool-owner init container (root with CAP_CHOWN alone, see the manifest).
pod_spec=$(dsq .spec.template.spec)
jq -e '[.initContainers[], .containers[]] | all(.securityContext | .allowPrivilegeEscalation == false and
	.readOnlyRootFilesystem == true and (.privileged | not) and .capabilities.drop == ["ALL"])' <<<"$pod_spec" >/dev/null ||
	fail "a container's securityContext is not tight: $(jq -c '[.initContainers[], .containers[]] | map({name, securityContext})' <<<"$pod_spec")"
assert_eq RuntimeDefault "$(jq -r .securityContext.seccompProfile.type <<<"$pod_spec")" "the pod's seccomp profile"
jq -e '.securityContext.runAsNonRoot == true and .securityContext.runAsUser > 0 and
	(.containers | all((.securityContext.capabilities.add // []) == [] and (.securityContext.runAsUser // 1) > 0))' <<<"$pod_spec" >/dev/null ||
	fail "the collector does not run non-root without capabilities"
jq -e '.initContainers | all(.securityContext.capabilities.add == ["CHOWN"])' <<<"$pod_spec" >/dev/null ||
	fail "an init container adds other capabilities than CHOWN"
# The spool: a hostPath DirectoryOrCreate, mounted writable where the collector spools.
spool=$(jq -r .KPROFEFE_SPOOL_DIR <<<"$cm")
vol=$(jq -r --arg p "$spool" '.containers[0].volumeMounts[] | select(.mountPath == $p and (.readOnly // false) == false) | .name' <<<"$pod_spec")
[[ -n $vol ]] || fail "nothing is mounted writable at KPROFEFE_SPOOL_DIR $spool"
assert_eq DirectoryOrCreate "$(jq -r --arg v "$vol" '.volumes[] | select(.name == $v) | .hostPath.type' <<<"$pod_spec")" "spool volume: hostPath DirectoryOrCreate"

# ------------------------------------------------------------ RBAC --

assert_eq '[{"apiGroups":[""],"resources":["pods"],"verbs":["list","watch"]}]' \
	"$(kubectl get clusterrole "$role" -o json | jq -c '.rules')" "ClusterRole rules"
as_sa=(--as="system:serviceaccount:$ns:$sa")
for allowed in "list pods -A" "watch pods -A" "list pods -n $pod_ns" "watch pods -n kube-system"; do
	# shellcheck disable=SC2086
	assert_eq yes "$(kubectl auth can-i $allowed "${as_sa[@]}" 2>/dev/null || true)" "can-i $allowed"
done
for denied in "get secrets -A" "get secrets -n $ns" "list secrets -A" "create pods -n $pod_ns" \
	"delete pods -n $pod_ns" "get pods -n $pod_ns" "get pods/proxy -n $pod_ns" "list nodes" "patch pods -n $pod_ns"; do
	# shellcheck disable=SC2086
	assert_eq no "$(kubectl auth can-i $denied "${as_sa[@]}" 2>/dev/null || true)" "can-i $denied"
done

# ------------------------------------------------ the sample workload --

# Its pod compiles the ConfigMap's main.go at start, in a golang image this
# machine cannot pull: here the program must build, and its pod template
# must serve pprof where its annotations say.
ex=$(kubectl create --dry-run=client -o json -f "$DS_DIR/examples" | jq -s '[.[] | if .kind == "List" then .items[] else . end]') ||
	fail "kubectl reading $DS_DIR/examples"
mkdir -p "$E2E_TMP/example"
jq -r '.[] | select(.kind == "ConfigMap") | .data["main.go"]' <<<"$ex" >"$E2E_TMP/example/main.go"
(cd "$E2E_TMP/example" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -o hello-pprof main.go) ||
	fail "the example's main.go does not build"
deploy=$(jq '.[] | select(.kind == "Deployment")' <<<"$ex")
assert_eq "$(jq -r '.spec.template.metadata.annotations["profefe.com/port"] // "6060"' <<<"$deploy")" \
	"$(jq -r '.spec.template.spec.containers[0].ports[] | select(.name == "pprof") | .containerPort' <<<"$deploy")" \
	"the example's profefe.com/port vs its pprof containerPort"

# ----------------------------------------- kubectl apply -f, from scratch --

uninstall -k "$DS_DIR"
kubectl get namespace "$ns" >/dev/null 2>&1 && fail "namespace $ns left after kubectl delete -k"
out=$(kubectl apply --validate=strict -f "$DS_DIR" 2>&1) || fail "kubectl apply -f on a fresh cluster: $out"
assert_eq "$nobjs" "$(grep -c ' created$' <<<"$out")" "objects created by kubectl apply -f: $out"
uninstall -f "$DS_DIR"
kubectl get clusterrole "$role" >/dev/null 2>&1 && fail "ClusterRole left after kubectl delete -f"
echo "PASS: apply -k and -f (same objects, server-validated), a tight pod template, RBAC list+watch pods only"
