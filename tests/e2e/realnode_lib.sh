#!/usr/bin/env bash
# Shared by the realnode_*_test.sh tests (source it after lib.sh): daemonset/
# installed with `kubectl apply -k` through an overlay, as docs/installing.md tells a
# user to, and annotated Deployments of the pprof-target image, all on the
# cluster's real node (scripts/cluster.sh up --real-node): kubelet, containerd,
# runc, CNI, kube-proxy, controllers and scheduler.

[[ -n ${KPROFEFE_REAL_NODE:-} ]] ||
	fail "the cluster has no real node: bring it up with scripts/cluster.sh up --real-node (tests/e2e/run.sh --up-real-node)"

DS_DIR=$E2E_ROOT/daemonset
NODE=$KPROFEFE_REAL_NODE
DS_NS=kprofefe
DS=daemonset/kprofefe
# The hostPath spool of this instance's node (the shipped /var/lib/kprofefe/spool
# would be shared by every test cluster on the machine).
SPOOL_HOST=$KPROFEFE_NODE_DIR/spool
OVERLAY=$E2E_TMP/overlay
APP_NS=e2e-real$(date +%s | tail -c 5)$((RANDOM % 100))

# write_overlay [--component DIR]... [CONFIG-KEY=VALUE...]: the overlay a user
# writes: the image they built, their profefe, the components of daemonset/
# they chose (DIR relative to it, e.g. examples/pod-tls); plus what this
# cluster needs: the node's own spool directory, and only the real node (the
# simulated ones run nothing).
write_overlay() {
	local kv components=""
	mkdir -p "$OVERLAY"
	while [[ ${1:-} == --component ]]; do
		components+=$'\n'"  - $(realpath --relative-to="$OVERLAY" "$DS_DIR/$2")"
		shift 2
	done
	cat >"$OVERLAY/kustomization.yaml" <<-EOF
		apiVersion: kustomize.config.k8s.io/v1beta1
		kind: Kustomization
		resources:
		  - $(realpath --relative-to="$OVERLAY" "$DS_DIR")
		components:$components
		images:
		  - name: kprofefe/kprofefe
		    newName: ${KPROFEFE_COLLECTOR_IMAGE%:*}
		    newTag: "${KPROFEFE_COLLECTOR_IMAGE##*:}"
		patches:
		  - path: config.yaml
		  - path: node.yaml
	EOF
	{
		cat <<-EOF
			apiVersion: v1
			kind: ConfigMap
			metadata: {name: kprofefe, namespace: $DS_NS}
			data:
			  PROFEFE_URL: "$KPROFEFE_POD_PROFEFE_URL"
		EOF
		for kv in "$@"; do printf '  %s: "%s"\n' "${kv%%=*}" "${kv#*=}"; done
	} >"$OVERLAY/config.yaml"
	cat >"$OVERLAY/node.yaml" <<-EOF
		apiVersion: apps/v1
		kind: DaemonSet
		metadata: {name: kprofefe, namespace: $DS_NS}
		spec:
		  template:
		    spec:
		      nodeSelector: {kubernetes.io/hostname: $NODE}
		      volumes:
		        - name: spool
		          hostPath: {path: $SPOOL_HOST, type: DirectoryOrCreate}
	EOF
}

# target_container NAME PORT-NAME PORT [TLS-SECRET]: a pprof-target container
# of a pod template, as YAML indented for app_deployment's containers list.
# With TLS-SECRET (a kubernetes.io/tls Secret, the pod's volume of that name:
# tls_volume) it serves https only, with the Secret's certificate and key.
target_container() {
	local tls=${4:-} scheme=HTTP flags=""
	[[ -n $tls ]] && scheme=HTTPS flags=', "--tls-cert", "/etc/pprof-tls/tls.crt", "--tls-key", "/etc/pprof-tls/tls.key"'
	cat <<-EOF
		        - name: $1
		          image: $KPROFEFE_TARGET_IMAGE
		          imagePullPolicy: Never
		          args: ["--addr", ":$3", "--cpu-ms", "5", "--cpu-ms-profiling", "50"$flags]
		          ports: [{name: $2, containerPort: $3}]
		          readinessProbe: {httpGet: {path: /healthz, port: $2, scheme: $scheme}, periodSeconds: 2}
	EOF
	[[ -z $tls ]] || echo "          volumeMounts: [{name: $tls, mountPath: /etc/pprof-tls, readOnly: true}]"
}

