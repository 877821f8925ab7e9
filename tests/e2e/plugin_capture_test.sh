#!/usr/bin/env bash
# e2e: kubectl-profefe capture with the real kubectl and API server: kubectl
# finds the plugin; a pod on node-a captured through the API server's pod proxy
# into files go tool pprof reads; -l and -A; --direct from the host; the status
# line and CPU countdown on a terminal and nothing of it otherwise; --help of
# every command.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-plugin-cap
other=e2e-plugin-cap2

# kubectl sees the binary on PATH as the plugin `kubectl profefe`.
# (Outputs are read whole before grep: grep -q stopping early would make the
# writer fail under pipefail.)
plugins=$(kubectl plugin list 2>/dev/null || true)
grep -q "$KPROFEFE_BUILD_DIR/kubectl-profefe$" <<<"$plugins" ||
	fail "kubectl plugin list does not list $KPROFEFE_BUILD_DIR/kubectl-profefe: $plugins"
assert_contains "$(kubectl profefe --help)" "capture [POD...]" "kubectl profefe --help"
for cmd in capture "get services" "get profiles" "get profile-types" load merge; do
	# shellcheck disable=SC2086
	out=$(kubectl profefe $cmd --help) || fail "kubectl profefe $cmd --help exited non-zero"
	assert_contains "$out" "Usage: kubectl profefe $cmd" "$cmd --help"
done
kubectl profefe capture --no-such-flag >/dev/null 2>&1 && fail "an unknown flag was accepted"
[[ $(kubectl profefe version) == "kubectl-profefe "* ]] || fail "version"

pod_add web-a --node node-a --namespace $ns --annotate profefe.com/enable=true --label app=web >/dev/null
pod_add web-b --node node-b --namespace $ns --annotate profefe.com/enable=true --label app=web >/dev/null
pod_add api-a --node node-a --namespace $ns --annotate profefe.com/enable=true --label app=api >/dev/null
pod_add plain --node node-a --namespace $ns --label app=web >/dev/null
pod_add far --node node-b --namespace $other --annotate profefe.com/enable=true \
	--annotate profefe.com/port=7070 --annotate profefe.com/path=/custom/pprof >/dev/null

# One pod on node-a, every default type, through the pod proxy (the cluster's
# admin kubeconfig: a client certificate). Only paths on stdout, the summary on
# stderr (not a terminal), exit 0.
out=$E2E_TMP/one
mkdir -p "$out"
before=$(date +%s)
kubectl profefe capture web-a -n $ns --cpu-seconds 2 --output-dir "$out" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr" ||
	fail "capture web-a exited non-zero: $(cat "$E2E_TMP/stderr")"
