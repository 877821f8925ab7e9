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
	wait_for "${COLLECTOR_START_TIMEOUT:-30}" grep -qE 'msg="pods listed"|"msg":"pods listed"' "$E2E_TMP/$name.log"
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

# collector_port NAME: the port NAME's current process serves /metrics on:
# the last one its log names (a log may hold several runs), in either log
# format.
collector_port() {
	local log=$E2E_TMP/$1.log
	{
		log_json "$log" 'select(.msg == "serving metrics") | .port'
		sed -n 's/.*msg="serving metrics".* port=\([0-9]*\).*/\1/p' "$log"
	} | tail -1
}

# collector_metrics NAME: its /metrics text; fails when nothing answers, so a
# dead collector never reads as zeros.
collector_metrics() {
	local port
	port=$(collector_port "$1")
	[[ -n $port ]] || fail "collector $1 did not say which port serves metrics"
	curl -fsS --noproxy '*' "http://127.0.0.1:$port/metrics" || fail "collector $1 serves no /metrics"
}

# metric_value NAME 'series{labels}': the value of one series (0 when absent;
# fails when the collector does not answer). The one metric reader of the
# e2e tests: every *_lib.sh and test uses this one.
metric_value() {
	local text
	text=$(collector_metrics "$1") || return 1
	awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' <<<"$text"
}

# metric_sum NAME METRIC: the sum of every series of METRIC (0 when none).
metric_sum() {
	local text
	text=$(collector_metrics "$1") || return 1
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

# count_at_least N SERVICE TYPE [LABELS]: profefe holds at least N such profiles.
count_at_least() {
	local n=$1
	shift
	(($(profefe_count "$@") >= n))
}

# profile_labels SERVICE TYPE [LABELS]: the labels of the one profile profefe
# holds of SERVICE and TYPE (with LABELS), k=v sorted and comma-joined; fails
# unless there is exactly one.
profile_labels() {
	local p
	p=$(profefe_profiles "$@")
	assert_eq 1 "$(jq length <<<"$p")" "profiles of service $1 type $2 ${3:-}"
	jq -r '.[0].labels | map("\(.key)=\(.value)") | sort | join(",")' <<<"$p"
}

# label_list K=V...: the labels as profile_labels prints them.
label_list() { printf '%s\n' "$@" | sort | paste -sd, -; }

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
