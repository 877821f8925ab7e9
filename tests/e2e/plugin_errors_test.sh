#!/usr/bin/env bash
# e2e: kubectl-profefe capture when some pods cannot be captured: a missing pod,
# one annotated "false", one not Running, one with a bad annotation, one whose
# pprof server is not there (through the pod proxy and with --direct), and
# profefe down. Each gets one line naming it and why; the good pods are still
# captured; the exit status is 1. A pod named without any annotation is
# captured: whoever names a pod wants its profiles (-l and -A still choose
# only annotated pods).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-plugin-err

pod_add good --node node-a --namespace $ns --annotate profefe.com/enable=true >/dev/null
pod_add good2 --node node-b --namespace $ns --annotate profefe.com/enable=true >/dev/null
pod_add plain --node node-a --namespace $ns >/dev/null
pod_add off --node node-a --namespace $ns --annotate profefe.com/enable=false >/dev/null
pod_add waiting --node node-a --namespace $ns --annotate profefe.com/enable=true --phase Pending >/dev/null
pod_add badport --node node-a --namespace $ns --annotate profefe.com/enable=true \
	--annotate profefe.com/port=99999 >/dev/null
pod_add silent --node node-a --namespace $ns --annotate profefe.com/enable=true --no-process >/dev/null

silent_ip=$("$CLUSTER" pod ip silent --namespace $ns)

# run_capture ARGS...: kubectl profefe capture into a fresh $out; sets rc,
# stdout and stderr (files).
run_capture() {
	out=$(mktemp -d "$E2E_TMP/out.XXXX")
	set +e
	kubectl profefe capture "$@" --output-dir "$out" >"$E2E_TMP/stdout" 2>"$E2E_TMP/stderr"
	rc=$?
	set -e
	err=$(cat "$E2E_TMP/stderr")
}

# The named pods: three good ones (one without annotations) among every kind of bad one.
run_capture good missing plain off waiting badport silent good2 -n $ns --profiles heap,goroutine
assert_eq 1 "$rc" "exit status"
assert_eq 6 "$(wc -l <"$E2E_TMP/stdout")" "profiles of the good pods"
for p in good good2 plain; do
	for t in heap goroutine; do
		f=$(ls "$out"/profile-$t-$p-*.pb.gz) || fail "$t of $p not captured: $(ls "$out")"
		pprof_top "$f" >/dev/null
	done
done
assert_eq 6 "$(find "$out" -type f | wc -l)" "files written"
# One line per bad pod (two for silent: one per profile type), then the summary
# and the command to read the first profile.
assert_eq 8 "$(wc -l <"$E2E_TMP/stderr")" "error lines: $err"
assert_eq 6 "$(grep -c '^error: ' "$E2E_TMP/stderr")" "error lines: $err"
assert_eq "6 profiles written, 4 pods, 6 failures, in $out" "$(sed -n 7p "$E2E_TMP/stderr")" "summary"
assert_eq "go tool pprof $(head -1 "$E2E_TMP/stdout")" "$(sed -n 8p "$E2E_TMP/stderr")" "next command"
grep -qx "error: pod $ns/missing: not found in namespace $ns" <<<"$err" || fail "missing pod: $err"
grep -qx "error: pod $ns/off: annotation profefe.com/enable is \"false\", not \"true\"" <<<"$err" ||
	fail "enable=false pod: $err"
grep -qx "error: pod $ns/waiting: not Running (phase Pending)" <<<"$err" || fail "pending pod: $err"
grep -q "^error: pod $ns/badport: annotation profefe.com/port=\"99999\": not a port" <<<"$err" ||
	fail "bad annotation: $err"
for t in heap goroutine; do
	line=$(grep "^error: pod $ns/silent: $t profile: " <<<"$err") || fail "silent pod $t: $err"
	assert_contains "$line" "the API server's pod proxy could not reach $silent_ip port 6060" "silent pod"
done
grep -q -e "good:" -e "good2:" -e "plain:" <<<"$err" && fail "a good pod reported an error: $err"

# Only good pods: exit 0, only the summary on stderr.
run_capture good good2 -n $ns --profiles heap
assert_eq 0 "$rc" "exit status of good pods only"
assert_eq "2 profiles written, 2 pods, 0 failures, in $out
go tool pprof $out/$(cd "$out" && ls profile-heap-good-*)" "$err" "stderr of good pods only"

# --direct to a pod without a pprof server: its error, the good pod captured.
run_capture good silent -n $ns --direct --profiles heap
assert_eq 1 "$rc" "exit status --direct"
assert_eq 1 "$(wc -l <"$E2E_TMP/stdout")" "--direct profiles"
grep -q "^error: pod $ns/silent: heap profile: GET http://$silent_ip:6060/debug/pprof/heap: " <<<"$err" ||
	fail "--direct silent pod: $err"

# A selector: unannotated and not-Running pods are simply not chosen; the bad
# annotation and the silent pod still fail.
run_capture -n $ns --profiles heap
assert_eq 1 "$rc" "exit status of the namespace"
assert_eq 2 "$(wc -l <"$E2E_TMP/stdout")" "profiles of the namespace"
grep -q -e plain -e off -e waiting -e missing <<<"$err" && fail "a pod that was not chosen was reported: $err"
assert_contains "$err" "error: pod $ns/badport: annotation profefe.com/port" "namespace: bad annotation"
assert_contains "$err" "error: pod $ns/silent: heap profile:" "namespace: silent pod"

# profefe down: every profile's upload fails with a line naming profefe.
run_capture good -n $ns --profiles heap,goroutine --profefe-hostport http://127.0.0.1:1
assert_eq 1 "$rc" "exit status with profefe down"
assert_eq 2 "$(grep -c "^error: pod $ns/good: .* profile: upload to profefe http://127.0.0.1:1 failed" \
	"$E2E_TMP/stderr")" "upload failures: $err"
[[ ! -s $E2E_TMP/stdout ]] || fail "URLs printed although profefe is down"

# Usage errors exit 2 before anything is fetched.
set +e
: >"$E2E_TMP/a-file"
kubectl profefe capture good -n $ns --output-dir "$E2E_TMP/a-file/sub" >/dev/null 2>"$E2E_TMP/stderr"
rc=$?
set -e
assert_eq 2 "$rc" "exit status of an --output-dir that cannot be made"
assert_contains "$(cat "$E2E_TMP/stderr")" "output directory $E2E_TMP/a-file/sub: Not a directory" "bad --output-dir"
set +e
kubectl profefe capture good -n $ns --profiles cpu,bogus >/dev/null 2>"$E2E_TMP/stderr"
rc=$?
set -e
assert_eq 2 "$rc" "exit status of an unknown profile type"
assert_contains "$(cat "$E2E_TMP/stderr")" "bogus" "unknown profile type"
echo "PASS plugin_errors_test"
