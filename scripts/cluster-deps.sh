#!/usr/bin/env bash
# Installs what the test cluster needs: Debian tools, and the binaries of etcd,
# kube-apiserver, profefe(-compat), the pprof target, the hostile pod server, the
# authenticating proxy in front of profefe, krew, helm (and kubectl if missing), built from the pinned Go
# modules under tests/ and cached by content hash.
# Sourced by scripts/cluster.sh for the cache paths; run directly to install.
set -euo pipefail

KPF_ROOT=${KPF_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
KPF_CACHE=${KPROFEFE_CACHE:-$HOME/.cache/kprofefe}
KPF_BIN_CACHE=$KPF_CACHE/bin

# Pinned versions; must match tests/cluster/go.mod.
KPF_K8S_VERSION=v1.33.13
KPF_ETCD_VERSION=v3.5.21
# Must match tests/helm/go.mod; its Kubernetes modules are v0.37 (the
# version helm assumes with no cluster: helm template, helm lint).
KPF_HELM_VERSION=v3.22.0
# Must match tests/coredns/go.mod (the real node's cluster DNS).
KPF_COREDNS_VERSION=v1.15.0
KPF_HELM_LDFLAGS="-X helm.sh/helm/v3/internal/version.version=$KPF_HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"

# Kubernetes' own build stamps its version in; without it the API server
# says v0.0.0 and kubectl (and gcloud's version dispatcher) see a skew.
KPF_K8S_LDFLAGS="-X k8s.io/component-base/version.gitVersion=$KPF_K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=33 -X k8s.io/component-base/version.gitTreeState=clean"

# Components: name|module dir (relative to repo)|package to build|version label|extra ldflags.
KPF_COMPONENTS=(
	"kube-apiserver|tests/cluster|k8s.io/kubernetes/cmd/kube-apiserver|$KPF_K8S_VERSION|$KPF_K8S_LDFLAGS"
	"etcd|tests/cluster|./etcd|$KPF_ETCD_VERSION|"
	"profefe|tests/profefe|.|compat-0.1|"
	"pprof-target|tests/targets/pprof-target|.|0.1|"
	"hostile-pod|tests/targets/hostile-pod|.|0.1|"
	"authproxy|tests/targets/authproxy|.|0.1|"
	"krew|tests/krew|sigs.k8s.io/krew/cmd/krew|v0.4.4|"
	"helm|tests/helm|helm.sh/helm/v3/cmd/helm|$KPF_HELM_VERSION|$KPF_HELM_LDFLAGS"
	"kubectl|tests/cluster|k8s.io/kubernetes/cmd/kubectl|$KPF_K8S_VERSION|$KPF_K8S_LDFLAGS"
	# The real node (scripts/cluster-node.sh), from a module of their own.
	"kubelet|tests/node|k8s.io/kubernetes/cmd/kubelet|$KPF_K8S_VERSION|$KPF_K8S_LDFLAGS"
	"kube-proxy|tests/node|k8s.io/kubernetes/cmd/kube-proxy|$KPF_K8S_VERSION|$KPF_K8S_LDFLAGS"
	"kube-controller-manager|tests/node|k8s.io/kubernetes/cmd/kube-controller-manager|$KPF_K8S_VERSION|$KPF_K8S_LDFLAGS"
	"kube-scheduler|tests/node|k8s.io/kubernetes/cmd/kube-scheduler|$KPF_K8S_VERSION|$KPF_K8S_LDFLAGS"
	# Its cluster DNS: CoreDNS's main with the plugins the node's Corefile uses.
	"coredns|tests/coredns|.|$KPF_COREDNS_VERSION|"
	# The sandbox ("pause") image's one program.
	"pause|tests/targets/pause|.|0.1|"
)

kpf_die() {
	echo "cluster-deps: $*" >&2
	exit 1
}

kpf_go() {
	if command -v go >/dev/null 2>&1; then
		command go "$@"
	elif [[ -x /usr/local/go/bin/go ]]; then
		/usr/local/go/bin/go "$@"
	else
		kpf_die "no Go toolchain found (need go on PATH or /usr/local/go/bin/go)"
	fi
}

kpf_component() { # NAME -> prints the component's spec line
	local c
	for c in "${KPF_COMPONENTS[@]}"; do
		[[ ${c%%|*} == "$1" ]] && { echo "$c"; return 0; }
	done
	kpf_die "unknown component $1"
}

# kpf_bin_path NAME: cache path of NAME's binary. The key is the version label
# plus a hash of the module's go.mod, go.sum and Go sources, so editing any of
# them builds anew while an unchanged tree reuses the binary.
kpf_bin_path() {
	local name dir pkg ver ldflags hash
	IFS='|' read -r name dir pkg ver ldflags <<<"$(kpf_component "$1")"
	hash=$(cd "$KPF_ROOT/$dir" && { find . -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) |
		LC_ALL=C sort | xargs cat; echo "$ldflags"; } | sha256sum | cut -c1-12)
	echo "$KPF_BIN_CACHE/$name-$ver-$hash"
}

# kpf_build NAME: builds NAME into the cache unless it is there; prints one line.
kpf_build() {
	local name dir pkg ver ldflags out start
	IFS='|' read -r name dir pkg ver ldflags <<<"$(kpf_component "$1")"
	out=$(kpf_bin_path "$name")
	if [[ -x $out ]]; then
		echo "$name $ver: cached ($out)"
		return 0
	fi
	mkdir -p "$KPF_BIN_CACHE"
	start=$SECONDS
	# Build to a temporary name, then rename: an interrupted build never
	# leaves a half-written binary that looks cached.
	if ! (cd "$KPF_ROOT/$dir" && GOFLAGS=-buildvcs=false kpf_go build -trimpath -ldflags="-s -w $ldflags" \
		-o "$out.tmp.$$" "$pkg") >"$KPF_CACHE/build-$name.log" 2>&1; then
		rm -f "$out.tmp.$$"
		kpf_die "building $name failed; read $KPF_CACHE/build-$name.log"
	fi
	mv "$out.tmp.$$" "$out"
	echo "$name $ver: built in $((SECONDS - start))s ($out)"
}

# The machine's kubectl is used when it runs; otherwise we build one.
kpf_need_kubectl() {
	! kubectl version --client >/dev/null 2>&1
}

kpf_apt_deps() {
	local pkgs=() p
	# command -> Debian package providing it
	for p in ip:iproute2 openssl:openssl curl:curl jq:jq ss:iproute2 setsid:util-linux; do
		command -v "${p%%:*}" >/dev/null 2>&1 || pkgs+=("${p#*:}")
	done
	if ((${#pkgs[@]})); then
		echo "apt: installing ${pkgs[*]}"
		apt-get update -qq >/dev/null || kpf_die "apt-get update failed"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null ||
			kpf_die "apt-get install ${pkgs[*]} failed"
	else
		echo "apt: iproute2 openssl curl jq util-linux present"
	fi
}

kpf_deps_main() {
	kpf_apt_deps
	local c
	for c in pprof-target hostile-pod authproxy krew helm profefe etcd kube-apiserver; do
		kpf_build "$c"
	done
	if kpf_need_kubectl; then
		kpf_build kubectl
	else
		echo "kubectl: using $(command -v kubectl)"
	fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	kpf_deps_main "$@"
fi