tls_volume() { echo "{name: $1, secret: {secretName: $1}}"; } # SECRET: a pod volume of it

# app_deployment NAME REPLICAS LABELS ANNOTATIONS CONTAINERS [VOLUMES]: a
# Deployment on the real node whose pods are labelled app=NAME and LABELS and
# annotated ANNOTATIONS (both the inside of a YAML flow mapping:
# 'k: v, k2: "v2"'), running CONTAINERS (target_container's YAML), with
# VOLUMES (the inside of a YAML flow sequence).
app_deployment() {
	kubectl apply -f - >/dev/null <<-EOF || fail "creating Deployment $APP_NS/$1"
		apiVersion: apps/v1
		kind: Deployment
		metadata: {name: $1, namespace: $APP_NS}
		spec:
		  replicas: $2
		  selector: {matchLabels: {app: $1}}
		  template:
		    metadata:
		      labels: {app: $1${3:+, $3}}
		      annotations: {$4}
		    spec:
		      nodeSelector: {kubernetes.io/hostname: $NODE}
		      terminationGracePeriodSeconds: 2
		      volumes: [${6:-}]
		      containers:
		$5
	EOF
}

# deploy_app NAME REPLICAS: an annotated Deployment of the pprof target.
deploy_app() {
	app_deployment "$1" "$2" "" 'profefe.com/enable: "true", profefe.com/port: "6060"' \
		"$(target_container app pprof 6060)"
}

app_rolled_out() { # DEPLOYMENT
	kubectl -n "$APP_NS" rollout status "deployment/$1" --timeout=120s >/dev/null ||
		fail "Deployment $1 not rolled out: $(kubectl -n "$APP_NS" get pods -o wide 2>&1; kubectl -n "$APP_NS" get events 2>&1 | tail -20)"
}

ds_pod() { # the name of the DaemonSet's current, not terminating pod
	kubectl get pods -n "$DS_NS" -l app.kubernetes.io/name=kprofefe -o json |
		jq -r '[.items[] | select(.metadata.deletionTimestamp == null)][0].metadata.name // empty'
}

pod_ready() { # NS NAME
	kubectl get pod -n "$1" "$2" -o json |
		jq -e '.status.phase == "Running" and any(.status.conditions[]; .type == "Ready" and .status == "True")'
}

app_pods() { # DEPLOYMENT: its Running pods, one a line
	kubectl get pods -n "$APP_NS" -l "app=$1" -o json |
		jq -r '.items[] | select(.status.phase == "Running" and .metadata.deletionTimestamp == null) | .metadata.name'
}

install_ds() {
	local out
	out=$(kubectl apply -k "$OVERLAY" 2>&1) || fail "kubectl apply -k $OVERLAY: $out"
	kubectl -n "$DS_NS" rollout status "$DS" --timeout=180s >/dev/null ||
		fail "DaemonSet not rolled out: $(kubectl -n "$DS_NS" get pods -o wide 2>&1; kubectl -n "$DS_NS" get events 2>&1 | tail -20)"
}

# uninstall: kubectl delete -k, waited for (the namespace controller runs).
uninstall_ds() {
	kubectl delete -k "$OVERLAY" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 || true
}

realnode_cleanup() {
	[[ -e $OVERLAY/kustomization.yaml ]] && uninstall_ds
	kubectl delete namespace "$APP_NS" --ignore-not-found --wait=true --timeout=120s >/dev/null 2>&1 || true
	"$CLUSTER" profefe start >/dev/null 2>&1 || true
	rm -rf "$SPOOL_HOST"
}

# profefe_since SERVICE FROM TYPE...: how many profiles of SERVICE of those
# types profefe holds with created_at since FROM (a profefe_time).
profefe_since() {
	local svc=$1 from=$2 t n=0 out
	shift 2
	for t in "$@"; do
		out=$(curl -sS --noproxy '*' -G "$PROFEFE_URL/api/0/profiles" --data-urlencode "service=$svc" \
			--data-urlencode "type=$t" --data-urlencode "from=$from" --data-urlencode "to=$(profefe_time 60)" \
			--data-urlencode "limit=100000")
		n=$((n + $(jq '.body // [] | length' <<<"$out")))
	done
	echo "$n"
}

# stopped_line LOGFILE: the collector's JSON "stopped" record in a log.
stopped_line() {
	jq -Rc 'fromjson? // empty | select(.msg == "stopped")' "$1" | tail -1
}
