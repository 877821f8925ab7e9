#!/usr/bin/env bash
# Shared by the helm_*_test.sh tests (source it after lib.sh): the real helm
# built from tests/helm (KPROFEFE_HELM), kept away from ~/.config and ~/.cache,
# and the chart rendered as objects.

CHART=$E2E_ROOT/charts/kprofefe
DS_DIR=$E2E_ROOT/daemonset
[[ -x ${KPROFEFE_HELM:-} ]] || fail "no helm binary (KPROFEFE_HELM); run scripts/install-deps.sh"
export HELM_CONFIG_HOME=$E2E_TMP/helm/config HELM_CACHE_HOME=$E2E_TMP/helm/cache HELM_DATA_HOME=$E2E_TMP/helm/data

helm() { "$KPROFEFE_HELM" "$@"; }

# render ARGS...: `helm template kprofefe CHART ARGS...` as sorted JSON objects.
render() {
	local out
	out=$(helm template kprofefe "$CHART" "$@" 2>"$E2E_TMP/render.err") || fail "helm template $*: $(cat "$E2E_TMP/render.err")"
	as_objects <<<"$out"
}

# obj KIND [NAME]: the object of that kind (and name) in the JSON array on stdin.
obj() {
	jq -e --arg k "$1" --arg n "${2:-}" 'first(.[] | select(.kind == $k and ($n == "" or .metadata.name == $n)))'
}
