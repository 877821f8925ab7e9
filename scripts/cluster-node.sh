#!/usr/bin/env bash
# The real node of the local cluster (scripts/cluster.sh up --real-node):
# containerd and runc, a kubelet, the CNI bridge with host-local IPAM in this
# instance's pod range, kube-proxy (iptables), kube-controller-manager,
# kube-scheduler and CoreDNS (scripts/cluster-dns.sh), all from Debian
# packages or the pinned Go modules. Sourced by
# scripts/cluster.sh, whose variables (D, N, PKI, LOGS, HOST_IP, ...) and
# helpers (spawn, wait_until, issue, ...) it uses.
#
# Isolation from other instances on the machine: own directories under $D/node,
# own containerd socket, bridge kpfNr, cgroup root /kpfN, ports PORT_BASE+4..9.
# Nothing leaves the machine: the pod range is under the covering unreachable
# route, the machine's IP forwarding stays off (the bridge alone forwards, and
# only back onto itself: node_net_up), and pods reach only this machine's
# addresses and each other.

# shellcheck source=scripts/cluster-images.sh
source "$KPF_ROOT/scripts/cluster-images.sh"

REAL_NODE=real-node
NODE_DIR=$D/node
NODE_BRIDGE=kpf${N}r
NODE_CGROUP=kpf$N
NODE_RT=$((1000 + N)) # routing table and rule priority for what arrives on the bridge
CTRD_SOCK=$NODE_DIR/containerd/containerd.sock
KUBELET_PORT=$((PORT_BASE + 4))
KUBELET_HEALTHZ_PORT=$((PORT_BASE + 5))
PROXY_METRICS_PORT=$((PORT_BASE + 6))
PROXY_HEALTHZ_PORT=$((PORT_BASE + 7))
KCM_PORT=$((PORT_BASE + 8))
SCHED_PORT=$((PORT_BASE + 9))
NODE_PORTS=($KUBELET_PORT $KUBELET_HEALTHZ_PORT $PROXY_METRICS_PORT $PROXY_HEALTHZ_PORT $KCM_PORT $SCHED_PORT)
SERVICE_RANGE=10.96.0.0/24 # the API server's --service-cluster-ip-range
NODE_COMPONENTS=(kube-scheduler kube-controller-manager kube-proxy kubelet coredns containerd)
# shellcheck source=scripts/cluster-dns.sh
source "$KPF_ROOT/scripts/cluster-dns.sh"

is_real_node() { [[ -e $D/real-node ]]; }

# The node's /24 and its address (the bridge's, the kubelet's node IP).
node_subnet_base() { echo "10.244.$((SUBNET_BASE + 1 + $(node_index "$REAL_NODE")))"; }

node_die() { die "real node: $*"; }

# ------------------------------------------------------------- packages --

