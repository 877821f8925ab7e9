//go:build tools

// Pins Helm, so the tests lint, render, install, upgrade and uninstall
// charts/kprofefe with the real helm against the local API server.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
