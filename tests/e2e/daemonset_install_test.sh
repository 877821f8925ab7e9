#!/usr/bin/env bash
# e2e: daemonset/ installs the collector on the real API server, with both
# `kubectl apply -k` and `kubectl apply -f`; the deployed RBAC allows exactly
# list and watch of pods; and the collector, started the way the DaemonSet's
# pod template (read back from the API server) says, collects only its own
# node's pods into profefe, for node-a and node-b. One of node-a's pods runs
# the sample workload of daemonset/examples/, annotated as its Deployment says.
#
# No kubelet or container runtime exists here, so this test plays the kubelet:
# tests/e2e/daemonset_pod.jq turns the pod template into a plan (command,
# resolved env, volumes, user, capabilities, probes) and run_container below
# executes it with the built binary, under setpriv. What it cannot reproduce
# it says: the seccomp profile and the read-only root filesystem are not
# applied (the test checks instead that the spool, the one thing the collector
# writes, is on a writable volume), and the token is not bound to a Pod object.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

DS_DIR=$E2E_ROOT/daemonset
EXAMPLES=$DS_DIR/examples
POD_JQ=$E2E_ROOT/tests/e2e/daemonset_pod.jq
KPROFEFE_BIN=${KPROFEFE_BUILD_DIR:?}/kprofefe
IMAGE_BIN=/usr/local/bin/kprofefe # where daemonset/Dockerfile puts the collector
run=$(date +%s)$((RANDOM % 100))
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

