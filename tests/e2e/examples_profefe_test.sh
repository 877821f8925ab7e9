#!/usr/bin/env bash
# e2e: daemonset/examples/profefe/ is where the collector's default PROFEFE_URL
# points (daemonset/'s ConfigMap and the chart's default profefe.url): its
# Service's name, namespace and port are the URL's, the Service reaches the
# Deployment's pods on their profefe port, which the probes use, and the
# PersistentVolumeClaim is mounted at profefe's -badger.dir. The API server
# takes every object (strict validation) and Pod Security admission finds
# the pod template "restricted" (no warning).
#
# No kubelet runs here and the image cannot be pulled, so the test plays the
# kubelet with the profefe stand-in (tests/profefe, "profefe-compat", not the
# profefe/profefe image): it runs it with the container's own arguments (the
# listen address moved to loopback, the data directory to where the volume
# would be) and probes it as the kubelet would.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=scripts/cluster-deps.sh
source "$E2E_ROOT/scripts/cluster-deps.sh"

EX=$E2E_ROOT/daemonset/examples/profefe
objs=$(for f in "$EX"/*.yaml; do printf -- '---\n'; cat "$f"; done | as_objects) || fail "kubectl reading $EX"
assert_eq "Deployment,Namespace,PersistentVolumeClaim,Service" "$(jq -r '[.[].kind] | sort | join(",")' <<<"$objs")" "objects of $EX"
ns=$(jq -r '.[] | select(.kind == "Namespace") | .metadata.name' <<<"$objs")

standin_pid=
e2e_extra_cleanup() {
	[[ -z $standin_pid ]] || { kill "$standin_pid" 2>/dev/null; wait "$standin_pid" 2>/dev/null; } || true
	remove
}
# remove: kubectl delete of the example, then what the absent controllers do:
# the PVC protection controller drops the claim's finalizer (no pod uses it),
# the namespace controller finalizes the namespace.
remove() {
	kubectl get namespace "$ns" >/dev/null 2>&1 || return 0
	kubectl delete -f "$EX" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	kubectl patch pvc profefe-data -n "$ns" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
	wait_for 20 bash -c "! kubectl get pvc profefe-data -n $ns"
	namespace_finalize "$ns"
}
remove

# ------------------------------------------ the default URL finds it --

# url_parts URL: "HOST PORT".
url_parts() { [[ $1 =~ ^http://([^:/]+):([0-9]+)/?$ ]] && echo "${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"; }
kustomize_url=$(kubectl kustomize "$E2E_ROOT/daemonset" | as_objects | jq -r '.[] | select(.kind == "ConfigMap") | .data.PROFEFE_URL')
chart_url=$(sed -n 's/^  url: //p' "$E2E_ROOT/charts/kprofefe/values.yaml")
assert_eq "$kustomize_url" "$chart_url" "the default PROFEFE_URL of daemonset/ and of the chart"
read -r host port <<<"$(url_parts "$kustomize_url")" || fail "PROFEFE_URL $kustomize_url is not http://HOST:PORT"
svc=$(jq '.[] | select(.kind == "Service")' <<<"$objs")
assert_eq "$host" "$(jq -r '"\(.metadata.name).\(.metadata.namespace).svc.cluster.local"' <<<"$svc")" "the Service's DNS name vs PROFEFE_URL"
sport=$(jq --argjson p "$port" '.spec.ports[] | select(.port == $p)' <<<"$svc")
[[ -n $sport ]] || fail "the Service has no port $port: $(jq -c .spec.ports <<<"$svc")"
dep=$(jq '.[] | select(.kind == "Deployment")' <<<"$objs")
# The Service selects the pods, and its targetPort is the container's port.
jq -e --argjson sel "$(jq .spec.selector <<<"$svc")" '.spec.template.metadata.labels | contains($sel)' <<<"$dep" >/dev/null ||
	fail "the Service's selector does not match the Deployment's pods"
c=$(jq '.spec.template.spec.containers[0]' <<<"$dep")
target=$(jq -r .targetPort <<<"$sport")
cport=$(jq --arg t "$target" '.ports[] | select(.name == $t or (.containerPort | tostring) == $t) | .containerPort' <<<"$c")
[[ -n $cport ]] || fail "the Service's targetPort $target is no port of the container"
for p in readinessProbe livenessProbe; do
	pp=$(jq -r ".$p.httpGet.port" <<<"$c")
	[[ $pp == "$target" || $pp == "$cport" ]] || fail "$p probes port $pp, not profefe's ($target)"
done
image=$(jq -r .image <<<"$c")
assert_eq profefe/profefe "${image%%:*}" "the image (profefe's published one)"
# The claim is mounted where profefe keeps its data.
arg() { jq -r --arg f "$1" '.args[] | select(startswith("-" + $f + "=")) | sub("^[^=]*="; "")' <<<"$c"; }
data_dir=$(arg badger.dir)
vol=$(jq -r --arg d "$data_dir" '.volumeMounts[] | select(.mountPath == $d) | .name' <<<"$c")
[[ -n $vol ]] || fail "nothing is mounted at -badger.dir=$data_dir"
assert_eq profefe-data "$(jq -r --arg v "$vol" '.spec.template.spec.volumes[] | select(.name == $v) | .persistentVolumeClaim.claimName' <<<"$dep")" "the claim mounted at $data_dir"
assert_eq profefe-data "$(jq -r '.[] | select(.kind == "PersistentVolumeClaim") | .metadata.name' <<<"$objs")" "the PersistentVolumeClaim"
assert_eq ":$cport" "$(arg addr)" "profefe's -addr vs its containerPort"

# ------------------------------------------------ the API server takes it --

out=$(kubectl apply --validate=strict -f "$EX/00-namespace.yaml" 2>&1) || fail "kubectl apply the namespace: $out"
out=$(kubectl apply --dry-run=server --validate=strict -f "$EX" 2>&1) || fail "kubectl apply --dry-run=server -f $EX: $out"
out=$(kubectl apply --validate=strict -f "$EX" 2>&1) || fail "kubectl apply -f $EX: $out"
grep -qi warning <<<"$out" && fail "kubectl apply warned (Pod Security restricted?): $out"
assert_eq 4 "$(grep -c ' \(created\|unchanged\|configured\)$' <<<"$out")" "objects applied: $out"
live=$(kubectl get service profefe -n "$ns" -o json)
assert_eq "$port" "$(jq --arg n "$(jq -r .name <<<"$sport")" '.spec.ports[] | select(.name == $n) | .port' <<<"$live")" "the live Service's port"
# Pod Security: the namespace enforces restricted, and a pod of the template
# passes it (its "default" ServiceAccount made as the controller would).
kubectl create serviceaccount default -n "$ns" >/dev/null 2>&1 || true
pod=$(jq '{apiVersion: "v1", kind: "Pod", metadata: {name: "profefe-psa", namespace: .metadata.namespace}, spec: .spec.template.spec}' <<<"$dep")
out=$(kubectl create --dry-run=server -f - <<<"$pod" 2>&1) || fail "a pod of the Deployment's template is refused in $ns: $out"
bad=$(jq '.spec.securityContext.runAsNonRoot = false' <<<"$pod")
out=$(kubectl create --dry-run=server -f - <<<"$bad" 2>&1) && fail "namespace $ns does not enforce Pod Security restricted"
assert_contains "$out" 'violates PodSecurity "restricted' "refusal of a pod running as root in $ns"

# ---------------------------------- the kubelet, played with the stand-in --

# The stand-in (profefe-compat, in place of profefe/profefe) with the
# container's arguments; -addr moves to loopback on a free port and
# -badger.dir to where the volume would be mounted.
standin=$(kpf_bin_path profefe)
[[ -x $standin ]] || fail "no profefe stand-in at $standin; run scripts/install-deps.sh"
mapfile -t args < <(jq -r '.args[]' <<<"$c")
free_port=$((20000 + RANDOM % 20000))
while [[ -n $(ss -Hltn "sport = :$free_port") ]]; do free_port=$((20000 + RANDOM % 20000)); done
mkdir -p "$E2E_TMP/volume"
for i in "${!args[@]}"; do
	case ${args[$i]} in
	-addr=*) args[i]=-addr=127.0.0.1:$free_port ;;
	-badger.dir=*) args[i]=-badger.dir=$E2E_TMP/volume ;;
	esac
done
"$standin" "${args[@]}" >"$E2E_TMP/standin.log" 2>&1 &
standin_pid=$!
probe=$(jq -r .readinessProbe.httpGet.path <<<"$c")
probe_ok() { [[ $(http_code "http://127.0.0.1:$free_port$probe") == 200 ]]; }
wait_for 20 probe_ok
assert_eq 200 "$(http_code "http://127.0.0.1:$free_port$(jq -r .livenessProbe.httpGet.path <<<"$c")")" "the liveness probe"

remove
kubectl get namespace "$ns" >/dev/null 2>&1 && fail "namespace $ns left after kubectl delete -f"
echo "PASS: $EX at the default PROFEFE_URL ($host:$port): Service, ports, probes, volume; strict server validation, Pod Security restricted; probes answered by the stand-in run with the container's arguments"
