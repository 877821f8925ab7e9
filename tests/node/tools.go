//go:build tools

// Pins the Kubernetes node and controller commands scripts/cluster-node.sh
// builds from this module (a module of their own, so that adding them does
// not change the hash, and thus the cached binaries, of tests/cluster).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
