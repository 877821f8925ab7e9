#!/usr/bin/env bash
# The annotations table of docs/configuration.md (after "<!-- annotations -->")
# has a row for every "profefe.com/..." annotation the code reads (a string
# literal in include/ or src/), and no other.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/docs/lib.sh
source "$root/tests/docs/lib.sh"
page=$root/docs/configuration.md
marker='<!-- annotations -->'

code=$(grep -rhoE '"profefe\.com/[A-Za-z0-9._-]+"' "$root/include" "$root/src" | tr -d '"' | sort -u)
[[ -n $code ]] || { echo "FAIL: no profefe.com/ annotation found in include/ or src/" >&2; exit 1; }

grep -qxF "$marker" "$page" || { echo "FAIL: no line \"$marker\" before the annotations table of docs/configuration.md" >&2; exit 1; }
# shellcheck disable=SC2016 # backquotes of Markdown, not of the shell
docs=$(md_table_after "$page" "$marker" |
	tail -n +3 | sed -nE 's/^\| *`(profefe\.com\/[^`]+)` *\|.*/\1/p' | sort -u)

if [[ $code != "$docs" ]]; then
	echo "FAIL: docs/configuration.md's annotations table is not the code's (< the code, > the docs):" >&2
	diff <(echo "$code") <(echo "$docs") >&2 || true
	exit 1
fi
echo "PASS: docs/configuration.md has the $(wc -l <<<"$code") annotations the code reads"
