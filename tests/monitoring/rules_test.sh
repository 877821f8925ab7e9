#!/usr/bin/env bash
# The alerts of daemonset/monitoring/prometheusrule.yaml (the chart's
# PrometheusRule with default values) under Debian's promtool: `check rules`
# accepts them, and `test rules` runs rules_test.yaml, which must hold, for
# every alert of the file, a case where it fires and one where it stays quiet.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rule=$here/../../daemonset/monitoring/prometheusrule.yaml
command -v promtool >/dev/null || { echo "FAIL: no promtool; run scripts/install-deps.sh (Debian's prometheus)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The PrometheusRule's spec is a Prometheus rule file (groups:), two spaces in.
sed -n '/^spec:$/,$p' "$rule" | sed '1d; s/^  //' >"$tmp/rules.yaml"
cp "$here/rules_test.yaml" "$tmp/"
promtool check rules "$tmp/rules.yaml"
(cd "$tmp" && promtool test rules rules_test.yaml)

# Each alert: at least one case with alerts expected, one with none.
alerts=$(sed -n 's/^ *- alert: //p' "$tmp/rules.yaml" | sort)
[[ -n $alerts ]] || { echo "FAIL: no alert in $rule" >&2; exit 1; }
cases=$(awk '/^ *- alertname: / {a = $3} /^ *exp_alerts: \[\]/ {print a, "quiet"; next} /^ *exp_alerts:$/ {print a, "fires"}' \
	"$here/rules_test.yaml" | sort -u)
missing=""
for a in $alerts; do
	for kind in fires quiet; do
		grep -qx "$a $kind" <<<"$cases" || missing+=" $a($kind)"
	done
done
[[ -z $missing ]] || { echo "FAIL: rules_test.yaml lacks the cases:$missing" >&2; exit 1; }
echo "PASS: promtool check rules and test rules; $(wc -w <<<"$alerts") alerts, each firing and quiet"
