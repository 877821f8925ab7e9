#!/bin/sh
# An exec credential plugin for tests/e2e/plugin_auth_test.sh: prints an
# ExecCredential of apiVersion $2 carrying the token read from the file named by
# PLUGIN_TOKEN_FILE (set by the kubeconfig's exec env), valid for ten minutes.
# Usage: exec-token.sh --api-version API_VERSION
# Appends a line to $PLUGIN_EXEC_COUNT per run (so tests see the caching), and
# fails unless KUBERNETES_EXEC_INFO names the same apiVersion.
set -eu
[ "${1:-}" = --api-version ] || { echo "usage: $0 --api-version V" >&2; exit 2; }
api=$2
case "${KUBERNETES_EXEC_INFO:-}" in
  *"\"apiVersion\":\"$api\""*) ;;
  *) echo "KUBERNETES_EXEC_INFO lacks apiVersion $api: ${KUBERNETES_EXEC_INFO:-}" >&2; exit 3 ;;
esac
tok=$(cat "$PLUGIN_TOKEN_FILE")
[ -n "${PLUGIN_EXEC_COUNT:-}" ] && echo run >>"$PLUGIN_EXEC_COUNT"
exp=$(date -u -d '+10 minutes' +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"%s"}}\n' \
	"$api" "$tok" "$exp"