collector_pids=()
profefe_stopped=0
e2e_extra_cleanup() {
	local pid p logs=$KPROFEFE_CLUSTER_DIR/logs/daemonset_install_test
	for pid in "${collector_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${collector_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if ((profefe_stopped)); then "$CLUSTER" profefe start >/dev/null 2>&1 || true; fi
	# The collectors' logs outlive the test, with the cluster's logs.
	rm -rf "$logs"
	mkdir -p "$logs"
	cp "$E2E_TMP"/*.log "$logs/" 2>/dev/null || true
	# The pods first: their namespaces go next.
	while read -r p; do
		"$CLUSTER" pod del "${p#*/}" --namespace "${p%%/*}" >/dev/null 2>&1 || true
	done <"$E2E_TMP/.pods"
	uninstall -f "$EXAMPLES"
	uninstall -k "$DS_DIR"
}

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
uninstall -f "$EXAMPLES"
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
metrics_path=$(dsq '.spec.template.metadata.annotations["prometheus.io/path"]')

# Security: every container without privilege escalation, on a read-only root
# filesystem, with all capabilities dropped, under seccomp RuntimeDefault. The
# collector runs as non-root with no capability; the only exception is the
# spool-owner init container (root with CAP_CHOWN alone, see the manifest).
plan_of() { # NODE ROOT: the pod plan for NODE (see daemonset_pod.jq)
	local cms
	cms=$(kubectl get configmaps -n "$ns" -o json | jq '[.items[] | {(.metadata.name): .data}] | add // {}')
	jq --arg node "$1" --arg root "$2" --argjson cms "$cms" --arg image_bin "$IMAGE_BIN" \
		--arg host_bin "$KPROFEFE_BIN" -f "$POD_JQ" <<<"$ds"
}
plan=$(plan_of node-a "$E2E_TMP/node-a") || fail "translating the pod template"
jq -e '[.initContainers[], .containers[]] | all(.noNewPrivs and .readOnlyRootFilesystem and
	(.privileged | not) and .capDrop == ["ALL"] and .seccomp == "RuntimeDefault")' <<<"$plan" >/dev/null ||
	fail "a container's securityContext is not tight: $(jq -c '[.initContainers[], .containers[]] | map({name, noNewPrivs, readOnlyRootFilesystem, privileged, capDrop, seccomp})' <<<"$plan")"
jq -e '.containers | all(.runAsNonRoot and .runAsUser > 0 and .capAdd == [])' <<<"$plan" >/dev/null ||
	fail "the collector does not run non-root without capabilities"
jq -e '.initContainers | all(.capAdd == ["CHOWN"])' <<<"$plan" >/dev/null ||
	fail "an init container adds other capabilities than CHOWN"
# The spool: a hostPath DirectoryOrCreate, mounted writable where the collector spools.
assert_eq "DirectoryOrCreate" "$(jq -r --arg p "$(jq -r .KPROFEFE_SPOOL_DIR <<<"$cm")" \
	'.volumes[] | select(.hostPath == $p) | .type' <<<"$plan")" "spool volume: hostPath at KPROFEFE_SPOOL_DIR"

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

# ---------------------------------------------------- the pods to collect --

# The sample workload, applied for real: its Deployment's pod template is what
# a ReplicaSet would create. The pod runs the program of its ConfigMap.
out=$(kubectl apply --validate=strict -f "$EXAMPLES" 2>&1) || fail "kubectl apply -f $EXAMPLES: $out"
deploy=$(kubectl get -f "$EXAMPLES" -o json | jq '.items[] | select(.kind == "Deployment")')
ex_ns=$(jq -r .metadata.namespace <<<"$deploy")
ex_name=$(jq -r .metadata.name <<<"$deploy")
ex_service=$(jq -r --arg n "$ex_name" '.spec.template.metadata.annotations["profefe.com/service"] // $n' <<<"$deploy")
mapfile -t ex_annotations < <(jq -r '.spec.template.metadata.annotations | to_entries[] | "\(.key)=\(.value)"' <<<"$deploy")
ex_src=$(kubectl get -f "$EXAMPLES" -o json | jq -r '.items[] | select(.kind == "ConfigMap") | .data["main.go"]')
mkdir -p "$E2E_TMP/example"
printf '%s\n' "$ex_src" >"$E2E_TMP/example/main.go"
(cd "$E2E_TMP/example" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -o hello-pprof main.go) ||
	fail "the example's main.go does not build"
# No controller-manager creates the namespace's default ServiceAccount, which
# the API server's admission wants before it takes a pod.
kubectl create serviceaccount default -n "$ex_ns" >/dev/null 2>&1 || true
ex_user=$(jq -r '.spec.template.spec.securityContext.runAsUser // empty' <<<"$deploy")
[[ -n $ex_user ]] || fail "the example's pod template sets no runAsUser"
ex_port=$(jq -r '.spec.template.metadata.annotations["profefe.com/port"] // "6060"' <<<"$deploy")
ex_path=$(jq -r '.spec.template.metadata.annotations["profefe.com/path"] // "/debug/pprof"' <<<"$deploy")
assert_eq "$ex_port" "$(jq -r '.spec.template.spec.containers[0].ports[] | select(.name == "pprof") | .containerPort' <<<"$deploy")" \
	"the example's profefe.com/port vs its pprof containerPort"
ex_args=()
for a in "${ex_annotations[@]}"; do ex_args+=(--annotate "$a"); done
ex_rs=$ex_name-5d8f9b # a ReplicaSet name: the Deployment's, then the template hash
ex_pod=$ex_rs-e$run
ex_ip=$(pod_add "$ex_pod" --node node-a --namespace "$ex_ns" --owner "ReplicaSet/$ex_rs" --no-process "${ex_args[@]}")

# pod_netns IP: the network namespace that holds IP (the pod's "sandbox").
pod_netns() {
	local n
	for n in $(ip netns list | awk '{print $1}'); do
		ip -n "$n" -o -4 addr show 2>/dev/null | grep -q " $1/" && { echo "$n"; return 0; }
	done
	return 1
}
chmod 0711 "$E2E_TMP" # the test's users (65532) reach their files below it
ex_netns=$(pod_netns "$ex_ip") || fail "no network namespace holds $ex_ip"
ip netns exec "$ex_netns" setpriv --reuid "$ex_user" --regid "$ex_user" --clear-groups --no-new-privs \
	--inh-caps=-all --bounding-set=-all env -i "$E2E_TMP/example/hello-pprof" >"$E2E_TMP/example.log" 2>&1 &
wait_for 30 curl -fsS --noproxy '*' -o /dev/null "http://$ex_ip:$ex_port$ex_path/"

# Plain annotated pods of a Deployment's ReplicaSet, on node-a and on node-b.
web=dsweb$run # the Deployment: the profefe service
rs=$web-6f9c8d
web_a=$rs-a1
web_b=$rs-b1
pod_add "$web_a" --node node-a --namespace "$pod_ns" --owner "ReplicaSet/$rs" --annotate profefe.com/enable=true >/dev/null
pod_add "$web_b" --node node-b --namespace "$pod_ns" --owner "ReplicaSet/$rs" --annotate profefe.com/enable=true >/dev/null

# ---------------------------------------- the kubelet, played by the test --

# map_path CONTAINER-PLAN PATH: PATH as this machine sees it (under the
# directory of the volume mounted there), or PATH itself when not on a volume.
map_path() {
	jq -r --arg p "$2" '[.mounts[] | select(.mountPath as $m | $p == $m or ($p | startswith($m + "/")))]
		| max_by(.mountPath | length) as $m
		| if $m == null then $p else $m.dir + $p[($m.mountPath | length):] end' <<<"$1"
}

# mount_of CONTAINER-PLAN PATH: the mount PATH lies on, as JSON (null: none).
mount_of() {
	jq -c --arg p "$2" '[.mounts[] | select(.mountPath as $m | $p == $m or ($p | startswith($m + "/")))]
		| max_by(.mountPath | length)' <<<"$1"
}

# prepare_volumes PLAN: the pod's volumes on "the node": hostPath directories
# (DirectoryOrCreate: made, root-owned 0755, as the kubelet does) and the
# projected service-account volume (a TokenRequest token for the pod's
# ServiceAccount, the cluster CA, the namespace).
prepare_volumes() {
	local plan=$1 v f dir path src name key
	while read -r v; do
		dir=$(jq -r .dir <<<"$v")
		if [[ $(jq -r '.hostPath // empty' <<<"$v") != "" ]]; then
			case $(jq -r .type <<<"$v") in
			DirectoryOrCreate) mkdir -p "$dir" && chmod 0755 "$dir" ;;
			Directory) [[ -d $dir ]] || fail "hostPath $dir (type Directory) does not exist" ;;
			*) fail "hostPath type $(jq -r .type <<<"$v") is not handled by this test" ;;
			esac
			continue
		fi
		mkdir -p "$dir"
		chmod 0755 "$dir"
		while read -r f; do
			path=$dir/$(jq -r .path <<<"$f")
			if jq -e .token <<<"$f" >/dev/null; then
				local args=(--duration "$(jq -r .token.expirationSeconds <<<"$f")s")
				[[ $(jq -r .token.audience <<<"$f") == "" ]] || args+=(--audience "$(jq -r .token.audience <<<"$f")")
				kubectl create token "$(jq -r .serviceAccountName <<<"$plan")" -n "$ns" "${args[@]}" >"$path" ||
					fail "TokenRequest for $ns/$(jq -r .serviceAccountName <<<"$plan")"
			elif jq -e .configMap <<<"$f" >/dev/null; then
				name=$(jq -r .configMap.name <<<"$f")
				key=$(jq -r .configMap.key <<<"$f")
				if src=$(kubectl get configmap "$name" -n "$ns" -o json 2>/dev/null); then
					jq -j --arg k "$key" '.data[$k]' <<<"$src" >"$path"
				elif [[ $name == kube-root-ca.crt && $key == ca.crt ]]; then
					# The controller-manager (not running here) publishes this
					# ConfigMap in every namespace: the cluster's CA.
					cp "$KPROFEFE_CA" "$path"
				else
					fail "ConfigMap $ns/$name of a projected volume does not exist"
				fi
			else
				jq -j .value <<<"$f" >"$path"
			fi
			chmod 0644 "$path"
		done < <(jq -c '.files[]?' <<<"$v")
	done < <(jq -c '.volumes[]' <<<"$plan")
}

# run_container CONTAINER-PLAN [NAME=VALUE...]: execs the container's argv with
# exactly its env (plus the NAME=VALUE overrides), as its user and group, with
# no capability but the ones it adds and no privilege escalation. It replaces
# the shell: call it in a subshell, ( ... ) or ... &.
run_container() {
	local c=$1 user group caps
	shift
	user=$(jq -r '.runAsUser // empty' <<<"$c")
	[[ -n $user ]] || fail "container $(jq -r .name <<<"$c") sets no runAsUser (this test does not read the image's USER)"
	group=$(jq -r '.runAsGroup // .runAsUser' <<<"$c")
	[[ $(jq -r '.capDrop | join(",")' <<<"$c") == ALL ]] || fail "container $(jq -r .name <<<"$c") does not drop ALL capabilities"
	caps=$(jq -r '[.capAdd[] | "+" + ascii_downcase] | join(",")' <<<"$c")
	local priv=(--reuid "$user" --regid "$group" --clear-groups --inh-caps=-all --bounding-set="-all${caps:+,$caps}")
	[[ $(jq -r .noNewPrivs <<<"$c") == true ]] && priv+=(--no-new-privs)
	local env=() argv=()
	mapfile -d '' -t env < <(jq -j '.env[] | "\(.[0])=\(.[1])\u0000"' <<<"$c")
	mapfile -d '' -t argv < <(jq -j '.argv[] | "\(.)\u0000"' <<<"$c")
	exec setpriv "${priv[@]}" env -i "${env[@]}" "$@" "${argv[@]}"
}

# start_node NODE [NAME]: the DaemonSet's pod for NODE (again: a restart, on
# the same node directories): volumes, init containers (to completion), then
# the collector in the background; its pid, metrics port and log in
# $E2E_TMP/NAME.pid, NAME.port and NAME.log (NAME: NODE).
start_node() {
	local node=$1 name=${2:-$1} root=$E2E_TMP/$1 plan c sa_dir spool url log=$E2E_TMP/${2:-$1}.log
	plan=$(plan_of "$node" "$root") || fail "translating the pod template for $node"
	prepare_volumes "$plan"
	while read -r c; do
		(run_container "$c") >>"$E2E_TMP/$node.init.log" 2>&1 ||
			fail "init container $(jq -r .name <<<"$c") failed on $node: $(cat "$E2E_TMP/$node.init.log")"
	done < <(jq -c '.initContainers[]' <<<"$plan")
	c=$(jq -c '.containers[0]' <<<"$plan")
	# shellcheck disable=SC2016 # a jq program
	local env_of='.env[] | select(.[0] == $n) | .[1]'
	local overrides=(
		# What the kubelet adds to every container: the kubernetes Service.
		"KUBERNETES_SERVICE_HOST=127.0.0.1" "KUBERNETES_SERVICE_PORT=${KPROFEFE_APISERVER##*:}"
		"HOSTNAME=$(jq -r .pod <<<"$plan")"
		# Two nodes' collectors share this machine: each gets a free port.
		"KPROFEFE_METRICS_ADDR=127.0.0.1:0")
	# The collector reads the service account where the template mounts it.
	sa_dir=$(jq -r --arg n KPROFEFE_SERVICEACCOUNT_DIR "$env_of" <<<"$c")
	if [[ -z $sa_dir ]]; then
		sa_dir=$(map_path "$c" "$sa_default")
		[[ $sa_dir != "$sa_default" ]] || fail "the template mounts nothing at $sa_default, where the collector reads its service account"
		overrides+=("KPROFEFE_SERVICEACCOUNT_DIR=$sa_dir")
	fi
	[[ -s $sa_dir/token && -s $sa_dir/ca.crt && -s $sa_dir/namespace ]] || fail "no token, ca.crt and namespace in $sa_dir"
	# The spool must be on a writable volume: the root filesystem is read-only.
	spool=$(jq -r '.KPROFEFE_SPOOL_DIR // empty' <<<"$cm")
	[[ -n $spool ]] || { spool=$spool_default; overrides+=("KPROFEFE_SPOOL_DIR=$(map_path "$c" "$spool")"); }
	[[ $(mount_of "$c" "$spool" | jq -r '.readOnly') == false ]] || fail "the spool $spool is not on a writable volume"
	# profefe's in-cluster DNS name does not resolve on this machine.
	url=$(jq -r --arg n PROFEFE_URL "$env_of" <<<"$c")
	if [[ $url =~ ^https?://[^/:]+\.svc([.:/]|$) ]]; then
		echo "note: PROFEFE_URL $url (ConfigMap) is an in-cluster name; using the local profefe $PROFEFE_URL"
		overrides+=("PROFEFE_URL=$PROFEFE_URL")
	fi
	run_container "$c" "${overrides[@]}" >"$log" 2>&1 &
	echo $! >"$E2E_TMP/$name.pid"
	collector_pids+=($!)
	local deadline=$((SECONDS + 20))
	until grep -q 'serving metrics' "$log"; do
		if ((SECONDS >= deadline)) || ! kill -0 "$!" 2>/dev/null; then
			fail "the $node collector does not serve metrics: $(cat "$log")"
		fi
		sleep 0.2
	done
	sed -nE 's/.*serving metrics.*[" ]port"?[:=]"?([0-9]+).*/\1/p' "$log" | head -1 >"$E2E_TMP/$name.port"
	[[ -s $E2E_TMP/$name.port ]] || fail "the $node collector logged no metrics port: $(cat "$log")"
}

