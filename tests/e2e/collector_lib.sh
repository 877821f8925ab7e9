#!/usr/bin/env bash
# Helpers for the collector's e2e tests (source after lib.sh): start a real
# kprofefe against the local cluster, read its log and its /metrics.

KPROFEFE_BIN="${KPROFEFE_BUILD_DIR:?}/kprofefe"

# collector_start NAME NODE [FLAGS...]: starts kprofefe for NODE in the
# background, logging to $E2E_TMP/NAME.log, spooling to $E2E_TMP/NAME.spool;
# it is stopped when the test exits. Waits until it has listed the pods
# (COLLECTOR_START_TIMEOUT seconds, default 30).
collector_start() {
	local name=$1 node=$2
	shift 2
	"$KPROFEFE_BIN" --node-name "$node" --kubeconfig "$KUBECONFIG" \
		--profefe-hostport "$PROFEFE_URL" --metrics-addr 127.0.0.1:0 \
		--spool-dir "$E2E_TMP/$name.spool" --interval 4s --jitter 1s --cpu-seconds 1 \
		--batch-interval 1s "$@" >"$E2E_TMP/$name.log" 2>&1 &
	echo $! >"$E2E_TMP/$name.pid"
	echo "$name" >>"$E2E_TMP/.collectors"
	wait_for "${COLLECTOR_START_TIMEOUT:-30}" grep -q -e 'msg="pods listed"' -e '"msg":"pods listed"' "$E2E_TMP/$name.log"
}

# collector_stop NAME: SIGTERM, then waits for the exit; its status goes to
# $collector_rc (not printed: a $(...) subshell could not wait for it).
collector_stop() {
	local pid
	pid=$(cat "$E2E_TMP/$1.pid")
	kill -TERM "$pid" 2>/dev/null || true
	collector_rc=0
	wait "$pid" || collector_rc=$?
}

# collector_log NAME: the collector's log so far.
collector_log() {
	cat "$E2E_TMP/$1.log"
}

# collector_metrics NAME: its /metrics text.
collector_metrics() {
	local port
	port=$(sed -n -e 's/.*msg="serving metrics".* port=\([0-9]*\).*/\1/p' \
		-e 's/.*"msg":"serving metrics".*"port":"\([0-9]*\)".*/\1/p' "$E2E_TMP/$1.log" | head -1)
	[[ -n $port ]] || fail "collector $1 did not say which port serves metrics"
	curl -fsS --noproxy '*' "http://127.0.0.1:$port/metrics"
}

# metric_value NAME 'series{labels}': the value of one series (0 when absent).
metric_value() {
	collector_metrics "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}

# count_at_least N SERVICE TYPE [LABELS]: profefe holds at least N such profiles.
count_at_least() {
	local n=$1
	shift
	(($(profefe_count "$@") >= n))
}

collectors_stop_all() {
	local name pid
	[[ -f $E2E_TMP/.collectors ]] || return 0
	while read -r name; do
		pid=$(cat "$E2E_TMP/$name.pid" 2>/dev/null) || continue
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done <"$E2E_TMP/.collectors"
	return 0
}

e2e_extra_cleanup() {
	collectors_stop_all
}
