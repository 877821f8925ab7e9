#!/usr/bin/env bash
# Shared by tests/docs/*_test.sh (source it): reading the Markdown tables that
# the docs mark with an HTML comment line just before them.

# md_table_after FILE MARKER: the rows of the first table after the line MARKER
# in FILE, header and separator included; nothing if there is no such line.
md_table_after() {
	awk -v m="$2" 'found && /^\|/ {print; seen = 1; next} found && seen {exit} $0 == m {found = 1}' "$1"
}