# stop_node NAME: SIGTERM, as the kubelet stops a pod; the collector must exit
# 0 within the pod's terminationGracePeriodSeconds.
stop_node() {
	local pid start rc=0 ms
	pid=$(cat "$E2E_TMP/$1.pid")
	start=$(date +%s%N)
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	ms=$((($(date +%s%N) - start) / 1000000))
	assert_eq 0 "$rc" "exit status of collector $1 after SIGTERM ($(tail -3 "$E2E_TMP/$1.log"))"
	((ms < tgps * 1000)) || fail "collector $1 took ${ms}ms to stop, over terminationGracePeriodSeconds $tgps"
}

sa_default=$(sed -n 's/^#define KUBE_SERVICEACCOUNT_DIR "\(.*\)"$/\1/p' "$E2E_ROOT/include/kprofefe/kube.h")
spool_default=$("$KPROFEFE_BIN" --help | sed -n 's/.*(default \(.*\)) \[KPROFEFE_SPOOL_DIR\]$/\1/p')
[[ -n $sa_default && -n $spool_default ]] || fail "cannot tell the collector's default service-account dir and spool"

start_node node-a
start_node node-b
plan_a=$(plan_of node-a "$E2E_TMP/node-a")

# The spool is the collector's own: its user, mode 0700.
c_user=$(jq -r '.containers[0].runAsUser' <<<"$plan_a")
c_group=$(jq -r '.containers[0].runAsGroup // .containers[0].runAsUser' <<<"$plan_a")
spool_dir=$(map_path "$(jq -c '.containers[0]' <<<"$plan_a")" \
	"$(jq -r --arg d "$spool_default" '.KPROFEFE_SPOOL_DIR // $d' <<<"$cm")")
