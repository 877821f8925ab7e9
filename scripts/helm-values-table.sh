#!/usr/bin/env bash
# Prints the values table of charts/kprofefe/README.md, one row per value of
# values.schema.json (its description) with its default from values.yaml, or
# with --write puts it there and in docs/configuration.md, between each file's
# two "values-table" markers. Needs helm (KPROFEFE_HELM or on PATH) and jq.
# tests/e2e/helm_chart_test.sh fails when the chart README's table is not what
# this prints, tests/docs/values_table_test.sh when docs/configuration.md's is
# not the chart README's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
chart=$root/charts/kprofefe
readmes=("$chart/README.md" "$root/docs/configuration.md")
helm=${KPROFEFE_HELM:-helm}

# The defaults as JSON, from helm itself: a copy of the chart with one more
# template, {{ toJson .Values }} (JSON is YAML; helm template prints it as is).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$chart" "$tmp/"
echo '{{ toJson .Values }}' >"$tmp/kprofefe/templates/zz-values.yaml"
"$helm" template kprofefe "$tmp/kprofefe" --show-only templates/zz-values.yaml | grep -v '^---$\|^# Source: ' >"$tmp/values.json"

table() {
	echo '| value | type | default | meaning |'
	echo '|---|---|---|---|'
	# shellcheck disable=SC2016 # a jq program
	jq -r --slurpfile v "$tmp/values.json" '
		def leaves($p): to_entries[] | .key as $k | .value as $s
			| if ($s.type == "object" and ($s.properties | type) == "object" and ($s.description | not))
			  then $s.properties | leaves($p + [$k])
			  else {path: ($p + [$k]), schema: $s} end;
		def kind: if .type == "array" then "list of " + (.items.type // "any") + "s"
			elif (.type | type) == "array" then .type | join(" or ") else .type end;
		def shown: if type == "string" and . != "" then . else tojson end;
		def default($p): $v[0] | getpath($p)
			| if . == null then error("\($p | join(".")): in values.schema.json, not in values.yaml") else . end;
		.properties | leaves([])
		| "| `\(.path | join("."))` | \(.schema | kind) | `\(default(.path) | shown)` | \(.schema.description) |"' \
		"$chart/values.schema.json"
}

case ${1:-} in
"") table ;;
--write)
	table >"$tmp/table.md"
	for readme in "${readmes[@]}"; do
		awk -v t="$tmp/table.md" '/<!-- values-table:end -->/ {skip = 0}
			!skip {print}
			/<!-- values-table:begin -->/ {while ((getline l < t) > 0) print l; close(t); skip = 1}' "$readme" >"$tmp/readme"
		cp "$tmp/readme" "$readme"
	done ;;
*) echo "usage: $0 [--write]" >&2; exit 2 ;;
esac
