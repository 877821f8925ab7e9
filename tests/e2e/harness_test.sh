#!/usr/bin/env bash
# The e2e harness itself: fail names the file:line of the test's own failing
# check (through wait_for and the *_lib.sh helpers too), there is one
# metric_value whatever the order the libraries are sourced in, and
# log_json_has reads a collector's JSON log, skipping lines that are not JSON.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"
source "$(dirname "$0")/spool_lib.sh"

dir=$(cd "$(dirname "$0")" && pwd)

# failing_test NAME BODY: runs BODY as the test script NAME (sourcing the
# libraries first, so BODY's first line is line 4); prints its stderr.
failing_test() {
	local script=$E2E_TMP/$1
	{
		echo "source '$dir/lib.sh'"
		echo "source '$dir/collector_lib.sh'"
		echo "source '$dir/spool_lib.sh'"
		printf '%s\n' "$2"
	} >"$script"
	if bash "$script" 2>"$E2E_TMP/stderr" >/dev/null; then fail "$1 passed: it should fail"; fi
	cat "$E2E_TMP/stderr"
}

# A check at the top level, one inside the test's own function, one failing
# inside wait_for (lib.sh), one failing inside metric_value (collector_lib.sh).
assert_eq "FAIL (top_test.sh:5): answer: want '42', got '41'" \
	"$(failing_test top_test.sh $'true\nassert_eq 42 41 answer')" "a failing assert_eq"
assert_eq "FAIL (func_test.sh:5 in check): no file" \
	"$(failing_test func_test.sh $'check() {\n\t[[ -e /nonexistent ]] || fail "no file"\n}\ncheck')" \
	"a fail in the test's own function"
assert_eq "FAIL (wait_test.sh:6): timed out after 0s waiting for: false" \
	"$(failing_test wait_test.sh $'\n\nwait_for 0 false')" "a fail inside wait_for"
out=$(failing_test metric_test.sh $': >"$E2E_TMP/none.log"\nmetric_value none kprofefe_targets')
assert_contains "$out" "FAIL (metric_test.sh:5): collector none did not say which port serves metrics" \
	"a fail inside metric_value"

# One metric_value, defined in collector_lib.sh, whichever library came last.
shopt -s extdebug
for lib in collector_lib.sh spool_lib.sh; do
	where=$(source "$dir/$lib" && declare -F metric_value)
	assert_eq collector_lib.sh "${where##*/}" "the file defining metric_value after sourcing $lib again"
done
shopt -u extdebug

# log_json_has / log_json on a JSON log with a line that is not JSON in it.
log=$E2E_TMP/c.log
{
	echo '{"time":"t","level":"info","msg":"serving metrics","port":"9123"}'
	echo 'AddressSanitizer: not JSON {'
	echo '{"time":"t","level":"warn","msg":"spool file quarantined","file":"a b.prof","reason":"bad magic"}'
	echo '{"time":"t","level":"warn","msg":"spool file quarantined","file":"c.prof","reason":"truncated"}'
	echo '{"time":"t","level":"warn","msg":"spool file quarantined","file":"d.prof","reason":"truncated"}'
} >"$log"
# Three times (jq 1.6's any/2 breaks out of its generator, `?` caught the
# break, and more matches made it false).
log_json_has "$log" '.msg == "spool file quarantined"' || fail "log_json_has missed a message found three times"
log_json_has "$log" 'select(.msg == "serving metrics")' || fail "log_json_has missed a message"
log_json_has "$log" --arg f "a b.prof" '.msg == "spool file quarantined" and .file == $f' ||
	fail "log_json_has missed a message with --arg"
! log_json_has "$log" '.msg == "pods listed"' || fail "log_json_has found a message that is not there"
! log_json_has "$E2E_TMP/missing.log" '.msg' || fail "log_json_has found something in a missing file"
assert_eq 9123 "$(collector_port c)" "the port read from a JSON log"
assert_eq "bad magic
truncated
truncated" "$(log_json "$log" 'select(.level == "warn") | .reason')" "log_json's raw strings"

echo "PASS: fail names file:line (top level, function, wait_for, metric_value); one metric_value; log_json_has and log_json read JSON logs"
