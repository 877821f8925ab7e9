#!/usr/bin/env bash
# Helpers for the spool's e2e tests (source after lib.sh and collector_lib.sh):
# pods on a node of their own, collectors started without waiting (for the
# kill loop), metric sums, an independent reader of spool entry files (the
# format in include/kprofefe/spool.h, checked with coreutils and gzip's CRC-32,
# not with the collector's own code), and profefe contents by payload hash.
# Sourced by itself (ctest runs every tests/e2e/*.sh) it only defines functions.

# The spool tests' pods live on their own node, so a collector's
# kprofefe_profiles_collected_total counts only this test's profiles.
SPOOL_NODE=spool-node
# A node without pods: a collector for it only drains its spool.
SPOOL_IDLE_NODE=spool-idle

# spool_pod NS NAME SERVICE [POD-ADD-ARGS...]: an annotated pod on SPOOL_NODE.
spool_pod() {
	local ns=$1 name=$2 service=$3
	shift 3
	pod_add "$name" --node "$SPOOL_NODE" --namespace "$ns" --annotate profefe.com/enable=true \
		--annotate profefe.com/service="$service" "$@" >/dev/null
}

# spool_collector_bg NAME NODE SPOOL-DIR [FLAGS...]: starts kprofefe in the
# background without waiting, appending to $E2E_TMP/NAME.log; the pid goes to
# $E2E_TMP/NAME.pid and $collector_pid. Stopped at exit like collector_start's.
spool_collector_bg() {
	local name=$1 node=$2 dir=$3
	shift 3
	"$KPROFEFE_BIN" --node-name "$node" --kubeconfig "$KUBECONFIG" \
		--profefe-hostport "$PROFEFE_URL" --metrics-addr 127.0.0.1:0 --spool-dir "$dir" \
		--interval 2s --jitter 0s --cpu-seconds 1 --batch-interval 1s --upload-timeout 5s \
		--connect-timeout 2s "$@" >>"$E2E_TMP/$name.log" 2>&1 &
	collector_pid=$!
	echo "$collector_pid" >"$E2E_TMP/$name.pid"
	grep -qx "$name" "$E2E_TMP/.collectors" 2>/dev/null || echo "$name" >>"$E2E_TMP/.collectors"
}

# spool_collector NAME NODE SPOOL-DIR [FLAGS...]: the same, waiting until it
# has listed its node's pods and serves /metrics.
spool_collector() {
	local name=$1
	: >"$E2E_TMP/$name.log"
	spool_collector_bg "$@"
	wait_for 30 grep -q 'msg="pods listed"' "$E2E_TMP/$name.log"
}

# spool_metrics NAME: /metrics of NAME's current process (the last port its
# log names: a log may hold several runs); fails when nothing answers, so a
# dead collector never reads as zeros.
spool_metrics() {
	local port
	port=$(sed -n 's/.*msg="serving metrics".* port=\([0-9]*\).*/\1/p' "$E2E_TMP/$1.log" | tail -1)
	[[ -n $port ]] || fail "collector $1 did not say which port serves metrics"
	curl -fsS --noproxy '*' "http://127.0.0.1:$port/metrics" || fail "collector $1 serves no /metrics"
}

# metric_value NAME 'series{labels}': one series (0 when absent; fails when
# the collector does not answer). Replaces collector_lib.sh's.
metric_value() {
	local text
	text=$(spool_metrics "$1") || return 1
	awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' <<<"$text"
}

# metric_sum NAME METRIC: the sum of every series of METRIC (0 when none).
metric_sum() {
	local text
	text=$(spool_metrics "$1") || return 1
	awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d\n", s }' <<<"$text"
}

# metric_at_least NAME METRIC N: the sum of METRIC is N or more.
metric_at_least() {
	local v
	v=$(metric_sum "$1" "$2") && ((v >= $3))
}

# metric_is NAME SERIES N: one series equals N.
metric_is() {
	local v
	v=$(metric_value "$1" "$2") && [[ $v == "$3" ]]
}

# spool_entries DIR: the entry files' names, oldest first (names sort by time).
spool_entries() {
	# Not .tmp-*.prof: a put killed before its rename never counted as spooled,
	# even when its bytes were all written.
	find "$1" -maxdepth 1 -type f -name '[!.]*.prof' -printf '%f\n' | LC_ALL=C sort
}

# spool_count DIR: how many entry files DIR holds.
spool_count() {
	spool_entries "$1" | wc -l
}

# spool_empty DIR: no entry and no temporary file left.
spool_empty() {
	[[ -z $(find "$1" -maxdepth 1 -type f \( -name '*.prof' -o -name '.tmp-*' \) -print -quit) ]]
}

# le_uint FILE OFFSET SIZE: an unsigned little-endian integer of SIZE bytes.
le_uint() {
	od -An -v -t "u$3" -j "$2" -N "$3" --endian=little "$1" | tr -d ' \n'
}