after=$(date +%s)
assert_eq 6 "$(wc -l <"$E2E_TMP/stdout")" "paths printed"
# No status line (not a terminal): only the summary and the command for the CPU profile.
assert_eq "6 profiles written, 1 pod, 0 failures, in $out
go tool pprof $(grep /profile-cpu- "$E2E_TMP/stdout")" "$(cat "$E2E_TMP/stderr")" "stderr when not a terminal"
declare -A want=([cpu]=cpu [heap]=inuse_space [goroutine]=goroutine [mutex]=delay [block]=delay [threadcreate]=threadcreate)
for t in "${!want[@]}"; do
	f=$(grep "/profile-$t-web-a-[0-9]*\.pb\.gz$" "$E2E_TMP/stdout") || fail "no $t path printed: $(cat "$E2E_TMP/stdout")"
	[[ $(dirname "$f") == "$out" ]] || fail "$f is not in --output-dir $out"
	secs=${f##*-web-a-}
	secs=${secs%.pb.gz}
	((secs >= before && secs <= after)) || fail "$f: $secs is not the capture's unix time ($before..$after)"
	is_gzip "$f" || fail "$f is not gzip"
	top=$(pprof_top "$f")
	grep -q "^Type: ${want[$t]}$" <<<"$top" || fail "$f is not a ${want[$t]} profile: $top"
done
assert_eq 6 "$(find "$out" -type f | wc -l)" "files written"
# The CPU profile really covered the pod's work.
pprof_top "$(grep /profile-cpu- "$E2E_TMP/stdout")" | has_samples || fail "cpu profile has no samples"
# It went through the API server's pod proxy, as the admin user (the audit log
# is written behind the requests, and its last line may be half written: wait,
# and skip what does not parse).
proxied() {
	[[ -n $(jq -cR --arg ns $ns 'fromjson? | select(.objectRef.resource=="pods" and
		.objectRef.subresource=="proxy" and .objectRef.namespace==$ns and
		.objectRef.name=="web-a:6060")' "$KPROFEFE_AUDIT_LOG") ]]
}
wait_for 20 proxied

# Twice in the same second: new names, nothing overwritten.
kubectl profefe capture web-a -n $ns --profiles heap --output-dir "$out" >"$E2E_TMP/a" || fail "capture heap 1"
kubectl profefe capture web-a -n $ns --profiles heap --output-dir "$out" >"$E2E_TMP/b" || fail "capture heap 2"
[[ $(cat "$E2E_TMP/a") != "$(cat "$E2E_TMP/b")" ]] || fail "two captures wrote the same file"

# -l: the annotated pods with app=web (not the unannotated one, not api-a).
sel=$E2E_TMP/sel
mkdir -p "$sel"
kubectl profefe capture -n $ns -l app=web --profiles heap,goroutine --output-dir "$sel" >"$E2E_TMP/stdout" ||
	fail "capture -l app=web exited non-zero"
ls "$sel" >"$E2E_TMP/ls"
assert_eq 4 "$(wc -l <"$E2E_TMP/ls")" "files of -l app=web"
for p in web-a web-b; do
	for t in heap goroutine; do
		grep -q "^profile-$t-$p-" "$E2E_TMP/ls" || fail "-l app=web: no $t of $p: $(cat "$E2E_TMP/ls")"
	done
done
grep -q -e plain -e api-a "$E2E_TMP/ls" && fail "-l app=web captured another pod: $(cat "$E2E_TMP/ls")"
# A selector that matches nothing annotated is an error.
kubectl profefe capture -n $ns -l app=none --output-dir "$sel" 2>"$E2E_TMP/stderr" && fail "-l app=none exited 0"
assert_contains "$(cat "$E2E_TMP/stderr")" "no pod in namespace $ns matching app=none is Running and annotated" "-l app=none"

# -A: every annotated pod of every namespace, the custom port/path one too.
all=$E2E_TMP/all
mkdir -p "$all"
set +e
kubectl profefe capture -A --profiles heap --output-dir "$all" >/dev/null 2>"$E2E_TMP/stderr"
rc=$?
set -e
# Only this test's pods must succeed: another test's pods may be up too.
if ((rc != 0)); then
	grep -v -e "^error: pod " "$E2E_TMP/stderr" && fail "capture -A: an error not about a pod"
	grep -e "^error: pod $ns/" -e "^error: pod $other/" "$E2E_TMP/stderr" && fail "capture -A failed on this test's pods"
	[[ -s $E2E_TMP/stderr ]] || fail "capture -A exited $rc without saying why"
fi
for p in web-a web-b api-a far; do
	f=$(ls "$all"/profile-heap-$p-*.pb.gz 2>/dev/null) || fail "-A did not capture $p: $(ls "$all")"
	pprof_top "$f" >/dev/null
done
[[ -z $(ls "$all"/profile-heap-plain-* 2>/dev/null) ]] || fail "-A captured the unannotated pod"
# Pod names and -A, or names and -l, contradict each other (usage error, 2).
set +e
kubectl profefe capture web-a -A >/dev/null 2>&1
rc=$?
set -e
assert_eq 2 "$rc" "exit status of names with -A"

# --direct: from the pod IPs, which this host reaches.
dir=$E2E_TMP/direct
mkdir -p "$dir"
# In the audit log's own form (microseconds, fixed width, so strings compare as
# times): whole seconds would take -A's requests of the same second for --direct's.
direct_since=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
kubectl profefe capture far -n $other --direct --profiles heap,threadcreate --output-dir "$dir" >"$E2E_TMP/stdout" ||
	fail "capture --direct exited non-zero"
assert_eq 2 "$(wc -l <"$E2E_TMP/stdout")" "--direct paths"
while read -r f; do pprof_top "$f" >/dev/null; done <"$E2E_TMP/stdout"
# (Only requests since then: -A above captured far through the proxy.)
jq -n -e --arg ns $other --arg since "$direct_since" 'any(inputs; .objectRef.subresource=="proxy" and
	.objectRef.namespace==$ns and .requestReceivedTimestamp >= $since)' \
	"$KPROFEFE_AUDIT_LOG" >/dev/null && fail "--direct went through the pod proxy"

# On a terminal (script gives it one): the status line and the CPU countdown on
# stderr; the profiles are still all captured.
tty=$E2E_TMP/tty
mkdir -p "$tty"
script -qec "kubectl profefe capture web-a -n $ns --profiles cpu,heap --cpu-seconds 3 --output-dir $tty" \
	"$E2E_TMP/typescript" >/dev/null || fail "capture on a terminal exited non-zero"
ts=$(tr '\r' '\n' <"$E2E_TMP/typescript")
assert_contains "$ts" "CPU profile 3s left" "countdown"
assert_contains "$ts" "CPU profile 1s left" "countdown"
assert_contains "$ts" "capturing 1 pod: 2/2 done" "status line"
assert_eq 2 "$(find "$tty" -type f | wc -l)" "files captured on a terminal"
echo "PASS plugin_capture_test"
