#!/usr/bin/env bash
# e2e: `kubectl profefe get profiles --labels` lists every stored profile that
# carries the labels, also when they reached profefe out of time order (as a CPU
# profile, which carries the earliest time and arrives last, or a spooled one
# does). The real profefe's own labels= query misses such profiles; the plugin
# asks by service, type and time and matches labels itself.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-plugin-labels
svc=labels-$RANDOM$RANDOM
ip=$(pod_add src --node node-a --namespace $ns)

# Taken in this order (each profile carries its time)...
types=(goroutine threadcreate heap)
for t in "${types[@]}"; do
	curl -fsS --noproxy '*' -o "$E2E_TMP/$t.pb.gz" "http://$ip:6060/debug/pprof/$t" || fail "GET $t"
done
# ...and uploaded newest first, one set per pod label; the second set also
# with an explicit older created_at (profefe takes the profile's own time).
upload() { # TYPE LABELS [CREATED_AT]
	curl -fsS --noproxy '*' -X POST --data-binary @"$E2E_TMP/$1.pb.gz" \
		"$PROFEFE_URL/api/0/profiles?service=$svc&type=$1&labels=$2${3:+&created_at=$3}" >/dev/null ||
		fail "POST $1 $2"
}
for ((i = ${#types[@]} - 1; i >= 0; i--)); do upload "${types[i]}" "namespace=$ns,pod=a"; done
for ((i = ${#types[@]} - 1; i >= 0; i--)); do upload "${types[i]}" "namespace=$ns,pod=b" "$(profefe_time -7200)"; done

get() { kubectl profefe get profiles --service "$svc" --profefe-hostport "$PROFEFE_URL" "$@"; }
# Every profile with the label: 6, and 3 of each pod.
out=$(get --labels "namespace=$ns")
assert_eq 7 "$(wc -l <<<"$out")" "--labels namespace=$ns lines (header + 6): $out"
for p in a b; do
	out=$(get --labels "pod=$p,namespace=$ns")
	assert_eq 4 "$(wc -l <<<"$out")" "--labels pod=$p lines (header + 3): $out"
	for t in "${types[@]}"; do
		grep -Eq "^[0-9a-v]{20} +$t +$svc .*pod=$p" <<<"$out" || fail "no $t of pod $p: $out"
		out1=$(get --profile-type "$t" --labels "pod=$p")
		assert_eq 2 "$(wc -l <<<"$out1")" "--profile-type $t --labels pod=$p lines: $out1"
	done
done
# --limit counts matching profiles.
out=$(get --profile-type heap --labels pod=b --limit 1)
assert_contains "$out" "pod=b" "--limit 1 --labels pod=b"
assert_eq 2 "$(wc -l <<<"$out")" "--limit 1 lines"
# A label no profile has: nothing, and no error.
get --labels pod=c >"$E2E_TMP/none" 2>"$E2E_TMP/stderr" || fail "an empty result is not an error"
[[ ! -s $E2E_TMP/none ]] || fail "pod=c printed: $(cat "$E2E_TMP/none")"
echo "PASS plugin_labels_test"
