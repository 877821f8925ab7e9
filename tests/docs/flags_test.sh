#!/usr/bin/env bash
# The flag tables of docs/ are what the programs' --help prints. A table follows
# a marker line `<!-- flags: PROGRAM [COMMAND...] -->` (PROGRAM is kprofefe or
# "kubectl profefe"); its first column holds the flag (`-n`, `--namespace`),
# an "environment" column, if any, the variable help shows in brackets, and its
# "default" column the value help shows as "(default VALUE)" (free text when
# help says "(default: ...)" or nothing; then not a lone `value`). Both ways:
# every flag of --help is in the table and every row is a flag of --help
# (-h/--help aside). Every plugin command whose --help lists flags has a table.
#
#   tests/docs/flags_test.sh KPROFEFE_BINARY KUBECTL_PROFEFE_BINARY
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/docs/lib.sh
source "$root/tests/docs/lib.sh"
(($# == 2)) || { echo "usage: $0 KPROFEFE_BINARY KUBECTL_PROFEFE_BINARY" >&2; exit 2; }
kprofefe=$1
plugin=$2
docs=("$root"/docs/*.md)
failures=0
us=$'\x1f' # separates the fields of a flag's record (a tab would collapse empty ones)

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

# help_flags BINARY [COMMAND...]: one line per flag of its --help:
# "--long -s default env", separated by $us, default "" when help prints none and
# ":" when it prints "(default: ...)".
help_flags() {
	local out
	out=$("$@" --help) || { echo "FAIL: $* --help failed" >&2; return 1; }
	sed -nE 's/^ +(-([A-Za-z]), )?--([a-z0-9-]+)( +(.*))?$/\3\x1f\2\x1f\5/p' <<<"$out" |
		while IFS=$us read -r long short text; do
			local def="" env=""
			if [[ $text =~ \ \[([A-Z_][A-Z0-9_]*)\]$ ]]; then
				env=${BASH_REMATCH[1]}
				text=${text% \[*\]}
			fi
			if [[ $text =~ \(default:\  ]]; then
				def=:
			elif [[ $text =~ \(default\ ([^\)]*)\)$ ]]; then
				def=${BASH_REMATCH[1]}
			fi
			[[ $long == help ]] && continue
			printf -- "--%s$us%s$us%s$us%s\n" "$long" "${short:+-$short}" "$def" "$env"
		done
}

# cells LINE: the cells of a table row, trimmed, one a line.
cells() {
	local row=${1#|}
	row=${row%|}
	local IFS='|' c
	for c in $row; do
		c=${c#"${c%%[! ]*}"}
		printf '%s\n' "${c%"${c##*[! ]}"}"
	done
}

# doc_flags PROGRAM: the table after "<!-- flags: PROGRAM -->" in docs/, as
# help_flags prints (the default cell as written); fails if there is none.
doc_flags() {
	local marker="<!-- flags: $1 -->" file rows header col_flag=-1 col_env=-1 col_def=-1 i
	file=$(grep -lxF -- "$marker" "${docs[@]}" | head -1) || true
	[[ -n $file ]] || { fail "no table of \`$1 --help\`'s flags in docs/ (a line \"$marker\" before it)"; return 1; }
	rows=$(md_table_after "$file" "$marker")
	mapfile -t header < <(cells "$(head -1 <<<"$rows")")
	for i in "${!header[@]}"; do
		case ${header[$i]} in
		flag) col_flag=$i ;;
		environment) col_env=$i ;;
		default) col_def=$i ;;
		esac
	done
	((col_flag >= 0 && col_def >= 0)) || { fail "${file#"$root"/}: the table after \"$marker\" needs columns \"flag\" and \"default\""; return 1; }
	while IFS= read -r row; do
		local -a c
		mapfile -t c < <(cells "$row")
		local names=${c[$col_flag]} long="" short="" def=${c[$col_def]} env=""
		((col_env >= 0)) && env=${c[$col_env]//\`/}
		[[ $names =~ \`(--[a-z0-9-]+)\` ]] && long=${BASH_REMATCH[1]}
		[[ $names =~ \`(-[A-Za-z])\` ]] && short=${BASH_REMATCH[1]}
		[[ -n $long ]] || { fail "${file#"$root"/}: a row of \"$marker\" names no \`--flag\`: $row"; continue; }
		[[ $long == --help ]] && continue
		printf "%s$us%s$us%s$us%s\n" "$long" "$short" "$def" "$env"
	done < <(tail -n +3 <<<"$rows")
	echo "$file" >"$tmp/file"
	((col_env >= 0)) && touch "$tmp/has_env"
	return 0
}

# compare PROGRAM BINARY [COMMAND...]: the docs' table of PROGRAM against the
# binary's --help.
compare() {
	local program=$1 long short def env dshort ddef denv file
	shift
	rm -f "$tmp/has_env" "$tmp/file"
	help_flags "$@" >"$tmp/help" || { fail "$* --help failed"; return; }
	doc_flags "$program" >"$tmp/doc" || return 0
	file=$(<"$tmp/file")
	file=${file#"$root"/}
	while IFS=$us read -r long short def env; do
		if ! grep -q "^$long$us" "$tmp/doc"; then
			fail "$file: \`$program --help\` has $long, the table does not"
			continue
		fi
		IFS=$us read -r _ dshort ddef denv < <(grep "^$long$us" "$tmp/doc")
		[[ $short == "$dshort" ]] || fail "$file: $program $long: --help's short name is '${short:-none}', the table's '${dshort:-none}'"
		if [[ -n $env ]]; then
			[[ -f $tmp/has_env ]] || { fail "$file: $program $long: --help shows [$env], the table has no \"environment\" column"; continue; }
		fi
		[[ ! -f $tmp/has_env || $env == "$denv" ]] || fail "$file: $program $long: --help's variable is '${env:-none}', the table's '${denv:-none}'"
		case $def in
		:) ;;
		"") [[ ! $ddef =~ ^\`[^\`]*\`$ ]] || fail "$file: $program $long: --help shows no default, the table says $ddef" ;;
		*) [[ $ddef == "\`$def\`" ]] || fail "$file: $program $long: --help's default is '$def', the table's '$ddef' (write it \`$def\`)" ;;
		esac
	done <"$tmp/help"
	while IFS=$us read -r long _; do
		grep -q "^$long$us" "$tmp/help" || fail "$file: the table of \`$program\` has $long, its --help does not"
	done <"$tmp/doc"
	echo "checked: $program ($(wc -l <"$tmp/help") flags)"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

compare kprofefe "$kprofefe"

# The plugin's commands, from the Commands: list of its --help ("capture
# [POD...]" is capture, "load FILE..." load, "get profiles" get profiles).
commands=$("$plugin" --help | awk '/^Commands:/ {on = 1; next} on && /^$/ {exit}
	on {sub(/^ +/, ""); split($0, part, /  +/); n = split(part[1], w, " "); c = ""
	    for (i = 1; i <= n; i++) { if (w[i] ~ /^\[/ || w[i] ~ /^[A-Z]/) break; c = c (c == "" ? "" : " ") w[i] }
	    print c}')
[[ -n $commands ]] || fail "no command found in \`$plugin --help\`"
while IFS= read -r cmd; do
	# shellcheck disable=SC2086 # a command is words
	if [[ -z $(help_flags "$plugin" $cmd) ]] && ! grep -qxF -- "<!-- flags: kubectl profefe $cmd -->" "${docs[@]}"; then
		continue # no flag but --help: no table needed
	fi
	# shellcheck disable=SC2086
	compare "kubectl profefe $cmd" "$plugin" $cmd
done <<<"$commands"

((failures == 0)) || { echo "FAIL: $failures mismatches between the docs' flag tables and --help" >&2; exit 1; }
echo "PASS: the flag tables of docs/ are the programs' --help"
