#!/usr/bin/env bash
# e2e: kubectl-profefe --web with the real go tool pprof, headless: served only
# (--no-browser) on a loopback port, on a fresh capture of a pod, a stored
# profile by id and a merge over a time range (the real profefe stand-in). The
# UI's flame graph page shows the target's function main.burn; the file stays;
# SIGTERM or SIGINT to the plugin stops pprof with it (exit 0); without go on
# PATH it says what to do and keeps the file (exit 1).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-plugin-web
svc=web-$RANDOM$RANDOM
# The pprof target's CPU work (tests/targets/pprof-target: cpuWork calls burn).
burn=main.burn

pod_add burner --node node-a --namespace $ns --annotate profefe.com/enable=true \
	--annotate "profefe.com/service=$svc" >/dev/null

web_pid=
e2e_extra_cleanup() {
	[[ -z $web_pid ]] || kill -TERM "$web_pid" 2>/dev/null || true
}

# web_up: the plugin printed its URL; fails at once when it exited instead.
web_up() {
	grep -q '^http://' "$web_out" && return 0
	kill -0 "$web_pid" 2>/dev/null || fail "kubectl profefe --web exited: $(cat "$web_err")"
	return 1
}

# start_web NAME ARGS...: `kubectl profefe ARGS... --web --no-browser` on a free
# loopback port, in the background; waits for the URL it prints (go may build
# pprof first); sets web_pid, web_out, web_err, url and port.
start_web() {
	local name=$1
	shift
	web_out=$E2E_TMP/$name.out web_err=$E2E_TMP/$name.err
	kubectl profefe "$@" --web --no-browser --web-listen 127.0.0.1:0 >"$web_out" 2>"$web_err" &
	web_pid=$!
	wait_for 180 web_up
	url=$(grep '^http://' "$web_out")
	[[ $url =~ ^http://127\.0\.0\.1:([0-9]+)/$ ]] || fail "$name: not a loopback URL: $url"
	port=${BASH_REMATCH[1]}
	# The served command, printed on stderr.
	assert_contains "$(cat "$web_err")" "go tool pprof -http=127.0.0.1:$port -no_browser " "$name: command"
}

# check_flame NAME: the flame graph page of the UI names the target's burn.
check_flame() {
	local page
	page=$(curl -fsS --noproxy '*' --max-time 60 "${url}ui/flamegraph") ||
		fail "$1: GET ${url}ui/flamegraph failed"
	grep -q "$burn" <<<"$page" || fail "$1: the flame graph does not show $burn: ${page:0:500}"
}

# stop_web NAME SIGNAL: the signal to the plugin; it exits 0, and nothing serves
# or runs on its port any more (neither go nor the pprof behind it).
stop_web() {
	local rc=0
	kill "-$2" "$web_pid"
	wait "$web_pid" || rc=$?
	web_pid=
	assert_eq 0 "$rc" "$1: exit status after SIG$2 ($(cat "$web_err"))"
	assert_eq 000 "$(http_code "$url")" "$1: $url after SIG$2"
	[[ -z $(pgrep -f -- "-http=127.0.0.1:$port " || true) ]] ||
		fail "$1: processes left: $(pgrep -af -- "-http=127.0.0.1:$port ")"
}

# 1. A fresh capture: the CPU profile (--web's default type), written to
# --output-dir, which keeps it.
files=$E2E_TMP/files
start_web capture capture burner -n $ns --cpu-seconds 2 --output-dir "$files"
file=$(grep -v '^http://' "$web_out")
[[ $file == "$files"/profile-cpu-burner-*.pb.gz ]] || fail "capture --web printed $file"
check_flame capture
stop_web capture TERM
pprof_top "$file" | has_samples || fail "the kept capture has no samples"

# 2. A stored profile by id: two CPU profiles pushed to profefe, the first opened.
for i in 1 2; do
	kubectl profefe capture burner -n $ns --profiles cpu --cpu-seconds 2 --profefe-hostport "$PROFEFE_URL" \
		>"$E2E_TMP/pushed$i" || fail "capture --profefe-hostport $i"
done
id=$(basename "$(cat "$E2E_TMP/pushed1")")
start_web get-profile get profile "$id" -o "$E2E_TMP/by-id.pb.gz"
assert_eq "$E2E_TMP/by-id.pb.gz" "$(grep -v '^http://' "$web_out")" "get profile -o path"
check_flame get-profile
stop_web get-profile INT
profefe_get "$id" "$E2E_TMP/stored.pb.gz"
cmp -s "$E2E_TMP/stored.pb.gz" "$E2E_TMP/by-id.pb.gz" || fail "get profile wrote something else than profile $id"

# 3. A merge over a time range: both pushed profiles.
start_web merge merge --service "$svc" --profile-type cpu --from 10m --to 0m -o "$E2E_TMP/merged.pb.gz"
assert_contains "$(cat "$web_err")" "merged 2 profiles of service $svc, type cpu" "merge --web"
check_flame merge
stop_web merge TERM
pprof_top "$E2E_TMP/merged.pb.gz" | has_samples || fail "the kept merge has no samples"

# Without go on PATH: what to do, the file kept, exit 1 (the plugin by its path:
# get profile needs nothing else from PATH).
set +e
PATH=/nonexistent "$KPROFEFE_BUILD_DIR/kubectl-profefe" get profile "$id" -o "$E2E_TMP/nogo.pb.gz" --web \
	>"$E2E_TMP/nogo.out" 2>"$E2E_TMP/nogo.err"
rc=$?
set -e
assert_eq 1 "$rc" "exit status without go"
assert_eq "profile $id of profefe $PROFEFE_URL
go tool pprof $E2E_TMP/nogo.pb.gz
error: \`go\` is not on PATH, and go tool pprof's web UI is part of Go.
Install Go (then run this again), or run where Go is:
  go tool pprof -http=localhost: $E2E_TMP/nogo.pb.gz
The profile is kept in $E2E_TMP/nogo.pb.gz." "$(cat "$E2E_TMP/nogo.err")" "stderr without go"
cmp -s "$E2E_TMP/stored.pb.gz" "$E2E_TMP/nogo.pb.gz" || fail "without go, the file was not kept"

# Usage errors: --web with what it cannot open.
for args in "get profiles --service $svc --web" "capture burner -n $ns --web --profiles cpu,heap" \
	"capture burner -n $ns --web --profiles trace" "merge --service $svc --profile-type cpu --no-browser" \
	"merge --service $svc --profile-type cpu --web --web-listen nohost"; do
	set +e
	# shellcheck disable=SC2086
	kubectl profefe $args >/dev/null 2>"$E2E_TMP/usage"
	rc=$?
	set -e
	assert_eq 2 "$rc" "exit status of '$args'"
	grep -q '^error: ' "$E2E_TMP/usage" || fail "'$args': no error: $(cat "$E2E_TMP/usage")"
done
echo "PASS plugin_web_test"