assert_eq "$c_user:$c_group 700" "$(stat -c '%u:%g %a' "$spool_dir")" "spool owner and mode after the init container"

# ------------------------------------------------- probes and metrics --

probe_path() { jq -r ".containers[0].probes.$1.path" <<<"$plan_a"; }
probe_ok() { [[ $(http_code "http://127.0.0.1:$1$2") == 200 ]]; } # PORT PATH, as the kubelet probes
for node in node-a node-b; do
	port=$(cat "$E2E_TMP/$node.port")
	wait_for 30 probe_ok "$port" "$(probe_path liveness)"
	wait_for 30 probe_ok "$port" "$(probe_path readiness)"
done

# --------------------------------------- each node's pods, nothing else --

types=$(jq -r '.KPROFEFE_PROFILES // "cpu,heap,goroutine,mutex,block,threadcreate"' <<<"$cm" | tr , ' ')
# all_arrived SERVICE POD NODE: profefe has every type of POD, labelled NODE.
all_arrived() {
	local t pt
	for t in $types; do
		pt=$t
		[[ $t == allocs ]] && pt=other
		(($(profefe_count "$1" "$pt" "pod=$2,node=$3") >= 1)) || return 1
	done
}
wait_for 120 all_arrived "$web" "$web_a" node-a
wait_for 60 all_arrived "$ex_service" "$ex_pod" node-a
wait_for 60 all_arrived "$web" "$web_b" node-b
for t in $types; do
	assert_eq 0 "$(profefe_count "$web" "$t" "pod=$web_b,node=node-a")" "$web_b ($t) collected by node-a"
	assert_eq 0 "$(profefe_count "$web" "$t" "pod=$web_a,node=node-b")" "$web_a ($t) collected by node-b"
	assert_eq 0 "$(profefe_count "$ex_service" "$t" "pod=$ex_pod,node=node-b")" "$ex_pod ($t) collected by node-b"
