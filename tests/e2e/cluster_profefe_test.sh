#!/usr/bin/env bash
# e2e: the test cluster's profefe: version, upload with labels, query by
# service/type/time/labels, fetch by id. (Stop/start: cluster_lifecycle_test.)
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

echo "PASS cluster_profefe_test"
