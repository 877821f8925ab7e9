#!/usr/bin/env bash
# The chart values table of docs/configuration.md is the one of
# charts/kprofefe/README.md, which tests/e2e/helm_chart_test.sh checks against
# values.schema.json and values.yaml. scripts/helm-values-table.sh --write
# writes both.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

# table FILE: the lines between FILE's two values-table markers; fails without them.
table() {
	if ! grep -q '^<!-- values-table:begin -->$' "$1" || ! grep -q '^<!-- values-table:end -->$' "$1"; then
		echo "FAIL: ${1#"$root"/} has no <!-- values-table:begin --> and <!-- values-table:end --> lines" >&2
		return 1
	fi
	sed -n '/^<!-- values-table:begin -->$/,/^<!-- values-table:end -->$/p' "$1" | sed '1d;$d'
}

chart=$(table "$root/charts/kprofefe/README.md")
docs=$(table "$root/docs/configuration.md")
[[ -n $chart ]] || { echo "FAIL: the chart README's values table is empty" >&2; exit 1; }
if [[ $chart != "$docs" ]]; then
	echo "FAIL: docs/configuration.md's values table is not charts/kprofefe/README.md's; run scripts/helm-values-table.sh --write:" >&2
	diff <(echo "$chart") <(echo "$docs") >&2 || true
	exit 1
fi
echo "PASS: docs/configuration.md's values table is the chart README's ($(($(wc -l <<<"$chart") - 2)) values)"
