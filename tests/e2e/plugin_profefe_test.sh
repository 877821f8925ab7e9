#!/usr/bin/env bash
# e2e: kubectl-profefe with the real profefe: capture --profefe-hostport pushes
# each profile with the collector's service name and labels and prints its URL;
# get services / get profiles / get profile-types show what is there; load
# uploads a captured file with the type read from the profile, and refuses a
# file that is not pprof.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-plugin-pf
svc=pf-$RANDOM$RANDOM

# A pod of a Deployment (its ReplicaSet owns it): the service is the
# Deployment's name, as the collector names it. Another with the annotation.
pod_add "$svc-7d9f8c-x1" --node node-a --namespace $ns --owner "ReplicaSet/$svc-7d9f8c" \
	--annotate profefe.com/enable=true >/dev/null
pod_add named --node node-b --namespace $ns --annotate profefe.com/enable=true \
	--annotate "profefe.com/service=$svc-annotated" >/dev/null

kubectl profefe capture "$svc-7d9f8c-x1" named -n $ns --profiles cpu,heap,goroutine --cpu-seconds 2 \
	--profefe-hostport "$PROFEFE_URL" >"$E2E_TMP/urls" 2>"$E2E_TMP/stderr" ||
	fail "capture --profefe-hostport failed: $(cat "$E2E_TMP/stderr")"
assert_eq 6 "$(wc -l <"$E2E_TMP/urls")" "URLs printed"
while read -r url; do
	[[ $url == "$PROFEFE_URL/api/0/profiles/"* ]] || fail "not a profefe profile URL: $url"
	curl -fsS --noproxy '*' -o "$E2E_TMP/p.pb.gz" "$url" || fail "GET $url"
	pprof_top "$E2E_TMP/p.pb.gz" >/dev/null
done <"$E2E_TMP/urls"
# go tool pprof reads a printed URL directly.
top=$(go tool pprof -top "$(head -1 "$E2E_TMP/urls")" 2>&1) || fail "go tool pprof -top URL: $top"
grep -q '^Type: ' <<<"$top" || fail "go tool pprof -top URL printed no profile: $top"

# Stored under the workload's service with the collector's labels.
for t in cpu heap goroutine; do
	assert_eq 1 "$(profefe_count "$svc" $t "namespace=$ns,pod=$svc-7d9f8c-x1,node=node-a,from=kube-profefe")" "$t of the Deployment's pod"
	assert_eq 1 "$(profefe_count "$svc-annotated" $t "namespace=$ns,pod=named,node=node-b,from=kube-profefe")" "$t of the annotated pod"
done
ids=$(profefe_profiles "$svc" heap | jq -r '.[].id')
grep -q "$ids" "$E2E_TMP/urls" || fail "the stored heap id $ids is not among the printed URLs"

# get services lists both services.
kubectl profefe get services --profefe-hostport "$PROFEFE_URL" >"$E2E_TMP/services" || fail "get services"
grep -qx "$svc" "$E2E_TMP/services" || fail "get services lacks $svc: $(cat "$E2E_TMP/services")"
grep -qx "$svc-annotated" "$E2E_TMP/services" || fail "get services lacks $svc-annotated"

# get profiles: every type by default, a table with a URL per profile.
kubectl profefe get profiles --service "$svc" --profefe-hostport "$PROFEFE_URL" >"$E2E_TMP/table" ||
	fail "get profiles"
head -1 "$E2E_TMP/table" | grep -Eq '^ID +TYPE +SERVICE +CREATED_AT +LABELS +URL$' ||
	fail "get profiles header: $(head -1 "$E2E_TMP/table")"
assert_eq 4 "$(wc -l <"$E2E_TMP/table")" "get profiles lines (header + 3)"
for t in cpu heap goroutine; do
	line=$(grep -E "^[0-9a-v]{20} +$t +$svc " "$E2E_TMP/table") || fail "no $t line: $(cat "$E2E_TMP/table")"
	assert_contains "$line" "from=kube-profefe" "labels column"
	assert_contains "$line" "pod=$svc-7d9f8c-x1" "labels column"
	url=$(awk '{print $NF}' <<<"$line")
	grep -qx "$url" "$E2E_TMP/urls" || fail "get profiles URL $url was not printed by capture"
