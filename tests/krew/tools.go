//go:build tools

// Pins krew, the kubectl plugin manager, so the tests install kubectl-profefe with
// the real krew from the manifest in daemonset/krew.
package tools

import _ "sigs.k8s.io/krew/cmd/krew"
