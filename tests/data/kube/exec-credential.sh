#!/bin/sh
# A fake exec credential plugin for test_kube_config: prints an ExecCredential.
# Usage: exec-credential.sh API_VERSION TOKEN [EXPIRATION|-] [cert]
# Appends one line to $KUBE_TEST_COUNT per run; fails unless KUBERNETES_EXEC_INFO
# says interactive false. The token gets "-$KUBE_TEST_SUFFIX" when that is set.
set -eu
[ -n "${KUBE_TEST_COUNT:-}" ] && echo run >>"$KUBE_TEST_COUNT"
case "${KUBERNETES_EXEC_INFO:-}" in
  *'"interactive":false'*) ;;
  *) echo "bad KUBERNETES_EXEC_INFO: ${KUBERNETES_EXEC_INFO:-}" >&2; exit 3 ;;
esac
case "$KUBERNETES_EXEC_INFO" in
  *"\"apiVersion\":\"$1\""*) ;;
  *) echo "KUBERNETES_EXEC_INFO has the wrong apiVersion" >&2; exit 4 ;;
esac
tok="$2${KUBE_TEST_SUFFIX:+-$KUBE_TEST_SUFFIX}"
exp=""
if [ "${3:--}" != "-" ]; then exp=",\"expirationTimestamp\":\"$3\""; fi
cert=""
if [ "${4:-}" = "cert" ]; then
  cert=",\"clientCertificateData\":\"-----BEGIN CERTIFICATE-----\\nX\\n-----END CERTIFICATE-----\\n\",\"clientKeyData\":\"-----BEGIN PRIVATE KEY-----\\nY\\n-----END PRIVATE KEY-----\\n\""
fi
printf '{"apiVersion":"%s","kind":"ExecCredential","status":{"token":"%s"%s%s}}\n' "$1" "$tok" "$exp" "$cert"
