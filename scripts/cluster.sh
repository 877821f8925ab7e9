#!/usr/bin/env bash
# A real local Kubernetes control plane for tests and the demo: etcd,
# kube-apiserver (TLS, RBAC, audit) and profefe on loopback, plus "pods" that a
# fake kubelet creates: Pod objects with status written through the API and a
# pprof target process in its own network namespace with the pod's IP.
#
#   scripts/cluster.sh up [--real-node] | down | status | env | check-clean
#   scripts/cluster.sh pod add NAME --node NODE [--namespace NS] [--annotate K=V]...
#                      [--label K=V]... [--owner KIND/NAME] [--phase PHASE] [--no-process]
#                      [--server hostile --mode MODE]   (tests/targets/hostile-pod instead)
#                      [--port-name NAME]   (names the app container's port)
#                      [--container NAME=PORT[:PORTNAME]]...   (another container: a second
#                       pprof target in the pod's network namespace, its port declared)
#   scripts/cluster.sh pod del NAME [--namespace NS]
#   scripts/cluster.sh pod ip NAME [--namespace NS]
#   scripts/cluster.sh profefe stop|start
#   scripts/cluster.sh apiserver restart
#
# Instances are isolated by KPROFEFE_CLUSTER_DIR: the directory names an
# instance number N (0 for the default dir) from which the bridge (kpfN),
# network namespace prefix (kpfN-), pod subnet (10.244.16N.0/20) and ports
# (26400+10N ...) derive: below the kernel's range of outgoing ports (32768-60999), so
# no outgoing connection of another process can hold one.
#
# KPROFEFE_PROFEFE_BIN=/path/to/profefe at `up` runs that profefe server (a build of
# github.com/profefe/profefe) instead of the stand-in built from tests/profefe.
set -euo pipefail

KPF_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/cluster-deps.sh
source "$KPF_ROOT/scripts/cluster-deps.sh"

# Absolute, so the kubeconfig and the daemons' paths work from any directory.
D=$(realpath -m "${KPROFEFE_CLUSTER_DIR:-/tmp/kprofefe-cluster}")
LOGS=$D/logs
PKI=$D/pki

# ---------------------------------------------------------------- instance --

# The default directory is instance 0; any other one hashes to 1..15 unless
# KPROFEFE_CLUSTER_INDEX says otherwise. Once up, the number recorded in the
# directory wins, so later commands need no KPROFEFE_CLUSTER_INDEX.
instance_index() {
	if [[ -s $D/instance ]]; then
		cat "$D/instance"
	elif [[ -n ${KPROFEFE_CLUSTER_INDEX:-} ]]; then
		echo "$KPROFEFE_CLUSTER_INDEX"
	elif [[ $D == /tmp/kprofefe-cluster ]]; then
		echo 0
	else
		echo $(($(cksum <<<"$D" | cut -d' ' -f1) % 15 + 1))
	fi
}

N=$(instance_index)
((N >= 0 && N <= 15)) || { echo "cluster: KPROFEFE_CLUSTER_INDEX must be 0..15" >&2; exit 1; }
BRIDGE=kpf$N             # holds the host-side addresses (no ports attached)
NETNS_PREFIX=kpf$N-      # one network namespace per pod: kpfN-<3rd>-<4th octet of its IP>
SUBNET_BASE=$((16 * N))  # third octet of this instance's 10.244.X.0/20
HOST_IP=10.244.$SUBNET_BASE.1
POD_RANGE=10.244.0.0/16  # covered by an unreachable route: nothing leaves
PORT_BASE=$((${KPROFEFE_CLUSTER_PORT_BASE:-26400} + 10 * N))
APISERVER_PORT=$PORT_BASE
ETCD_CLIENT_PORT=$((PORT_BASE + 1))
ETCD_PEER_PORT=$((PORT_BASE + 2))
PROFEFE_PORT=$((PORT_BASE + 3))
APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
PROFEFE_URL=http://127.0.0.1:$PROFEFE_PORT
SA_ISSUER=https://kubernetes.default.svc.cluster.local
DEFAULT_NODES=(node-a node-b)
# shellcheck source=scripts/cluster-node.sh
source "$KPF_ROOT/scripts/cluster-node.sh"

die() {
	echo "cluster: $*" >&2
	exit 1
}

# step_fail STEP LOG: a failed step names itself and the log to read.
step_fail() {
	die "step '$1' failed; read $2"
}

bin() { kpf_bin_path "$1"; }

# ---------------------------------------------------------------- waiting --

# wait_until SECONDS STEP LOG PIDFILE CMD...: polls CMD every 0.1s until it
# succeeds; fails early if the component's process died, or at the deadline.
wait_until() {
	local secs=$1 step=$2 log=$3 pidfile=$4
	shift 4
	local deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [[ -n $pidfile ]] && ! pid_alive "$pidfile"; then
			step_fail "$step (process exited)" "$log"
		fi
		((SECONDS < deadline)) || step_fail "$step (not ready after ${secs}s)" "$log"
		sleep 0.1
	done
}