done
# --profile-type, --labels, --from/--to as durations and RFC 3339.
out=$(kubectl profefe get profiles --service "$svc" --profile-type heap --profefe-hostport "$PROFEFE_URL")
assert_eq 2 "$(wc -l <<<"$out")" "--profile-type heap lines"
out=$(kubectl profefe get profiles --service "$svc" --labels "pod=$svc-7d9f8c-x1" --from 1h --to 0m \
	--profefe-hostport "$PROFEFE_URL")
assert_eq 4 "$(wc -l <<<"$out")" "--labels pod=... lines"
kubectl profefe get profiles --service "$svc" --labels pod=other --profefe-hostport "$PROFEFE_URL" \
	>"$E2E_TMP/none" 2>"$E2E_TMP/stderr" || fail "an empty result is not an error"
[[ ! -s $E2E_TMP/none ]] || fail "an empty result printed a table"
assert_contains "$(cat "$E2E_TMP/stderr")" "No profiles found" "empty result"
from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
out=$(kubectl profefe get profiles --service "$svc" --from "$from" --to 1h30m --profefe-hostport "$PROFEFE_URL" 2>&1 || true)
assert_contains "$out" "--to is before --from" "--to 1h30m ago with --from 1h ago"
out=$(kubectl profefe get profiles --service "$svc" --from "$from" --profefe-hostport "$PROFEFE_URL")
assert_eq 4 "$(wc -l <<<"$out")" "--from RFC 3339"
old=$(kubectl profefe get profiles --service "$svc" --from 72h --to 48h --profefe-hostport "$PROFEFE_URL" 2>/dev/null)
assert_eq "" "$old" "profiles 48..72h ago"
kubectl profefe get profiles --service "$svc" --from yesterday --profefe-hostport "$PROFEFE_URL" 2>/dev/null &&
	fail "--from yesterday accepted"

# get profile-types: profefe's types.
assert_eq "cpu heap block mutex goroutine threadcreate other trace" \
	"$(kubectl profefe get profile-types | tr '\n' ' ' | sed 's/ $//')" "get profile-types"

# The commands that take flags only: an argument is a usage error (exit 2) naming the command.
for cmd in "get services" "get profile-types" merge; do
	set +e
	kubectl profefe $cmd "$svc" --profefe-hostport "$PROFEFE_URL" >/dev/null 2>"$E2E_TMP/stderr"
	rc=$?
	set -e
	assert_eq 2 "$rc" "exit status of '$cmd $svc'"
	assert_contains "$(cat "$E2E_TMP/stderr")" "error: $cmd takes no arguments" "'$cmd $svc'"
done

# get profiles takes one ID (get profile ID, in plugin_web_test), not with --service.
for args in "get profiles a b" "get profile a --service $svc"; do
	set +e
	# shellcheck disable=SC2086
	kubectl profefe $args >/dev/null 2>"$E2E_TMP/stderr"
	rc=$?
	set -e
	assert_eq 2 "$rc" "exit status of '$args'"
done
assert_contains "$(cat "$E2E_TMP/stderr")" "error: get profile: an ID or --service, not both" "ID and --service"

# load: a captured file into another service, its type read from the profile.
dir=$E2E_TMP/files
mkdir -p "$dir"
kubectl profefe capture named -n $ns --profiles goroutine,threadcreate --output-dir "$dir" >"$E2E_TMP/files.txt" ||
	fail "capture to files"
