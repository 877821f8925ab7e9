//go:build tools

// Pins controller-gen and the prometheus-operator API types it turns into the
// monitoring.coreos.com CRDs the tests install (scripts/cluster-deps.sh).
package tools

import (
	_ "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
