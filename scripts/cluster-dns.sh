#!/usr/bin/env bash
# The real node's cluster DNS: CoreDNS (tests/coredns, built from the pinned
# module) serving cluster.local from the API server with its kubernetes
# plugin, and nothing else. It runs as a host process, like containerd: the
# kubelet kills whatever it finds in its kubepods cgroups that it did not
# start. Sourced by scripts/cluster-node.sh, whose variables and helpers it uses.
#
# No forward (or any other upstream) plugin, and none is built in: nothing may
# leave the machine, so a pod's query for a name outside the cluster's zones
# is answered REFUSED here instead of being passed to the host's resolvers.
# The kubelet gives pods this server (clusterDNS) and, with resolvConf "",
# never the host's.
#
# The address is the node's bridge address, which its pods reach directly.
# There is no kube-system/kube-dns Service in front of it: its cluster IP
# would be the same 10.96.0.10 in every instance on the machine, and the
# instances' kube-proxies share the host's iptables, so one instance's pods
# could be sent to another's DNS. Nothing here looks that Service up.

DNS_DOMAIN=cluster.local
DNS_CONF=$NODE_DIR/Corefile

dns_address() { echo "$(node_subnet_base).1"; }

# dns_identity: the certificate, kubeconfig and RBAC of user system:coredns,
# allowed what the kubernetes plugin reads (with "pods disabled", its
# default, it watches no pods).
dns_identity() {
	issue coredns /CN=system:coredns "extendedKeyUsage=clientAuth" >>"$LOGS/node-pki.log" 2>&1 ||
		step_fail "CoreDNS certificate" "$LOGS/node-pki.log"
	node_kubeconfig coredns
	api_create /apis/rbac.authorization.k8s.io/v1/clusterroles '{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "kprofefe:coredns"},
		"rules": [{"apiGroups": [""], "resources": ["services", "namespaces"], "verbs": ["list", "watch"]},
			{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]}' ||
		node_die "ClusterRole kprofefe:coredns"
	api_create /apis/rbac.authorization.k8s.io/v1/clusterrolebindings '{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "kprofefe:coredns"},
		"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kprofefe:coredns"},
		"subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:coredns"}]}' ||
		node_die "ClusterRoleBinding kprofefe:coredns"
}

write_corefile() {
	local addr=$1
	cat >"$DNS_CONF" <<-EOF
		# The cluster's names and the service range's reverse zone, from the
		# API server; no other zone is served (see scripts/cluster-dns.sh).
		$DNS_DOMAIN:53 $SERVICE_RANGE:53 {
		    bind $addr
		    errors
		    ready $addr:8181
		    kubernetes $DNS_DOMAIN $SERVICE_RANGE {
		        kubeconfig $NODE_DIR/coredns.kubeconfig
		    }
		}
	EOF
}

# dns_up: after the bridge has its address (CoreDNS binds it), before the
# kubelet starts pods that use it.
dns_up() {
	local addr
	addr=$(dns_address)
	dns_identity
	write_corefile "$addr"
	spawn coredns "$LOGS/coredns.log" "$(bin coredns)" -conf "$DNS_CONF"
	# Ready once the kubernetes plugin has listed what it serves.
	wait_until 60 "start CoreDNS" "$LOGS/coredns.log" "$D/coredns.pid" \
		curl -fsS --noproxy '*' "http://$addr:8181/ready"
}

dns_down() { stop_pidfile "$D/coredns.pid"; }

# dns_check_clean: a CoreDNS of this instance's Corefile, pid file or not.
dns_check_clean() {
	local pids
	pids=$(pgrep -f -- "-conf $DNS_CONF\$" || true)
	[[ -z $pids ]] || left+=("CoreDNS $(paste -sd' ' <<<"$pids") (-conf $DNS_CONF)")
}