loaded=$svc-loaded
kubectl profefe load "$dir"/*.pb.gz --service "$loaded" --labels env=test --profefe-hostport "$PROFEFE_URL" \
	>"$E2E_TMP/load" || fail "load failed"
assert_eq 2 "$(wc -l <"$E2E_TMP/load")" "load lines"
grep -q "profile-goroutine-named-.*: goroutine $PROFEFE_URL/api/0/profiles/" "$E2E_TMP/load" ||
	fail "load output: $(cat "$E2E_TMP/load")"
assert_eq 1 "$(profefe_count "$loaded" goroutine "env=test,from=kubectl-profefe-load")" "loaded goroutine"
assert_eq 1 "$(profefe_count "$loaded" threadcreate "env=test")" "loaded threadcreate"
id=$(profefe_profiles "$loaded" goroutine | jq -r '.[0].id')
profefe_get "$id" "$E2E_TMP/back.pb.gz"
cmp -s "$E2E_TMP/back.pb.gz" "$(grep goroutine "$E2E_TMP/files.txt")" || fail "the loaded profile differs from the file"
# --profile-type overrides, but must fit the file.
kubectl profefe load "$(grep goroutine "$E2E_TMP/files.txt")" --service "$loaded" --profile-type other \
	--profefe-hostport "$PROFEFE_URL" >/dev/null || fail "load --profile-type other"
assert_eq 1 "$(profefe_count "$loaded" other)" "loaded as other"
kubectl profefe load "$(grep goroutine "$E2E_TMP/files.txt")" --service "$loaded" --profile-type trace \
	--profefe-hostport "$PROFEFE_URL" >/dev/null 2>"$E2E_TMP/stderr" && fail "a pprof file loaded as a trace"
assert_contains "$(cat "$E2E_TMP/stderr")" "not a Go execution trace" "pprof as trace"

# A file that is not pprof: a clear error naming it, the good file still loaded, exit 1.
echo "hello, not a profile" >"$E2E_TMP/notes.txt"
set +e
kubectl profefe load "$E2E_TMP/notes.txt" "$(grep threadcreate "$E2E_TMP/files.txt")" --service "$loaded-2" \
	--profefe-hostport "$PROFEFE_URL" >"$E2E_TMP/load" 2>"$E2E_TMP/stderr"
rc=$?
set -e
assert_eq 1 "$rc" "exit status of load with a bad file"
assert_contains "$(cat "$E2E_TMP/stderr")" "error: $E2E_TMP/notes.txt: not a pprof profile" "bad file"
assert_eq 1 "$(wc -l <"$E2E_TMP/load")" "files loaded next to the bad one"
assert_eq 1 "$(profefe_count "$loaded-2" threadcreate)" "the good file of the mixed load"

# profefe down: one line (not one per profile type) saying what to do, exit 1;
# the address from PROFEFE_URL when no flag gives it, the flag winning over it.
down=http://127.0.0.1:1
todo="port-forward its Service (kubectl -n profefe port-forward svc/profefe 10100) or give its URL with --profefe-hostport or PROFEFE_URL"
check_down() { # WHAT ENDPOINT CMD...
	local what=$1 endpoint=$2 rc=0 line
	shift 2
	"$@" >/dev/null 2>"$E2E_TMP/stderr" || rc=$?
	assert_eq 1 "$rc" "$what: exit status"
	assert_eq 1 "$(wc -l <"$E2E_TMP/stderr")" "$what: stderr lines: $(cat "$E2E_TMP/stderr")"
	line=$(cat "$E2E_TMP/stderr")
	# The middle is curl's own words ("Failed to connect to 127.0.0.1 port 1 after 0 ms: ...").
	[[ $line == "error: profefe is not reachable at $down ($endpoint: Failed to connect to 127.0.0.1 port 1 "*"): $todo" ]] ||
		fail "$what: $line"
	assert_eq 1 "$(grep -o "$endpoint" <<<"$line" | wc -l)" "$what: the failure told once"
}
check_down "get profiles --profefe-hostport" "GET /api/0/profiles" \
	kubectl profefe get profiles --service x --profefe-hostport $down
check_down "get profiles, PROFEFE_URL" "GET /api/0/profiles" env PROFEFE_URL=$down kubectl profefe get profiles --service x
check_down "get services, the flag over PROFEFE_URL" "GET /api/0/services" \
	env PROFEFE_URL="$PROFEFE_URL" kubectl profefe get services --profefe-hostport $down
check_down "merge" "GET /api/0/profiles" kubectl profefe merge --service x --profile-type cpu --profefe-hostport $down
check_down "get profile ID" "profile x" kubectl profefe get profile x --profefe-hostport $down
# PROFEFE_URL alone reaches profefe; --help says so.
PROFEFE_URL=$PROFEFE_URL kubectl profefe get services >"$E2E_TMP/services" || fail "get services with PROFEFE_URL"
grep -qx "$svc" "$E2E_TMP/services" || fail "get services with PROFEFE_URL lacks $svc: $(cat "$E2E_TMP/services")"
for cmd in "get services" "get profiles" merge load; do
	# shellcheck disable=SC2086
	assert_contains "$(kubectl profefe $cmd --help)" "(default http://localhost:10100) [PROFEFE_URL]" "$cmd --help"
done
assert_contains "$(kubectl profefe --help)" "--profefe-hostport, else
\$PROFEFE_URL, else http://localhost:10100" "kubectl profefe --help"
echo "PASS plugin_profefe_test"