done
# Every target a collector added is a pod of its own node.
for node in node-a node-b; do
	mapfile -t targets < <(jq -Rr 'fromjson? // empty | select(.msg == "target added") | .pod' "$E2E_TMP/$node.log")
	((${#targets[@]} > 0)) || fail "the $node collector added no target: $(cat "$E2E_TMP/$node.log")"
	for t in "${targets[@]}"; do
		assert_eq "$node" "$(kubectl get pod "${t#*/}" -n "${t%%/*}" -o jsonpath='{.spec.nodeName}' 2>/dev/null || echo gone)" "node of target $t of the $node collector"
	done
done
grep -q "$web_b" "$E2E_TMP/node-a.log" && fail "the node-a collector mentions node-b's pod $web_b"
grep -q "$web_a\|$ex_pod" "$E2E_TMP/node-b.log" && fail "the node-b collector mentions node-a's pods"
# The example's profiles hold samples: it does work, as the README promises.
id=$(profefe_profiles "$ex_service" cpu "pod=$ex_pod" | jq -r '.[0].id')
profefe_get "$id" "$E2E_TMP/example-cpu.pb.gz"
pprof_top "$E2E_TMP/example-cpu.pb.gz" | has_samples || fail "the example's cpu profile has no samples"

# Prometheus scrapes the path and port of the pod annotations.
port=$(cat "$E2E_TMP/node-a.port")
metrics=$(curl -fsS --noproxy '*' "http://127.0.0.1:$port$metrics_path") || fail "GET $metrics_path"
assert_contains "$metrics" 'kprofefe_uploads_total{type="cpu",result="ok"}' "node-a's $metrics_path"

# --------------------------------------------------------- shutdown --

stop_node node-a
stop_node node-b

# ------------------------------------------------------------ the spool --

# As deployed, the collector can use its spool. With profefe down, node-a's
# pod, restarted (its init container runs again, on a spool that is already
# the collector's), writes what it cannot upload to the hostPath directory, as
# its own user. Restarted with profefe back, it replays the spool to empty.
spool_entries() { find "$spool_dir" -maxdepth 1 -type f ! -name '.*' | wc -l; }
spool_filled() { (($(spool_entries) > 0)); }
spool_empty() { (($(spool_entries) == 0)); }
"$CLUSTER" profefe stop
profefe_stopped=1
start_node node-a node-a.offline
wait_for 60 spool_filled
stop_node node-a.offline
assert_eq 0 "$(find "$spool_dir" ! -user "$c_user" | wc -l)" "spool files not owned by the collector's user"
"$CLUSTER" profefe start
profefe_stopped=0
start_node node-a node-a.replay
wait_for 60 spool_empty
stop_node node-a.replay
collector_pids=()

# What the collectors asked the API server (its audit log), as the
# ServiceAccount: only list and watch of pods, each for one node, none denied.
user="system:serviceaccount:$ns:$sa"
asked=$(jq -c --arg u "$user" 'select(.user.username == $u and .stage == "ResponseComplete")
	| {verb, resource: .objectRef.resource, sub: (.objectRef.subresource // ""), code: .responseStatus.code,
	   node: (.requestURI | capture("fieldSelector=spec.nodeName%3D(?<n>[^&]+)").n // "")}' \
	"$KPROFEFE_AUDIT_LOG" | sort -u)
for node in node-a node-b; do
	assert_contains "$asked" "{\"verb\":\"list\",\"resource\":\"pods\",\"sub\":\"\",\"code\":200,\"node\":\"$node\"}" "the collectors' API requests"
	assert_contains "$asked" "{\"verb\":\"watch\",\"resource\":\"pods\",\"sub\":\"\",\"code\":200,\"node\":\"$node\"}" "the collectors' API requests"
done
bad=$(jq -c 'select((.verb == "list" or .verb == "watch") and .resource == "pods" and .sub == "" and .code < 400 and .node != "" | not)' <<<"$asked")
[[ -z $bad ]] || fail "the collectors made other, denied or cluster-wide requests: $bad"

# ----------------------------------------- kubectl apply -f, from scratch --

uninstall -k "$DS_DIR"
kubectl get namespace "$ns" >/dev/null 2>&1 && fail "namespace $ns left after kubectl delete -k"
out=$(kubectl apply --validate=strict -f "$DS_DIR" 2>&1) || fail "kubectl apply -f on a fresh cluster: $out"
assert_eq "$nobjs" "$(grep -c ' created$' <<<"$out")" "objects created by kubectl apply -f: $out"
uninstall -f "$DS_DIR"
kubectl get clusterrole "$role" >/dev/null 2>&1 && fail "ClusterRole left after kubectl delete -f"
echo "PASS: apply -k and -f, RBAC list+watch pods only, the pod template's collector per node (node-a, node-b): own pods only, probes, metrics, SIGTERM, spool and replay"
