#!/usr/bin/env bash
# Helpers for the spool's e2e tests (source after lib.sh and collector_lib.sh):
# pods on a node of their own, collectors started without waiting (for the
# kill loop) and logging JSON, spool entry files read and written with
# kprofefe-spool (the operators' tool over the spool's own codec), and profefe
# contents by payload hash.
# Sourced by itself (ctest runs every tests/e2e/*.sh) it only defines functions.

KPROFEFE_SPOOL_BIN="${KPROFEFE_BUILD_DIR:?}/kprofefe-spool"

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
# background without waiting, appending its JSON log (read it with log_json and
# log_json_has) to $E2E_TMP/NAME.log; the pid goes to
# $E2E_TMP/NAME.pid and $collector_pid. Stopped at exit like collector_start's.
spool_collector_bg() {
	local name=$1 node=$2 dir=$3
	shift 3
	"$KPROFEFE_BIN" --node-name "$node" --kubeconfig "$KUBECONFIG" \
		--profefe-hostport "$PROFEFE_URL" --metrics-addr 127.0.0.1:0 --spool-dir "$dir" \
		--interval 2s --jitter 0s --cpu-seconds 1 --batch-interval 1s --upload-timeout 5s \
		--connect-timeout 2s --log-format json "$@" >>"$E2E_TMP/$name.log" 2>&1 &
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
	wait_for 30 log_json_has "$E2E_TMP/$name.log" 'select(.msg == "pods listed")'
}

# target_removed NAME NS/POD: NAME's log says it dropped the pod.
target_removed() {
	log_json_has "$E2E_TMP/$1.log" --arg pod "$2" '.msg == "target removed" and .pod == $pod'
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

# spool_entry_ok FILE: true when `kprofefe-spool verify` finds FILE a good
# entry: its name, header and checksum, and a profile with samples in it.
# Prints what is wrong on stderr.
spool_entry_ok() {
	"$KPROFEFE_SPOOL_BIN" verify "$1" >&2
}

# spool_entry_field FILE service|type|labels|attempts|time_ns: one field of an
# entry's header (empty when the entry is bad).
spool_entry_field() {
	"$KPROFEFE_SPOOL_BIN" ls --json "$1" | jq -r --arg k "$2" '.[$k] // empty'
}

# spool_payload FILE: the profile bytes of an entry, on stdout.
spool_payload() {
	"$KPROFEFE_SPOOL_BIN" cat "$1"
}

# spool_write_entry FILE SERVICE TYPE LABELS TIME_NS PAYLOAD-FILE: writes an
# entry with a correct checksum (for entries the collector would never write
# itself: a type profefe refuses, a payload that is not a profile).
spool_write_entry() {
	"$KPROFEFE_SPOOL_BIN" pack --service "$2" --type "$3" --labels "$4" --time "$5" "$6" >"$1"
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
	log_json "$1" --arg k "$2" 'select(.msg == "stopped") | .[$k] // empty'
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