node_apt_deps() {
	local pkgs=() p
	for p in containerd:containerd runc:runc buildah:buildah debootstrap:debootstrap \
		iptables:iptables /usr/lib/cni/bridge:containernetworking-plugins; do
		if [[ ${p%%:*} == /* ]]; then [[ -x ${p%%:*} ]] || pkgs+=("${p#*:}")
		else command -v "${p%%:*}" >/dev/null 2>&1 || pkgs+=("${p#*:}"); fi
	done
	((${#pkgs[@]})) || { echo "apt: containerd runc buildah debootstrap iptables CNI plugins present"; return 0; }
	echo "apt: installing ${pkgs[*]}"
	apt-get update -qq >/dev/null || node_die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
		"${pkgs[@]}" >/dev/null || node_die "apt-get install ${pkgs[*]} failed"
}

# node_deps: packages, binaries and images (all cached).
node_deps() {
	local c
	node_apt_deps
	for c in kubelet kube-proxy kube-controller-manager kube-scheduler coredns pause; do kpf_build "$c"; done
	kpf_images_main
}

# ------------------------------------------------------------------ pki --

# node_pki: client certificates of the node's components (their RBAC users
# are the ones the API server's default roles name).
node_pki() {
	local log=$LOGS/node-pki.log
	{
		issue kubelet "/O=system:nodes/CN=system:node:$REAL_NODE" "extendedKeyUsage=clientAuth"
		issue kube-proxy /CN=system:kube-proxy "extendedKeyUsage=clientAuth"
		issue kube-controller-manager /CN=system:kube-controller-manager "extendedKeyUsage=clientAuth"
		issue kube-scheduler /CN=system:kube-scheduler "extendedKeyUsage=clientAuth"
	} >"$log" 2>&1 || step_fail "real node certificates" "$log"
}

node_kubeconfig() { # USER: $NODE_DIR/USER.kubeconfig with USER's certificate
	sed -e "s#$PKI/admin\.#$PKI/$1.#g" -e "s#kprofefe-admin#$1#g" "$D/kubeconfig" >"$NODE_DIR/$1.kubeconfig"
}

# ------------------------------------------------------------- network --

# node_net_up: the node's bridge with its address. The CNI bridge plugin
# attaches the pods to it; it is not their gateway in the plugin's sense
# (isGateway would switch on IP forwarding for the whole machine): their
# default route points at the bridge's address, which only this host answers.
node_net_up() {
	local base
	base=$(node_subnet_base)
	bridge_up "$NODE_BRIDGE" "$base.1/24"
	# A pod's connection to a Service backed by another pod arrives here, is
	# DNATed by kube-proxy and must go back onto the bridge: forwarding is
	# on for what arrives on this bridge (the machine's ip_forward stays as
	# it is), and that traffic has a table of its own holding only the node's
	# /24, so nothing forwarded goes anywhere else (local addresses come
	# first, in the local table).
	ip route replace "$base.0/24" dev "$NODE_BRIDGE" src "$base.1" table "$NODE_RT"
	ip route replace unreachable default table "$NODE_RT"
	ip rule del priority "$NODE_RT" 2>/dev/null || true
	ip rule add iif "$NODE_BRIDGE" lookup "$NODE_RT" priority "$NODE_RT" || node_die "ip rule for $NODE_BRIDGE"
	sysctl -qw "net.ipv4.conf.$NODE_BRIDGE.forwarding=1" || node_die "forwarding on $NODE_BRIDGE"
	# The service range never leaves either (kube-proxy DNATs what it serves).
	route_unreachable "$SERVICE_RANGE"
	mkdir -p "$NODE_DIR/cni/net.d" "$NODE_DIR/cni/ipam"
	jq -n --arg br "$NODE_BRIDGE" --arg sub "$base.0/24" --arg gw "$base.1" --arg dir "$NODE_DIR/cni/ipam" '{
		cniVersion: "0.4.0", name: $br,
		plugins: [{type: "bridge", bridge: $br, isGateway: false, ipMasq: false, hairpinMode: true,
			ipam: {type: "host-local", dataDir: $dir, ranges: [[{subnet: $sub, gateway: $gw}]],
				routes: [{dst: "0.0.0.0/0", gw: $gw}]}}]}' >"$NODE_DIR/cni/net.d/10-$NODE_BRIDGE.conflist"
}

node_net_down() {
	ip rule del priority "$NODE_RT" 2>/dev/null || true
	ip route flush table "$NODE_RT" 2>/dev/null || true
	ip link del "$NODE_BRIDGE" 2>/dev/null || true
	# The service route goes with the last real node on the machine.
	if [[ -z $(ip -o link show type bridge | awk -F': ' '{print $2}' | grep -E '^kpf[0-9]+r$' || true) ]]; then
		ip route del unreachable "$SERVICE_RANGE" 2>/dev/null || true
	fi
}

# ------------------------------------------------------------- cgroups --

# The kubelet's cgroup root, /kpfN in every v1 hierarchy, so that its
# kubepods tree is this instance's alone.
node_cgroups_up() {
	local h
	for h in /sys/fs/cgroup/*/; do
		[[ -d $h && ${h%/} != /sys/fs/cgroup/unified ]] || continue
		mkdir -p "$h$NODE_CGROUP" || node_die "mkdir $h$NODE_CGROUP failed"
		if [[ -e $h/cpuset.cpus ]]; then
			cat "$h/cpuset.cpus" >"$h$NODE_CGROUP/cpuset.cpus"
			cat "$h/cpuset.mems" >"$h$NODE_CGROUP/cpuset.mems"
		fi
	done
}

# node_cgroups_down: removes the tree bottom-up; its processes are gone by now.
node_cgroups_down() {
	local h
	for h in /sys/fs/cgroup/*/"$NODE_CGROUP"; do
		[[ -d $h ]] || continue
		find "$h" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done
}

# -------------------------------------------------------- containerd --

write_containerd_config() {
	local c=$NODE_DIR/containerd
	mkdir -p "$c/root" "$c/state" "$c/opt"
	cat >"$c/config.toml" <<-EOF
		version = 2
		root = "$c/root"
		state = "$c/state"
		disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
		  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
		  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
		[grpc]
		  address = "$CTRD_SOCK"
		[ttrpc]
		  address = "$CTRD_SOCK.ttrpc"
		[debug]
		  address = ""
		[metrics]
		  address = ""
		[plugins."io.containerd.internal.v1.opt"]
		  path = "$c/opt"
		[plugins."io.containerd.grpc.v1.cri"]
		  sandbox_image = "$(kpf_img_tag pause)"
		  # The kubelet asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE.
		  restrict_oom_score_adj = true
		  stream_server_address = "127.0.0.1"
		  stream_server_port = "0"
		  disable_apparmor = true
		  [plugins."io.containerd.grpc.v1.cri".containerd]
		    snapshotter = "overlayfs"
		    default_runtime_name = "runc"
		    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
		      runtime_type = "io.containerd.runc.v2"
		      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
		        SystemdCgroup = false
		        Root = "$c/state/runc"
		  [plugins."io.containerd.grpc.v1.cri".cni]
		    bin_dir = "/usr/lib/cni"
		    conf_dir = "$NODE_DIR/cni/net.d"
	EOF
}

ctr_k8s() { ctr -a "$CTRD_SOCK" -n k8s.io "$@"; }

start_containerd() {
	write_containerd_config
	spawn containerd "$LOGS/containerd.log" containerd --config "$NODE_DIR/containerd/config.toml"
	wait_until 30 "start containerd" "$LOGS/containerd.log" "$D/containerd.pid" ctr_k8s version
	local i f log=$LOGS/image-import.log
	for i in pause target collector profefe; do
		f=$(kpf_img_file "$i")
		ctr_k8s images import --no-unpack=false "$f" >>"$log" 2>&1 || step_fail "import $f into containerd" "$log"
	done
}

# ----------------------------------------------------------- kubelet --

start_kubelet() {
	local k=$NODE_DIR/kubelet base
	base=$(node_subnet_base)
	mkdir -p "$k"
	node_kubeconfig kubelet
	cat >"$NODE_DIR/kubelet.yaml" <<-EOF
		apiVersion: kubelet.config.k8s.io/v1beta1
		kind: KubeletConfiguration
		# The test machines mount cgroup v1 and run no systemd.
		failCgroupV1: false
		cgroupDriver: cgroupfs
		cgroupRoot: /$NODE_CGROUP
		containerRuntimeEndpoint: unix://$CTRD_SOCK
		address: $base.1
		port: $KUBELET_PORT
		healthzBindAddress: 127.0.0.1
		healthzPort: $KUBELET_HEALTHZ_PORT
		readOnlyPort: 0
		authentication:
		  anonymous: {enabled: false}
		  webhook: {enabled: true}
		  x509: {clientCAFile: $PKI/ca.crt}
		authorization:
		  mode: Webhook
		podCIDR: $base.0/24
		# Pods ask the node's CoreDNS (scripts/cluster-dns.sh), and never the
		# host's resolvers: no resolv.conf of the host is passed on.
		clusterDNS: [$base.1]
		clusterDomain: $DNS_DOMAIN
		resolvConf: ""
		failSwapOn: false
		makeIPTablesUtilChains: false
		shutdownGracePeriod: 0s
		# The images cannot be pulled again: never collect them.
		imageGCHighThresholdPercent: 100
		imageGCLowThresholdPercent: 99
		evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
		serializeImagePulls: false
		maxPods: 40
		podLogsDir: $NODE_DIR/pod-logs
		syncFrequency: 10s
		nodeStatusReportFrequency: 10s
		fileCheckFrequency: 10s
	EOF
	spawn kubelet "$LOGS/kubelet.log" "$(bin kubelet)" --config "$NODE_DIR/kubelet.yaml" \
		--kubeconfig "$NODE_DIR/kubelet.kubeconfig" --root-dir "$k" --cert-dir "$k/pki" \
		--hostname-override "$REAL_NODE" --node-ip "$base.1" --v 1
}

# --------------------------------------------------------- kube-proxy --

kube_proxy_config() {
	node_kubeconfig kube-proxy
	cat >"$NODE_DIR/kube-proxy.yaml" <<-EOF
		apiVersion: kubeproxy.config.k8s.io/v1alpha1
		kind: KubeProxyConfiguration
		mode: iptables
		clientConnection: {kubeconfig: $NODE_DIR/kube-proxy.kubeconfig}
		hostnameOverride: $REAL_NODE
		clusterCIDR: $(node_subnet_base).0/24
		healthzBindAddress: 127.0.0.1:$PROXY_HEALTHZ_PORT
		metricsBindAddress: 127.0.0.1:$PROXY_METRICS_PORT
		nodePortAddresses: ["$(node_subnet_base).1/32"]
		# Leave the machine's conntrack and route_localnet settings alone.
		conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
		# masqueradeAll: a Service's backend pod answers this host, which undoes
		# the DNAT, whether or not the machine's br_netfilter would have let
		# iptables see the pods' replies on the bridge.
		iptables: {localhostNodePorts: false, masqueradeAll: true, minSyncPeriod: 0s, syncPeriod: 30s}
	EOF
}

start_kube_proxy() {
	kube_proxy_config
	spawn kube-proxy "$LOGS/kube-proxy.log" "$(bin kube-proxy)" --config "$NODE_DIR/kube-proxy.yaml" --v 1
}

# The `kubernetes` Service's endpoint: the API server's port on this
# instance's host address (the API server's own reconciler is off).
kubernetes_endpoints() {
	api_create /apis/discovery.k8s.io/v1/namespaces/default/endpointslices "$(jq -cn --arg ip "$HOST_IP" --argjson port "$APISERVER_PORT" '{
		apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice",
		metadata: {name: "kubernetes", labels: {"kubernetes.io/service-name": "kubernetes",
			"endpointslice.kubernetes.io/managed-by": "kprofefe-cluster.sh"}},
		addressType: "IPv4", endpoints: [{addresses: [$ip], conditions: {ready: true}}],
		ports: [{name: "https", port: $port, protocol: "TCP"}]}')" || node_die "EndpointSlice default/kubernetes"
}

# ------------------------------------------------------- controllers --

# The controllers the tests' workloads need. Not the node lifecycle one (it
# would evict the simulated nodes' pods, see node_up).
NODE_CONTROLLERS=(daemonset deployment replicaset garbage-collector namespace serviceaccount
	serviceaccount-token root-ca-certificate-publisher
	# Services' endpoints, which kube-proxy, CoreDNS and the API server's service proxy read.
	endpoints endpointslice
	# PersistentVolumeClaims bound, and their protection finalizers lifted on delete.
	persistentvolume-binder persistentvolume-protection persistentvolumeclaim-protection)

start_controller_manager() {
	node_kubeconfig kube-controller-manager
	local kc=$NODE_DIR/kube-controller-manager.kubeconfig
	spawn kube-controller-manager "$LOGS/kube-controller-manager.log" "$(bin kube-controller-manager)" \
		--kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false \
		--controllers "$(IFS=,; echo "${NODE_CONTROLLERS[*]/%/-controller}")" \
		--use-service-account-credentials --service-account-private-key-file "$PKI/sa.key" \
		--root-ca-file "$PKI/ca.crt" --v 1
}

start_scheduler() {
	node_kubeconfig kube-scheduler
	local kc=$NODE_DIR/kube-scheduler.kubeconfig
	spawn kube-scheduler "$LOGS/kube-scheduler.log" "$(bin kube-scheduler)" \
		--kubeconfig "$kc" --authentication-kubeconfig "$kc" --authorization-kubeconfig "$kc" \
		--bind-address 127.0.0.1 --secure-port "$SCHED_PORT" --leader-elect=false --v 1
}

node_ready() {
	api_raw GET "/api/v1/nodes/$REAL_NODE" | jq -e '.status.conditions[] | select(.type == "Ready") | .status == "True"'
}

# ------------------------------------------------------------ up/down --

node_ports_free() {
	local p
	for p in "${NODE_PORTS[@]}"; do
		port_free "$p" || die "port $p (real node) is in use"
	done
	ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && die "bridge $NODE_BRIDGE exists: instance $N's real node was not brought down"
	return 0
}

node_up() {
	local start=$SECONDS
	touch "$D/real-node"
	mkdir -p "$NODE_DIR"
	node_pki
	# The node's components may act as their users (default roles), the
	# kubelet on the Node objects and pods of its node.
	api_create /apis/rbac.authorization.k8s.io/v1/clusterrolebindings "$(jq -cn --arg u "system:node:$REAL_NODE" '{
		apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding",
		metadata: {name: "kprofefe:real-node"}, roleRef: {apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:node"},
		subjects: [{apiGroup: "rbac.authorization.k8s.io", kind: "User", name: $u}]}')" || node_die "RBAC for the kubelet"
	kubernetes_endpoints
	node_net_up
	dns_up
	node_cgroups_up
	start_containerd
	start_controller_manager
	start_scheduler
	start_kubelet
	wait_until 120 "real node Ready" "$LOGS/kubelet.log" "$D/kubelet.pid" node_ready
	# The API server's admission taints every new node not-ready; the node
	# lifecycle controller lifts it once the node is Ready. That controller
	# does not run (it would evict the simulated nodes' pods): do its part
	# for this node. The simulated nodes keep the taint, so the scheduler
	# puts nothing there.
	api_raw PATCH "/api/v1/nodes/$REAL_NODE" '{"spec":{"taints":null}}' application/merge-patch+json >/dev/null ||
		node_die "lifting the not-ready taint of $REAL_NODE"
	# After the Node exists: kube-proxy reads its addresses from it.
	start_kube_proxy
	wait_until 60 "kube-proxy synced" "$LOGS/kube-proxy.log" "$D/kube-proxy.pid" \
		curl -fsS --noproxy '*' "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
	echo "cluster: real node $REAL_NODE up in $((SECONDS - start))s"
}

# node_pods_down: every pod sandbox and container of the node's containerd,
# then containerd's mounts and the pods' network namespaces.
node_pods_down() {
	local ids=() id
	mapfile -t ids < <(ctr_k8s tasks ls -q 2>/dev/null || true)
	for id in "${ids[@]}"; do ctr_k8s tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
	for id in "${ids[@]}"; do ctr_k8s tasks delete -f "$id" >/dev/null 2>&1 || true; done
	mapfile -t ids < <(ctr_k8s containers ls -q 2>/dev/null || true)
	for id in "${ids[@]}"; do ctr_k8s containers delete "$id" >/dev/null 2>&1 || true; done
}

# node_netns: the pods' network namespaces (containerd's cni-*) that hold an
# address of this instance's 10.244.X.0/20, one a line.
node_netns() {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^cni-/ { print $1 }'); do
		ip -n "$ns" -4 -o addr show 2>/dev/null | awk -v lo="$SUBNET_BASE" '{ split($4, a, "[./]");
			if (a[1] == 10 && a[2] == 244 && a[3] >= lo && a[3] < lo + 16) f = 1 } END { exit !f }' && echo "$ns"
	done
	return 0
}

# node_unmount: whatever is still mounted below the node's directory (pod
# volumes, snapshots, sandbox files), deepest first; then the pods' netns
# (their veth pairs go with them).
node_unmount() {
	local m
	awk -v d="$NODE_DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	for m in $(node_netns); do ip netns delete "$m" 2>/dev/null || true; done
	return 0
}

# node_iptables_down: the rules and chains kube-proxy (and the kubelet) made,
# which all live in KUBE-* chains and the jumps to them.
node_iptables_down() (
	# Best effort, every rule and chain: none left is what check-clean checks.
	set +e +o pipefail
	local t ipt
	# kube-proxy's own cleanup also tries nftables (no nft here) and then
	# exits non-zero; the loops below remove whatever it left.
	if [[ -x $(bin kube-proxy) && -e $NODE_DIR/kube-proxy.yaml ]]; then
		"$(bin kube-proxy)" --cleanup --config "$NODE_DIR/kube-proxy.yaml" >>"$LOGS/kube-proxy.log" 2>&1 || true
	fi
	for ipt in iptables ip6tables; do
		command -v "$ipt" >/dev/null || continue
		for t in filter nat mangle; do
			"$ipt" -t "$t" -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j KUBE-' | sed 's/^-A/-D/' |
				while read -r r; do eval "$ipt -t $t $r" 2>/dev/null || true; done
			"$ipt" -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }' |
				while read -r c; do "$ipt" -t "$t" -F "$c" 2>/dev/null || true; done
			"$ipt" -t "$t" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }' |
				while read -r c; do "$ipt" -t "$t" -X "$c" 2>/dev/null || true; done
		done
	done
	return 0
)

node_down() {
	is_real_node || return 0
	local c
	for c in kube-scheduler kube-controller-manager kubelet; do stop_pidfile "$D/$c.pid"; done
	node_pods_down
	dns_down
	stop_pidfile "$D/kube-proxy.pid"
	node_iptables_down
	stop_pidfile "$D/containerd.pid"
	# Shims outlive containerd; they are children of init, found by our socket.
	local pids
	pids=$(pgrep -f "containerd-shim-runc-v2 .*-address $CTRD_SOCK( |$)" || true)
	# shellcheck disable=SC2086
	[[ -n $pids ]] && stop_pids $pids
	node_unmount
	node_cgroups_down
	node_net_down
	# libcni's result cache (containerd 1.6 has no setting for its place).
	rm -f /var/lib/cni/results/"$NODE_BRIDGE"-*
}

# node_env: what the tests of the real node need (see cluster.sh env).
node_env() {
	cat <<-EOF
		export KPROFEFE_REAL_NODE=$REAL_NODE
		export KPROFEFE_HOST_IP=$HOST_IP
		export KPROFEFE_POD_PROFEFE_URL=http://$HOST_IP:$PROFEFE_PORT
		export KPROFEFE_COLLECTOR_IMAGE=$(kpf_img_tag collector)
		export KPROFEFE_TARGET_IMAGE=$(kpf_img_tag target)
		export KPROFEFE_PROFEFE_IMAGE=$(kpf_img_tag profefe)
		export KPROFEFE_NODE_DIR=$NODE_DIR
		export KPROFEFE_CONTAINERD_SOCK=$CTRD_SOCK
	EOF
}

# node_check_clean: appends to the caller's `left` array what is left.
node_check_clean() {
	local c
	for c in "${NODE_COMPONENTS[@]}"; do
		[[ -e $D/$c.pid ]] && pid_alive "$D/$c.pid" && left+=("process $c $(cat "$D/$c.pid")")
	done
	pgrep -f "containerd-shim-runc-v2 .*-address $CTRD_SOCK( |$)" >/dev/null && left+=("containerd shims of $CTRD_SOCK")
	dns_check_clean
	ip link show "$NODE_BRIDGE" >/dev/null 2>&1 && left+=("link $NODE_BRIDGE")
	[[ -n $(ip rule show priority "$NODE_RT") ]] && left+=("ip rule $NODE_RT")
	[[ -n $(ip route show table "$NODE_RT" 2>/dev/null) ]] && left+=("routes of table $NODE_RT")
	[[ -n $(node_netns) ]] && left+=("pod netns $(node_netns | paste -sd' ')")
	[[ -n $(awk -v d="$NODE_DIR" 'index($2, d) == 1' /proc/mounts) ]] && left+=("mounts under $NODE_DIR")
	[[ -n $(ls -d /sys/fs/cgroup/*/"$NODE_CGROUP" 2>/dev/null) ]] && left+=("cgroups /sys/fs/cgroup/*/$NODE_CGROUP")
	if [[ -z $(ip -o link show type bridge | awk -F': ' '{print $2}' | grep -E '^kpf[0-9]+r$' || true) ]]; then
		[[ -n $(ip route show type unreachable "$SERVICE_RANGE") ]] && left+=("route unreachable $SERVICE_RANGE")
		local t
		for t in filter nat mangle; do
			grep -q -- '-j KUBE-\|^-N KUBE-' <(iptables -t "$t" -S 2>/dev/null) && left+=("iptables $t KUBE-* rules")
		done
	fi
	for c in "${NODE_PORTS[@]}"; do
		port_free "$c" || left+=("listener on port $c")
	done
	return 0
}
