#!/usr/bin/env bash
# The metrics table of docs/operations.md (after "<!-- metrics: kprofefe -->")
# lists every metric of src/metrics_defs.c, the one table of what the collector
# serves, with its type, and nothing else.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/docs/lib.sh
source "$root/tests/docs/lib.sh"
defs=$root/src/metrics_defs.c
page=$root/docs/operations.md
marker='<!-- metrics: kprofefe -->'

# "name type" per metric of the C table (an entry may span lines).
code=$(tr -d '\n\t' <"$defs" | grep -oE '\{"[a-z_:]+", *METRIC_[A-Z]+' |
	sed -E 's/^\{"([^"]+)", *METRIC_([A-Z]+)$/\1 \2/' | tr '[:upper:]' '[:lower:]' | sort)
[[ -n $code ]] || { echo "FAIL: no metric found in ${defs#"$root"/}" >&2; exit 1; }

grep -qxF "$marker" "$page" || { echo "FAIL: no line \"$marker\" before the metrics table of docs/operations.md" >&2; exit 1; }
# shellcheck disable=SC2016 # backquotes of Markdown, not of the shell
docs=$(md_table_after "$page" "$marker" |
	tail -n +3 | sed -nE 's/^\| *`([a-z_:]+)` *\| *([a-z]+) *\|.*/\1 \2/p' | sort)

if [[ $code != "$docs" ]]; then
	echo "FAIL: docs/operations.md's metrics table is not ${defs#"$root"/}'s (< the code, > the docs):" >&2
	diff <(echo "$code") <(echo "$docs") >&2 || true
	exit 1
fi
echo "PASS: docs/operations.md lists the $(wc -l <<<"$code") metrics of ${defs#"$root"/} with their types"
