#!/usr/bin/env bash
# Every relative link and #anchor of README.md, docs/*.md and the chart's README
# resolves: the file or directory exists inside the repository, and an anchor
# names a heading of the target page by GitHub's rules (lowercased, spaces to
# '-', punctuation dropped, a repeated heading's anchor gets -1, -2...).
# With FILE arguments it checks only those. Before the repository's pages it
# checks itself on made-up pages, so that a checker that finds nothing fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

# md_scan FILE: prints "H<TAB>heading text" and "L<TAB>line<TAB>target" for the
# headings and link targets of FILE, outside fenced and indented code blocks
# and code spans.
md_scan() {
	awk '
	BEGIN { fence = ""; prev_blank = 1; in_indent = 0 }
	{
		line = $0
		if (fence != "") {
			if (line ~ ("^ *" fence)) fence = ""
			next
		}
		if (match(line, /^ *(```|~~~)/)) { fence = substr(line, RSTART + RLENGTH - 3, 3); next }
		if (line ~ /^(    |\t)/ && (prev_blank || in_indent)) { in_indent = 1; next }
		in_indent = 0
		prev_blank = (line ~ /^[ \t]*$/)
		if (match(line, /^#+[ \t]+/) && line !~ /^#######/) {
			text = substr(line, RLENGTH + 1)
			sub(/[ \t]+#+[ \t]*$/, "", text)
			printf "H\t%s\n", text
		}
		gsub(/`[^`]*`/, "", line)
		if (match(line, /^ {0,3}\[[^]]+\]:[ \t]*/)) {
			t = substr(line, RLENGTH + 1); sub(/[ \t].*/, "", t)
			printf "L\t%d\t%s\n", NR, t
			next
		}
		while (match(line, /\]\([^) \t]+/)) {
			printf "L\t%d\t%s\n", NR, substr(line, RSTART + 2, RLENGTH - 2)
			line = substr(line, RSTART + RLENGTH)
		}
	}' "$1"
}

# slug TEXT: GitHub's anchor of a heading: link syntax to its text, lowercase,
# ASCII punctuation but '-' and '_' dropped (and the common Unicode dashes,
# quotes and ellipsis), each space a '-'.
slug() {
	local s
	s=$(sed -E 's/!?\[([^]]*)\]\([^)]*\)/\1/g; s/<[^>]*>//g' <<<"$1")
	s=${s,,}
	s=$(LC_ALL=C sed -E "s/[]!\"#\$%&'()*+,./:;<=>?@[\\\\^\`{|}~]//g; s/\xe2\x80[\x93\x94\x98\x99\x9c\x9d\xa6]//g" <<<"$s")
	printf '%s\n' "${s// /-}"
}

# anchors FILE: the anchors of FILE's headings, one a line, repeats numbered.
anchors() {
	local -A seen=()
	local kind text s
	while IFS=$'\t' read -r kind text; do
		[[ $kind == H ]] || continue
		s=$(slug "$text")
		if [[ -n ${seen[$s]+x} ]]; then
			seen[$s]=$((seen[$s] + 1))
			printf '%s-%d\n' "$s" "${seen[$s]}"
		else
			seen[$s]=0
			printf '%s\n' "$s"
		fi
	done < <(md_scan "$1")
}

# check_links BASE FILE...: prints "FILE:LINE: why" for each broken link;
# fails if there was one. BASE is the directory no link may leave.
check_links() {
	local base=$1 file line target kind path anchor dest bad=0
	shift
	local -A anchor_cache=()
	for file in "$@"; do
		while IFS=$'\t' read -r kind line target; do
			[[ $kind == L ]] || continue
			target=${target#<}
			target=${target%>}
			[[ $target =~ ^[A-Za-z][A-Za-z0-9+.-]*: ]] && continue # http:, mailto:...
			path=${target%%#*}
			anchor=""
			[[ $target == *'#'* ]] && anchor=${target#*#}
			if [[ -z $path ]]; then
				dest=$file
			elif [[ $path == /* ]]; then
				echo "$file:$line: $target: an absolute path; write it relative to the page"
				bad=1
				continue
			else
				dest=$(realpath -m "$(dirname "$file")/$path")
				if [[ $dest != "$base" && $dest != "$base"/* ]]; then
					echo "$file:$line: $target: leaves the repository"
					bad=1
					continue
				fi
				if [[ ! -e $dest ]]; then
					echo "$file:$line: $target: no such file or directory"
					bad=1
					continue
				fi
			fi
			[[ -n $anchor && $dest == *.md && -f $dest ]] || continue
			[[ -n ${anchor_cache[$dest]+x} ]] || anchor_cache[$dest]=$'\n'$(anchors "$dest")$'\n'
			if [[ ${anchor_cache[$dest]} != *$'\n'"$anchor"$'\n'* ]]; then
				echo "$file:$line: $target: no heading of ${dest#"$base"/} has the anchor #$anchor"
				bad=1
			fi
		done < <(md_scan "$file")
	done
	return $bad
}

# ------------------------------------------------------ the checker itself --
self_test() {
	local t=$tmp/self out
	mkdir -p "$t/docs"
	cat >"$t/README.md" <<'EOF'
# Title

## Limits: what a pod can `do` (and cannot)
## Notes
## Notes
## The DaemonSet's pod — spool

See [limits](#limits-what-a-pod-can-do-and-cannot), [the second
notes](#notes-1), [the pod](#the-daemonsets-pod--spool), [docs](docs/a.md#a-b_c)
and [a folder](docs/). [web](https://example.com/x#y)

    [not a link](nowhere.md)

```
[not a link either](nowhere.md)
```
`[in a code span](nowhere.md)`
[ref]: docs/a.md
EOF
	printf '# A b_c\n\n[back](../README.md#title)\n' >"$t/docs/a.md"
	out=$(check_links "$t" "$t/README.md" "$t/docs/a.md") ||
		{ echo "FAIL: the checker refuses good links: $out" >&2; exit 1; }

	printf '[x](docs/missing.md)\n' >"$t/bad1.md"
	printf 'text\n\n[y](docs/a.md#nope)\n' >"$t/bad2.md"
	printf '[z](#notes-2)\n' >>"$t/README.md"
	printf '[w](../../outside.md)\n' >"$t/docs/bad3.md"
	local f want
	for f in "bad1.md:1: docs/missing.md: no such file" "bad2.md:3: docs/a.md#nope: no heading" \
		"README.md:19: #notes-2: no heading" "docs/bad3.md:1: ../../outside.md: leaves"; do
		want="$t/$f"
		if out=$(check_links "$t" "$t/${f%%:*}"); then
			echo "FAIL: the checker passes a broken link ($f)" >&2
			exit 1
		fi
		[[ $out == *"$want"* ]] || { echo "FAIL: expected \"$want\", the checker said: $out" >&2; exit 1; }
	done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
self_test
if (($#)); then
	files=("$@")
else
	files=("$root/README.md" "$root"/docs/*.md "$root/charts/kprofefe/README.md")
fi
if ! out=$(check_links "$root" "${files[@]}"); then
	printf 'FAIL: broken links:\n%s\n' "$out" >&2
	exit 1
fi
echo "PASS: every relative link and anchor of ${#files[@]} pages resolves"