# spool_entry_ok FILE: true when FILE is a complete spool entry: magic,
# version 1, sizes that add up to the file's, and the CRC-32 over the file
# without its CRC field (computed by gzip, whose trailer holds the CRC-32 of
# its input). Prints why not on stderr.
spool_entry_ok() {
	local f=$1 size want crc got
	size=$(stat -c %s "$f")
	if ((size < 44)); then echo "$f: shorter than a header" >&2; return 1; fi
	if [[ $(head -c 8 "$f") != KPFSPOOL ]]; then echo "$f: bad magic" >&2; return 1; fi
	if [[ $(le_uint "$f" 8 4) != 1 ]]; then echo "$f: bad version" >&2; return 1; fi
	want=$((44 + $(le_uint "$f" 32 2) + $(le_uint "$f" 34 2) + $(le_uint "$f" 36 4) + $(le_uint "$f" 24 8)))
	if ((want != size)); then echo "$f: $size bytes, header says $want" >&2; return 1; fi
	crc=$(le_uint "$f" 40 4)
	got=$({ head -c 40 "$f"; tail -c +45 "$f"; } | crc32)
	if [[ $crc != "$got" ]]; then echo "$f: checksum $got, header says $crc" >&2; return 1; fi
}

# crc32: the CRC-32 (zlib's) of stdin, in decimal: gzip's trailer holds it.
# (Every reader in these pipelines reads to the end: an early exit would
# SIGPIPE the writer, and pipefail would fail the test.)
crc32() {
	gzip -1 -c | tail -c 8 | od -An -t u4 --endian=little | awk '{ print $1 }'
}

# bytes_at FILE OFFSET COUNT: COUNT bytes of FILE from OFFSET, on stdout.
bytes_at() {
	dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=65536 status=none
}

# spool_entry_field FILE service|type|labels: one metadata string of an entry.
spool_entry_field() {
	local f=$1 sl tl ll
	sl=$(le_uint "$f" 32 2)
	tl=$(le_uint "$f" 34 2)
	ll=$(le_uint "$f" 36 4)
	case $2 in
	service) bytes_at "$f" 44 "$sl" ;;
	type) bytes_at "$f" $((44 + sl)) "$tl" ;;
	labels) bytes_at "$f" $((44 + sl + tl)) "$ll" ;;
	esac
}

# spool_payload FILE: the profile bytes of an entry, on stdout.
spool_payload() {
	local f=$1
	tail -c +$((45 + $(le_uint "$f" 32 2) + $(le_uint "$f" 34 2) + $(le_uint "$f" 36 4))) "$f"
}

# spool_write_entry FILE SERVICE TYPE LABELS TIME_NS PAYLOAD-FILE: writes an
# entry in the documented format with a correct checksum (for entries the
# collector would never write itself: a type profefe refuses, a payload that
# is not a profile).
spool_write_entry() {
	local out=$1 service=$2 type=$3 labels=$4 time_ns=$5 payload=$6 plen crc
	plen=$(stat -c %s "$payload")
	{
		printf 'KPFSPOOL'
		le_bytes 1 4
		le_bytes 0 4
		le_bytes "$time_ns" 8
		le_bytes "$plen" 8
		le_bytes "${#service}" 2
		le_bytes "${#type}" 2
		le_bytes "${#labels}" 4
	} >"$E2E_TMP/.hdr"
	crc=$({ cat "$E2E_TMP/.hdr"; printf '%s%s%s' "$service" "$type" "$labels"; cat "$payload"; } | crc32)
	{
		cat "$E2E_TMP/.hdr"
		le_bytes "$crc" 4
		printf '%s%s%s' "$service" "$type" "$labels"
		cat "$payload"
	} >"$out"
}

# le_bytes VALUE SIZE: VALUE as SIZE little-endian bytes.
le_bytes() {
	local v=$1 i
	for ((i = 0; i < $2; i++)); do
		printf "\\$(printf '%03o' $((v & 255)))"
		v=$((v >> 8))
	done
}

# profefe_ids SERVICE TYPE: ids of the stored profiles, one a line.
profefe_ids() {
	profefe_profiles "$1" "$2" | jq -r '.[].id'
}

# profefe_download SERVICE TYPE DIR: downloads every stored profile of SERVICE
# and TYPE into DIR/<id>.pb.gz.
profefe_download() {
	local id
	mkdir -p "$3"
	for id in $(profefe_ids "$1" "$2"); do
		profefe_get "$id" "$3/$id.pb.gz"
	done
}

# pprof_all FILE...: fails unless `go tool pprof -top` parses every FILE (it
# merges them: one call for many profiles of one type).
pprof_all() {
	local out
	(($#)) || return 0
	out=$(go tool pprof -top "$@" 2>&1) || fail "go tool pprof -top failed on $# profiles: $out"
	grep -q '^Type: ' <<<"$out" || fail "go tool pprof -top printed no profile: $out"
}

# hashes FILE...: sorted sha256 sums of the files' contents.
hashes() {
	(($#)) || return 0
	sha256sum "$@" | awk '{ print $1 }' | LC_ALL=C sort
}

# stopped_field LOG KEY: KEY's values on the collector's "stopped" lines.
stopped_field() {
	sed -n "s/.*msg=stopped.* $2=\([0-9]*\).*/\1/p" "$1"
}

# mount_tmpfs DIR OPTIONS: a tmpfs at DIR, unmounted by spool_unmount_all
# (called from the EXIT trap).
mount_tmpfs() {
	mkdir -p "$1"
	mount -t tmpfs -o "$2" kprofefe-spool-test "$1" || fail "mount tmpfs at $1 ($2) failed"
	echo "$1" >>"$E2E_TMP/.mounts"
}

# spool_unmount_all: unmounts what mount_tmpfs and friends mounted, last first.
spool_unmount_all() {
	local m
	[[ -f $E2E_TMP/.mounts ]] || return 0
	tac "$E2E_TMP/.mounts" | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
	: >"$E2E_TMP/.mounts"
}

e2e_extra_cleanup() {
	collectors_stop_all
	spool_unmount_all
}
