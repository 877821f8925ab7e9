#!/usr/bin/env bash
# e2e: the test cluster's profefe: version, upload with labels, query by
# service/type/time/labels, fetch by id; and the points where the stand-in
# follows the real profefe (run with KPROFEFE_PROFEFE_BIN against both): label
# fields, created_at precedence, empty profiles refused, errors and 404.
# (Stop/start: cluster_lifecycle_test.)
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"

v=$(curl -fsS --noproxy '*' "$PROFEFE_URL/api/0/version") || fail "profefe /api/0/version"
assert_eq 200 "$(jq -r .code <<<"$v")" "version code"

# A real profile to upload: the pprof target's heap.
ip=$(pod_add prof-src --node node-a --namespace e2e-profefe)
curl -fsS --noproxy '*' -o "$E2E_TMP/heap.pb.gz" "http://$ip:6060/debug/pprof/heap" || fail "GET heap"
svc=e2e-svc-$RANDOM$RANDOM
resp=$(curl -fsS --noproxy '*' -X POST --data-binary @"$E2E_TMP/heap.pb.gz" \
	"$PROFEFE_URL/api/0/profiles?service=$svc&type=heap&labels=k=v,pod=prof-src") || fail "POST profile"
id=$(jq -r .body.id <<<"$resp")
[[ -n $id && $id != null ]] || fail "no id in $resp"

list=$(profefe_profiles "$svc" heap "k=v")
assert_eq "$id" "$(jq -r '.[0].id' <<<"$list")" "listed id"
assert_eq 1 "$(profefe_count "$svc" heap)" "count"
assert_eq 0 "$(profefe_count "$svc" heap "k=other")" "count with other label"
assert_eq 0 "$(profefe_count "$svc" cpu)" "count of another type"
profefe_get "$id" "$E2E_TMP/got.pb.gz"
cmp -s "$E2E_TMP/heap.pb.gz" "$E2E_TMP/got.pb.gz" || fail "stored profile differs from the uploaded one"
pprof_top "$E2E_TMP/got.pb.gz" >/dev/null
assert_eq '[{"key":"k","value":"v"},{"key":"pod","value":"prof-src"}]' "$(jq -c .body.labels <<<"$resp")" "labels of the reply"

# post FILE QUERY: POSTs FILE; prints the reply (any status).
post() {
	curl -sS --noproxy '*' -X POST --data-binary @"$1" "$PROFEFE_URL/api/0/profiles?service=$svc&$2"
}
# created_at: the pprof time_nanos, else the created_at parameter, else profefe's clock.
# A profile without time_nanos: one sample of samples/count.
printf '\x0a\x04\x08\x01\x10\x02\x12\x03\x12\x01\x01\x32\x00\x32\x07samples\x32\x05count' |
	gzip >"$E2E_TMP/notime.pb.gz"
r=$(post "$E2E_TMP/notime.pb.gz" "type=other&created_at=2021-03-04T05:06:07")
assert_eq 2021-03-04T05:06:07Z "$(jq -r .body.created_at <<<"$r")" "created_at parameter: $r"
before=$(date -u +%s)
r=$(post "$E2E_TMP/notime.pb.gz" "type=other")
t=$(date -u -d "$(jq -r .body.created_at <<<"$r")" +%s)
((t >= before - 1 && t <= $(date -u +%s))) || fail "created_at without time_nanos nor parameter is not now: $r"
r=$(post "$E2E_TMP/heap.pb.gz" "type=heap&created_at=2021-03-04T05:06:07")
t=$(date -u -d "$(jq -r .body.created_at <<<"$r")" +%s)
((t >= before - 60)) || fail "created_at parameter won over the profile's time_nanos: $r"
assert_eq '{"code":400,"error":"bad request: bad \"created_at\" \"yesterday\": time in unsupported format \"yesterday\""}' \
	"$(post "$E2E_TMP/heap.pb.gz" "type=heap&created_at=yesterday")" "bad created_at"
# An empty profile (a mutex profile with mutex profiling off) and one that is not pprof.
assert_eq '{"code":400,"error":"malformed profile (could not parse pprof profile: profile is empty: no samples)"}' \
	"$(post "$E2E_ROOT/tests/data/pprof/mutex-empty.pb.gz" "type=mutex")" "empty profile"
echo "not pprof" >"$E2E_TMP/junk"
assert_contains "$(post "$E2E_TMP/junk" "type=heap")" '{"code":400,"error":"malformed profile (could not parse pprof profile: ' "junk profile"
assert_eq '{"code":400,"error":"bad request: unknown profile type"}' "$(post "$E2E_TMP/heap.pb.gz" "")" "no type"
# Queries: nothing found is a 404; from and to are both required.
q() { curl -sS --noproxy '*' -w ' %{http_code}' "$PROFEFE_URL/api/0/profiles?$1" | tr -d '\n'; }
assert_eq '{"code":404,"error":"nothing found"} 404' \
	"$(q "service=none-$svc&type=heap&from=$(profefe_time -60)&to=$(profefe_time 60)")" "nothing found"
assert_eq '{"code":400,"error":"bad request: missing \"to\""} 400' "$(q "service=$svc&type=heap&from=$(profefe_time -60)")" "no to"
assert_eq '{"code":400,"error":"bad request: missing \"from\""} 400' "$(q "service=$svc&type=heap&to=$(profefe_time -60)")" "no from"

echo "PASS cluster_profefe_test"