# pid_alive PIDFILE: the process it names runs and is one this directory
# started (every spawned command line names $D). A pid file from an earlier
# boot, or a machine restored from a snapshot, may name someone else's process.
pid_alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(cat "$1")
	alive "$pid" && tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$D"
}

# alive PID...: true while any PID runs. An exited process that its parent
# (here init, which reaps lazily) has not reaped yet counts as gone.
alive() {
	local p state
	for p in "$@"; do
		state=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || continue
		[[ $state != Z && -n $state ]] && return 0
	done
	return 1
}

# stop_pids PID...: TERM, wait up to 5s for all to exit, then KILL.
stop_pids() {
	(($#)) || return 0
	local i
	kill -TERM "$@" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$@" || return 0
		sleep 0.05
	done
	kill -KILL "$@" 2>/dev/null || true
}

# stop_pidfile PIDFILE: TERM, wait up to 10s, then KILL; removes the file.
stop_pidfile() {
	local f=$1
	pid_alive "$f" && stop_pids "$(cat "$f")"
	rm -f "$f"
}

# spawn NAME LOG CMD...: starts CMD detached from this shell (own session,
# stdin closed) so it outlives the caller; records its pid in $D/NAME.pid.
spawn() {
	local name=$1 log=$2
	shift 2
	setsid nohup "$@" >>"$log" 2>&1 </dev/null &
	echo $! >"$D/$name.pid"
}

port_free() {
	[[ -z $(ss -Htln "sport = :$1" 2>/dev/null) ]]
}

# ------------------------------------------------------------------ pki --

gen_pki() {
	mkdir -p "$PKI"
	local log=$LOGS/pki.log
	{
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=kprofefe-test-ca \
			-keyout "$PKI/ca.key" -out "$PKI/ca.crt"
		issue apiserver /CN=kube-apiserver \
			"subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:$HOST_IP,IP:10.96.0.1
extendedKeyUsage=serverAuth"
		issue admin "/O=system:masters/CN=kprofefe-admin" "extendedKeyUsage=clientAuth"
		# For `kubectl logs/exec` and the pod proxy through a real kubelet.
		issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "extendedKeyUsage=clientAuth"
		# Service-account token signing key pair (TokenRequest API).
		openssl genrsa -out "$PKI/sa.key" 2048
		openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
	} >"$log" 2>&1 || step_fail "generate certificates" "$log"
}

issue() { # NAME SUBJECT EXTENSIONS: a key and a CA-signed certificate
	openssl req -new -newkey rsa:2048 -nodes -subj "$2" -keyout "$PKI/$1.key" -out "$PKI/$1.csr"
	openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 3650 -out "$PKI/$1.crt" -extfile <(printf '%s\n' "$3")
}

write_kubeconfig() {
	cat >"$D/kubeconfig" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: kprofefe
		  cluster:
		    server: $APISERVER_URL
		    certificate-authority: $PKI/ca.crt
		users:
		- name: kprofefe-admin
		  user:
		    client-certificate: $PKI/admin.crt
		    client-key: $PKI/admin.key
		contexts:
		- name: kprofefe
		  context:
		    cluster: kprofefe
		    user: kprofefe-admin
		current-context: kprofefe
	EOF
}

write_audit_policy() {
	cat >"$D/audit-policy.yaml" <<-EOF
		# Every request, at Metadata level (who, what, when, response code).
		apiVersion: audit.k8s.io/v1
		kind: Policy
		rules:
		- level: Metadata
	EOF
}

# ----------------------------------------------------------- components --

start_etcd() {
	spawn etcd "$LOGS/etcd.log" "$(bin etcd)" --name kpf --data-dir "$D/etcd-data" \
		--listen-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "kpf=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync --log-level warn
	# Throwaway test data: skipping fsync makes start and writes much faster.
	wait_until 30 "start etcd" "$LOGS/etcd.log" "$D/etcd.pid" \
		curl -fsS --noproxy '*' "http://127.0.0.1:$ETCD_CLIENT_PORT/health"
}

start_apiserver() {
	spawn kube-apiserver "$LOGS/kube-apiserver.log" "$(bin kube-apiserver)" \
		--etcd-servers "http://127.0.0.1:$ETCD_CLIENT_PORT" \
		--bind-address "$(listen_address)" --secure-port "$APISERVER_PORT" \
		--advertise-address "$HOST_IP" --endpoint-reconciler-type none \
		--cert-dir "$PKI" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
		--kubelet-preferred-address-types InternalIP \
		--authorization-mode RBAC \
		--service-account-issuer "$SA_ISSUER" --api-audiences "$SA_ISSUER" \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--service-cluster-ip-range 10.96.0.0/24 \
		--audit-policy-file "$D/audit-policy.yaml" --audit-log-path "$LOGS/audit.log" \
		--audit-log-format json --audit-log-mode blocking \
		--allow-privileged --v 1
	wait_until 90 "start kube-apiserver" "$LOGS/kube-apiserver.log" "$D/kube-apiserver.pid" \
		api_raw GET /readyz
}

# profefe_bin: the server `up` chose, so a later `profefe start` runs the same one:
# KPROFEFE_PROFEFE_BIN (any profefe build; both take -addr and -badger.dir), else
# the stand-in built from tests/profefe.
profefe_bin() {
	if [[ ! -s $D/profefe-bin ]]; then
		local b=${KPROFEFE_PROFEFE_BIN:-$(bin profefe)}
		[[ -x $b ]] || die "KPROFEFE_PROFEFE_BIN=$b is not an executable"
		realpath "$b" >"$D/profefe-bin"
	fi
	cat "$D/profefe-bin"
}

start_profefe() {
	mkdir -p "$D/profefe-data"
	spawn profefe "$LOGS/profefe.log" "$(profefe_bin)" -addr "$(listen_address):$PROFEFE_PORT" \
		-badger.dir "$D/profefe-data"
	wait_until 20 "start profefe" "$LOGS/profefe.log" "$D/profefe.pid" \
		curl -fsS --noproxy '*' "$PROFEFE_URL/api/0/version"
}

# listen_address: loopback, or every address when a real node's pods must
# reach the API server and profefe at this instance's host address.
listen_address() {
	if is_real_node; then echo 0.0.0.0; else echo 127.0.0.1; fi
}

# ---------------------------------------------------------------- api --

# api_raw METHOD PATH [BODY [CONTENT-TYPE]]: one admin request; prints the body,
# fails on a non-2xx answer (the body goes to stderr).
api_raw() {
	local method=$1 path=$2 body=${3:-} ctype=${4:-application/json} out code
	local args=(-sS --noproxy '*' --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key"
		-X "$method" -w '\n%{http_code}' "$APISERVER_URL$path")
	[[ -n $body ]] && args+=(-H "Content-Type: $ctype" --data-binary "$body")
	out=$(curl "${args[@]}") || return 1
	code=${out##*$'\n'}
	out=${out%$'\n'*}
	if [[ $code != 2* ]]; then
		echo "$method $path: HTTP $code: $out" >&2
		return 1
	fi
	printf '%s\n' "$out"
}

# api_create PATH JSON: create, treating "already exists" as success.
api_create() {
	local err
	if ! err=$(api_raw POST "$1" "$2" 2>&1 >/dev/null); then
		[[ $err == *"HTTP 409"* ]] || { echo "$err" >&2; return 1; }
	fi
}

api_patch_status() { # PATH JSON-MERGE-PATCH
	api_raw PATCH "$1/status" "$2" application/merge-patch+json >/dev/null
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# ---------------------------------------------------------------- nodes --

# node_index NAME: stable small number for a node (node-a 0, node-b 1, others
# in order of first use); the node's subnet is 10.244.(16N+1+index).0/24.
# Under a lock: concurrent `pod add` calls for a new node would otherwise read
# its index file before it is written, or give two nodes one index.
node_index() {
	local f=$D/nodes/$1.idx i
	mkdir -p "$D/nodes"
	(
		flock 9
		if [[ ! -s $f ]]; then
			i=$(find "$D/nodes" -name '*.idx' | wc -l)
			((i < 15)) || die "too many nodes (max 15)"
			echo "$i" >"$f.tmp" && mv "$f.tmp" "$f"
		fi
	) 9>"$D/nodes/.lock" || exit 1
	cat "$f"
}

node_ip() { echo "10.244.$((SUBNET_BASE + 1 + $(node_index "$1"))).1"; }

# ensure_node NAME: the Node object, Ready, with its address on the bridge.
ensure_node() {
	local name=$1 ip
	[[ -e $D/nodes/$name.ready ]] && return 0
	ip=$(node_ip "$name")
	ip addr replace "$ip/32" dev "$BRIDGE" || die "step 'node $name address' failed"
	api_create /api/v1/nodes "$(jq -cn --arg n "$name" \
		'{apiVersion:"v1",kind:"Node",metadata:{name:$n,labels:{"kubernetes.io/hostname":$n,"kubernetes.io/os":"linux"}}}')" ||
		die "step 'create node $name' failed"
	api_patch_status "/api/v1/nodes/$name" "$(jq -cn --arg ip "$ip" --arg n "$name" --arg t "$(now)" --arg v "$KPF_K8S_VERSION" '{status:{
		conditions:[{type:"Ready",status:"True",reason:"KubeletReady",message:"kprofefe fake kubelet",lastHeartbeatTime:$t,lastTransitionTime:$t}],
		addresses:[{type:"InternalIP",address:$ip},{type:"Hostname",address:$n}],
		capacity:{cpu:"2",memory:"8Gi",pods:"250"},allocatable:{cpu:"2",memory:"8Gi",pods:"250"},
		nodeInfo:{kubeletVersion:$v,kubeProxyVersion:"",operatingSystem:"linux",architecture:"amd64",
			containerRuntimeVersion:"kprofefe-fake-kubelet://0.1",kernelVersion:"",osImage:"kprofefe test node",
			machineID:"",systemUUID:"",bootID:""}}}')" ||
		die "step 'node $name status' failed"
	touch "$D/nodes/$name.ready"
}

# ensure_namespace NS: the namespace and its "default" ServiceAccount (no
# controller-manager runs to create it; the admission plugin needs it).
ensure_namespace() {
	local ns=$1
	[[ -e $D/namespaces/$ns ]] && return 0
	api_create /api/v1/namespaces "$(jq -cn --arg n "$ns" '{apiVersion:"v1",kind:"Namespace",metadata:{name:$n}}')" ||
		die "step 'create namespace $ns' failed"
	api_create "/api/v1/namespaces/$ns/serviceaccounts" \
		'{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}' ||
		die "step 'create serviceaccount $ns/default' failed"
	mkdir -p "$D/namespaces"
	touch "$D/namespaces/$ns"
}

# -------------------------------------------------------------- network --

# bridge_up NAME ADDR/LEN: the bridge, up, with the address.
bridge_up() {
	ip link add "$1" type bridge 2>/dev/null || ip link show "$1" >/dev/null ||
		die "step 'create bridge $1' failed (need root and iproute2)"
	ip addr replace "$2" dev "$1"
	ip link set "$1" up
}

route_unreachable() { # CIDR: the covering route, shared by all instances
	if [[ -z $(ip route show type unreachable "$1") ]]; then
		ip route add unreachable "$1" || die "step 'route unreachable $1' failed"
	fi
}

net_up() {
	bridge_up "$BRIDGE" "$HOST_IP/32"
	# A pod IP with no pod behind it fails at once, and nothing for the pod
	# range ever reaches a default route.
	route_unreachable "$POD_RANGE"
}

net_down() {
	ip link del "$BRIDGE" 2>/dev/null || true
	# The covering route goes when no other instance's bridge is left.
	if [[ -z $(ip -o link show type bridge | awk -F': ' '{print $2}' | grep -E '^kpf[0-9]+$' || true) ]]; then
		ip route del unreachable "$POD_RANGE" 2>/dev/null || true
	fi
}

# ip_alloc NODE: reserve the lowest free address of the node's /24 (mkdir is
# atomic, so concurrent `pod add` calls never get the same address).
ip_alloc() {
	local node=$1 base octet
	base=10.244.$((SUBNET_BASE + 1 + $(node_index "$node")))
	mkdir -p "$D/ipam"
	for ((octet = 2; octet < 255; octet++)); do
		if mkdir "$D/ipam/$base.$octet" 2>/dev/null; then
			echo "$base.$octet"
			return 0
		fi
	done
	die "no free pod address on node $node"
}

# pod_net_up NETNS VETH IP GATEWAY: namespace with eth0=IP/32, default route
# via the node address; on the host a /32 route to the pod over the veth.
pod_net_up() {
	local ns=$1 veth=$2 ip=$3 gw=$4
	ip netns add "$ns"
	ip link add "$veth" type veth peer name eth0 netns "$ns"
	ip -n "$ns" -batch - <<-EOF
		link set lo up
		addr add $ip/32 dev eth0
		link set eth0 up
		route add $gw dev eth0 scope link
		route add default via $gw dev eth0
	EOF
	ip -batch - <<-EOF
		link set $veth up
		route add $ip/32 dev $veth src $gw
	EOF
}

# pod_net_down NETNS: ends the pod's processes, then the namespace (its veth
# pair and the host route go with it).
pod_net_down() {
	local ns=$1 pids=()
	[[ -e /run/netns/$ns ]] || return 0
	mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
	stop_pids "${pids[@]}"
	ip netns del "$ns" 2>/dev/null || true
}

# ---------------------------------------------------------------- pods --

pod_file() { echo "$D/pods/${1}_$2.env"; } # NS NAME

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 >= 1 && 10#$1 <= 65535)); }
valid_path() { [[ $1 == /* && $1 =~ ^[A-Za-z0-9/._~-]+$ ]]; }

owner_api_version() {
	case $1 in
	ReplicaSet | Deployment | StatefulSet | DaemonSet) echo apps/v1 ;;
	Job | CronJob) echo batch/v1 ;;
	*) echo v1 ;;
	esac
}

uuid() { cat /proc/sys/kernel/random/uuid; }

pod_add() {
	local name="" node="" ns=default phase=Running process=1 owner="" server=pprof-target mode=""
	local port_name=""
	local -a annotations=() labels=() extra=()
	name=${1:-}
	[[ -n $name && $name != -* ]] || die "usage: pod add NAME --node NODE [--namespace NS] [--annotate K=V]... [--label K=V]... [--owner KIND/NAME] [--phase PHASE] [--no-process]"
	shift
	while (($#)); do
		case $1 in
		--node) node=$2; shift 2 ;;
		--namespace | -n) ns=$2; shift 2 ;;
		--annotate) annotations+=("$2"); shift 2 ;;
		--label) labels+=("$2"); shift 2 ;;
		--owner) owner=$2; shift 2 ;;
		--phase) phase=$2; shift 2 ;;
		--no-process) process=0; shift ;;
		--server) [[ $2 == hostile ]] || die "pod add: --server wants hostile"; server=hostile-pod; shift 2 ;;
		--mode) mode=$2; shift 2 ;;
		--port-name) port_name=$2; shift 2 ;;
		--container)
			if ! [[ $2 =~ ^[a-z0-9-]+=([0-9]+)(:[a-z0-9-]+)?$ ]] || ! valid_port "${BASH_REMATCH[1]}"; then
				die "pod add: --container wants NAME=PORT[:PORTNAME], not $2"
			fi
			extra+=("$2"); shift 2 ;;
		*) die "pod add: unknown argument $1" ;;
		esac
	done
	[[ -n $node ]] || die "pod add: --node is required"
	[[ $server == hostile-pod && -n $mode ]] || [[ $server == pprof-target && -z $mode ]] ||
		die "pod add: --server hostile and --mode MODE go together"
	require_up
	[[ ! -e $(pod_file "$ns" "$name") ]] || die "pod $ns/$name exists (pod del it first)"

	local kv ann_json='{}' lab_json='{}' owners='[]' port=6060 path=/debug/pprof
	for kv in "${annotations[@]}"; do
		ann_json=$(jq -c --arg k "${kv%%=*}" --arg v "${kv#*=}" '.[$k]=$v' <<<"$ann_json")
		case ${kv%%=*} in
		profefe.com/port) valid_port "${kv#*=}" && port=$((10#${kv#*=})) ;;
		profefe.com/path) valid_path "${kv#*=}" && path=${kv#*=} ;;
		esac
	done
	for kv in "${labels[@]}"; do
		lab_json=$(jq -c --arg k "${kv%%=*}" --arg v "${kv#*=}" '.[$k]=$v' <<<"$lab_json")
	done
	if [[ -n $owner ]]; then
		local kind=${owner%%/*} oname=${owner#*/}
		[[ $owner == */* && -n $kind && -n $oname ]] || die "pod add: --owner wants KIND/NAME"
		owners=$(jq -cn --arg a "$(owner_api_version "$kind")" --arg k "$kind" --arg n "$oname" --arg u "$(uuid)" \
			'[{apiVersion:$a,kind:$k,name:$n,uid:$u,controller:true,blockOwnerDeletion:true}]')
		# A ReplicaSet's pods carry its template hash, as the controller sets it.
		if [[ $kind == ReplicaSet && $oname == *-* ]]; then
			lab_json=$(jq -c --arg v "${oname##*-}" '.["pod-template-hash"] //= $v' <<<"$lab_json")
		fi
	fi

	# The containers: app, serving the annotated port, then one per --container.
	local containers c cport
	containers=$(jq -cn --argjson port "$port" --arg pn "$port_name" \
		'[{name:"app",image:"kprofefe/pprof-target:test",ports:[{containerPort:$port,protocol:"TCP"} + (if $pn != "" then {name:$pn} else {} end)]}]')
	for c in "${extra[@]}"; do
		cport=${c#*=}
		containers=$(jq -c --arg n "${c%%=*}" --argjson port "${cport%%:*}" --arg pn "$([[ $cport == *:* ]] && echo "${cport#*:}")" \
			'. + [{name:$n,image:"kprofefe/pprof-target:test",ports:[{containerPort:$port,protocol:"TCP"} + (if $pn != "" then {name:$pn} else {} end)]}]' <<<"$containers")
	done

	ensure_node "$node"
	ensure_namespace "$ns"
	local pod_json
	pod_json=$(jq -cn --arg n "$name" --arg ns "$ns" --arg node "$node" --argjson ann "$ann_json" \
		--argjson lab "$lab_json" --argjson own "$owners" --argjson containers "$containers" '{
		apiVersion:"v1",kind:"Pod",
		metadata:({name:$n,namespace:$ns,annotations:$ann,labels:$lab} + (if ($own|length)>0 then {ownerReferences:$own} else {} end)),
		spec:{nodeName:$node,automountServiceAccountToken:false,terminationGracePeriodSeconds:0,
			containers:$containers}}')
	api_raw POST "/api/v1/namespaces/$ns/pods" "$pod_json" >/dev/null || die "step 'create pod $ns/$name' failed"

	local podfile ip="" netns="" gw t
	podfile=$(pod_file "$ns" "$name")
	mkdir -p "$D/pods" "$LOGS/pods"
	gw=$(node_ip "$node")
	if [[ $phase == Running ]]; then
		ip=$(ip_alloc "$node")
		netns=$NETNS_PREFIX${ip#10.244.}
		netns=${netns//./-}
		# Record first, so `pod del`/`down` can clean up a half-made pod.
		printf 'NAME=%q\nNS=%q\nNODE=%q\nIP=%q\nNETNS=%q\nPORT=%q\nPPATH=%q\n' \
			"$name" "$ns" "$node" "$ip" "$netns" "$port" "$path" >"$podfile"
		pod_net_up "$netns" "kpf${N}v${ip#10.244.}" "$ip" "$gw" >>"$LOGS/pods/${ns}_$name.log" 2>&1 ||
			die "step 'network for pod $ns/$name' failed; read $LOGS/pods/${ns}_$name.log"
		if ((process)); then
			start_pod_process "$netns" "$ip" "$port" "$path" "$LOGS/pods/${ns}_$name.log" "$server" ${mode:+--mode "$mode"}
			for c in "${extra[@]}"; do
				cport=${c#*=}
				start_pod_process "$netns" "$ip" "${cport%%:*}" "$path" "$LOGS/pods/${ns}_$name.log" pprof-target
			done
		fi
	else
		printf 'NAME=%q\nNS=%q\nNODE=%q\nIP=\nNETNS=\n' "$name" "$ns" "$node" >"$podfile"
	fi
	t=$(now)
	api_patch_status "/api/v1/namespaces/$ns/pods/$name" "$(pod_status_json "$phase" "$ip" "$gw" "$t")" ||
		die "step 'status of pod $ns/$name' failed"
	echo "$ip"
}

# start_pod_process NETNS IP PORT PATH LOG SERVER [ARGS...]: the pprof target
# (or the hostile pod) inside the pod's namespace, detached, and waited for
# until it accepts connections.
start_pod_process() {
	local netns=$1 ip=$2 port=$3 path=$4 log=$5 server=$6 deadline
	shift 6
	# GOMAXPROCS=1: 110 targets share two cores; one P each keeps idle cost low.
	# KPROFEFE_TARGET_ARGS adds target flags (e.g. --cpu-ms 5), word-split.
	# shellcheck disable=SC2086
	GOMAXPROCS=${KPROFEFE_TARGET_GOMAXPROCS:-1} setsid nohup ip netns exec "$netns" \
		"$(bin "$server")" --addr ":$port" --path "$path" "$@" ${KPROFEFE_TARGET_ARGS:-} >>"$log" 2>&1 </dev/null &
	deadline=$((SECONDS + 10))
	# An https-only target (--tls-cert) answers the plain probe with 400: ask it
	# over https, unverified: this only waits for the process to listen.
	until curl -fsS --noproxy '*' -o /dev/null -m 1 "http://$ip:$port/healthz" 2>/dev/null ||
		curl -fsSk --noproxy '*' -o /dev/null -m 1 "https://$ip:$port/healthz" 2>/dev/null; do
		((SECONDS < deadline)) || step_fail "start $server in $netns" "$log"
		sleep 0.05
	done
}

pod_status_json() { # PHASE IP HOSTIP TIME
	jq -cn --arg phase "$1" --arg ip "$2" --arg host "$3" --arg t "$4" '
	($phase == "Running") as $run |
	{status:({phase:$phase,hostIP:$host,hostIPs:[{ip:$host}],startTime:$t,qosClass:"BestEffort",
		conditions:[
			{type:"PodScheduled",status:"True",lastTransitionTime:$t},
			{type:"Initialized",status:(if $run then "True" else "False" end),lastTransitionTime:$t},
			{type:"ContainersReady",status:(if $run then "True" else "False" end),lastTransitionTime:$t},
			{type:"Ready",status:(if $run then "True" else "False" end),lastTransitionTime:$t}],
		containerStatuses:[{name:"app",image:"kprofefe/pprof-target:test",imageID:"",ready:$run,restartCount:0,started:$run,
			state:(if $run then {running:{startedAt:$t}} else {waiting:{reason:"ContainerCreating"}} end)}]}
		+ (if $ip != "" then {podIP:$ip,podIPs:[{ip:$ip}]} else {} end))}'
}

# pod_ref VERB ARGS...: sets name and ns from "NAME [--namespace NS]" (the
# caller declares both local).
pod_ref() {
	local verb=$1
	shift
	name=${1:-}
	ns=default
	[[ -n $name ]] || die "usage: pod $verb NAME [--namespace NS]"
	shift
	while (($#)); do
		case $1 in
		--namespace | -n) ns=$2; shift 2 ;;
		*) die "pod $verb: unknown argument $1" ;;
		esac
	done
}

pod_del() {
	local name ns
	pod_ref del "$@"
	require_up
	local f
	f=$(pod_file "$ns" "$name")
	release_pod "$f"
	# No kubelet confirms termination, so delete at once (grace period 0).
	local err
	if ! err=$(api_raw DELETE "/api/v1/namespaces/$ns/pods/$name?gracePeriodSeconds=0" 2>&1 >/dev/null); then
		[[ $err == *"HTTP 404"* ]] || die "step 'delete pod $ns/$name' failed: $err"
	fi
}

# release_pod PODFILE: the pod's processes, namespace and address.
release_pod() {
	local f=$1 IP="" NETNS=""
	[[ -e $f ]] || return 0
	# shellcheck disable=SC1090
	source "$f"
	[[ -n $NETNS ]] && pod_net_down "$NETNS"
	if [[ -n $IP ]]; then rmdir "$D/ipam/$IP" 2>/dev/null || true; fi
	rm -f "$f"
}

pod_ip() {
	local name ns
	pod_ref ip "$@"
	local f IP=""
	f=$(pod_file "$ns" "$name")
	[[ -e $f ]] || die "no pod $ns/$name"
	# shellcheck disable=SC1090
	source "$f"
	echo "$IP"
}

# ------------------------------------------------------------ lifecycle --

is_up() { pid_alive "$D/kube-apiserver.pid"; }

require_up() { is_up || die "cluster in $D is not up (run scripts/cluster.sh up)"; }

# require_made: the cluster was brought up (a component may be stopped).
require_made() { [[ -e $D/instance ]] || die "no cluster in $D (run scripts/cluster.sh up)"; }

# clear_stale: what an earlier run left (a killed test run, a reboot, a
# restored machine) is torn down when none of its processes runs; a cluster
# partly running is refused, since someone may still be using it.
clear_stale() {
	local p
	for p in "$D"/*.pid; do
		[[ -e $p ]] || continue
		pid_alive "$p" &&
			die "cluster in $D is partly up ($(basename "$p" .pid) runs as pid $(cat "$p")); run scripts/cluster.sh down first"
	done
	echo "cluster: clearing what an earlier run left in $D (none of its processes runs)"
	down >/dev/null
}

up() {
	local real=0
	case ${1:-} in
	--real-node) real=1 ;;
	"") ;;
	*) die "usage: up [--real-node]" ;;
	esac
	if is_up; then
		echo "cluster: already up in $D"
		return 0
	fi
	if [[ -e $D/instance || -e $D/etcd.pid || -e $D/profefe.pid || -d $D/pods ]]; then
		clear_stale
	fi
	local start=$SECONDS p
	mkdir -p "$LOGS"
	rm -rf "$LOGS"/*.log "$LOGS/pods"
	# A subshell, so a failing build's exit lands in step_fail.
	(kpf_deps_main && if ((real)); then node_deps; fi) >"$LOGS/deps.log" 2>&1 ||
		step_fail "install/build dependencies" "$LOGS/deps.log"
	((real)) && node_ports_free
	for p in $APISERVER_PORT $ETCD_CLIENT_PORT $ETCD_PEER_PORT $PROFEFE_PORT; do
		port_free "$p" || die "port $p is in use; set KPROFEFE_CLUSTER_PORT_BASE or KPROFEFE_CLUSTER_DIR for another instance"
	done
	# Two directories can hash to one instance number; never share its network.
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		die "bridge $BRIDGE exists: instance $N is used by another cluster directory (or was not brought down); set KPROFEFE_CLUSTER_INDEX=0..15"
	fi
	# Marks this directory as the owner of instance N's network, so `down`
	# never tears down another directory's cluster that shares the number.
	echo "$N" >"$D/instance"
	rm -f "$D/profefe-bin"
	((real)) && touch "$D/real-node"
	gen_pki
	write_kubeconfig
	write_audit_policy
	net_up
	start_etcd
	start_apiserver
	start_profefe
	local n
	for n in "${DEFAULT_NODES[@]}"; do ensure_node "$n"; done
	ensure_namespace default
	if kpf_need_kubectl; then
		mkdir -p "$D/bin"
		ln -sf "$(bin kubectl)" "$D/bin/kubectl"
	fi
	((real)) && node_up
	echo "cluster: up in $((SECONDS - start))s ($D; eval \"\$(scripts/cluster.sh env)\")"
}

down() {
	local f ns pids=()
	if [[ ! -e $D/instance ]]; then
		echo "cluster: nothing up in $D"
		check_clean
		return
	fi
	# Stop all pod processes of this instance together, then tear down.
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETNS_PREFIX" || true); do
		mapfile -t -O "${#pids[@]}" pids < <(ip netns pids "$ns" 2>/dev/null || true)
	done
	stop_pids "${pids[@]}"
	node_down
	for f in "$D"/pods/*.env; do
		[[ -e $f ]] && release_pod "$f"
	done
	# Also any namespace of this instance that lost its pod file.
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NETNS_PREFIX" || true); do
		pod_net_down "$ns"
	done
	stop_pidfile "$D/profefe.pid"
	stop_pidfile "$D/kube-apiserver.pid"
	stop_pidfile "$D/etcd.pid"
	net_down
	# Keep the logs for a post-mortem; everything else goes.
	if [[ -d $D ]]; then
		find "$D" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf {} +
	fi
	check_clean
}

# check_clean: nothing of this instance is left: process, namespace, link,
# route, mount or listening port. Exits non-zero naming what is left.
check_clean() {
	local left=() p
	for p in "$D"/*.pid; do
		[[ -e $p ]] && pid_alive "$p" && left+=("process $(cat "$p") ($p)")
	done
	[[ -n $(ip netns list 2>/dev/null | grep "^$NETNS_PREFIX" || true) ]] && left+=("netns $NETNS_PREFIX*")
	ip link show "$BRIDGE" >/dev/null 2>&1 && left+=("link $BRIDGE")
	[[ -n $(ip -o link show | awk -F': ' '{print $2}' | grep "^kpf${N}v" || true) ]] && left+=("links kpf${N}v*")
	[[ -n $(ip route show | grep -E "dev kpf${N}(v| |$)" || true) ]] && left+=("routes via kpf${N}*")
	if [[ -z $(ip -o link show type bridge | awk -F': ' '{print $2}' | grep -E '^kpf[0-9]+$' || true) ]] &&
		[[ -n $(ip route show type unreachable "$POD_RANGE") ]]; then
		left+=("route unreachable $POD_RANGE")
	fi
	grep -q " /run/netns/$NETNS_PREFIX" /proc/mounts && left+=("mounts /run/netns/$NETNS_PREFIX*")
	for p in $APISERVER_PORT $ETCD_CLIENT_PORT $ETCD_PEER_PORT $PROFEFE_PORT; do
		port_free "$p" || left+=("listener on port $p")
	done
	node_check_clean
	if ((${#left[@]})); then
		printf 'cluster: left behind: %s\n' "${left[@]}" >&2
		return 1
	fi
	echo "cluster: clean ($D)"
}

status() {
	local c
	local comps=(etcd kube-apiserver profefe)
	is_real_node && comps+=("${NODE_COMPONENTS[@]}")
	for c in "${comps[@]}"; do
		if pid_alive "$D/$c.pid"; then echo "$c: running (pid $(cat "$D/$c.pid"))"; else echo "$c: stopped"; fi
	done
	if [[ -s $D/profefe-bin ]]; then echo "profefe binary: $(cat "$D/profefe-bin")"; fi
	echo "pods: $(find "$D/pods" -name '*.env' 2>/dev/null | wc -l)"
}

env_cmd() {
	local path_add=""
	[[ -x $D/bin/kubectl ]] && path_add=$D/bin
	command -v go >/dev/null 2>&1 || path_add=${path_add:+$path_add:}/usr/local/go/bin
	cat <<-EOF
		export KPROFEFE_CLUSTER_DIR=$D
		export KUBECONFIG=$D/kubeconfig
		export PROFEFE_URL=$PROFEFE_URL
		export KPROFEFE_AUDIT_LOG=$LOGS/audit.log
		export KPROFEFE_APISERVER=$APISERVER_URL
		export KPROFEFE_CA=$PKI/ca.crt
		export KPROFEFE_ADMIN_CERT=$PKI/admin.crt
		export KPROFEFE_ADMIN_KEY=$PKI/admin.key
		export KPROFEFE_POD_CIDR=10.244.$SUBNET_BASE.0/20
		export KPROFEFE_PPROF_TARGET=$(bin pprof-target)
		export KPROFEFE_HOSTILE_POD=$(bin hostile-pod)
		export KPROFEFE_AUTHPROXY=$(bin authproxy)
		export KPROFEFE_KREW=$(bin krew)
		export KPROFEFE_HELM=$(bin helm)
		export KPROFEFE_MONITORING_CRDS=$(kpf_monitoring_crds_path)
		export NO_PROXY=127.0.0.1,localhost,10.244.0.0/16\${NO_PROXY:+,\$NO_PROXY}
		export no_proxy=127.0.0.1,localhost,10.244.0.0/16\${no_proxy:+,\$no_proxy}
	EOF
	is_real_node && node_env
	[[ -n $path_add ]] && echo "export PATH=$path_add:\$PATH"
	return 0
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	up) up "$@" ;;
	down) down ;;
	status) status ;;
	env) env_cmd ;;
	check-clean) check_clean ;;
	pod)
		local sub=${1:-}
		shift || true
		case $sub in
		add) pod_add "$@" ;;
		del) pod_del "$@" ;;
		ip) pod_ip "$@" ;;
		*) die "usage: pod add|del|ip NAME ..." ;;
		esac
		;;
	profefe)
		case ${1:-} in
		stop) stop_pidfile "$D/profefe.pid" ;;
		start) require_made; pid_alive "$D/profefe.pid" || start_profefe ;;
		*) die "usage: profefe stop|start" ;;
		esac
		;;
	apiserver)
		[[ ${1:-} == restart ]] || die "usage: apiserver restart"
		require_made
		stop_pidfile "$D/kube-apiserver.pid"
		start_apiserver
		;;
	*) die "usage: $0 up|down|status|env|check-clean|pod add|del|ip|profefe stop|start|apiserver restart" ;;
	esac
}

main "$@"
