#!/usr/bin/env bash
# Shared helpers for the e2e tests (source it): assertions, polling, pprof
# checks, and small clients for profefe and the test cluster's API server.
# Expects the environment of `eval "$(scripts/cluster.sh env)"`.

set -euo pipefail

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CLUSTER="$E2E_ROOT/scripts/cluster.sh"

# e2e_caller: where the failing check is: "file:line" of the first call on the
# stack made from the test itself rather than from lib.sh or a *_lib.sh, with
# the test's function around it (Kubernetes' kube::test::get_caller is the
# model). A fail inside wait_for or metric_is names the test line that called
# them, not a line of the harness.
e2e_caller() {
	local i file
	for ((i = 1; i < ${#BASH_SOURCE[@]}; i++)); do
		file=${BASH_SOURCE[i]}
		[[ $file == */lib.sh || $file == lib.sh || $file == *_lib.sh ]] && continue
		printf '%s:%s' "${file##*/}" "${BASH_LINENO[i - 1]}"
		[[ ${FUNCNAME[i]:-main} == main ]] || printf ' in %s' "${FUNCNAME[i]}"
		return 0
	done
	printf '%s' "${0##*/}"
}

# fail MSG: prints MSG with the test's name and the file:line of the failing
# check, and exits 1.
fail() {
	local where
	where=$(e2e_caller)
	[[ $where == "${0##*/}"* ]] || where="${0##*/}, $where"
	echo "FAIL ($where): $*" >&2
	exit 1
}

# log_json FILE [JQ-ARGS...] FILTER: FILTER (jq) applied to every line of
# FILE, a log written with --log-format json, printing strings raw and objects
# on one line each; lines that are not JSON (a sanitizer's report, a runtime's
# panic) are skipped. JQ-ARGS go to jq as they are: --arg NAME VALUE makes
# $NAME. For example
#   log_json c.log 'select(.msg == "serving metrics") | .port'
log_json() {
	local file=$1
	shift
	local args=("${@:1:$#-1}") filter=${!#}
	jq -Rrc "${args[@]}" "fromjson? | $filter" "$file"
}

# log_json_has FILE [JQ-ARGS...] FILTER: some line of FILE gives FILTER a value
# other than false or null, e.g.
#   log_json_has c.log 'select(.msg == "pods listed")'
#   log_json_has c.log --arg f "$f" '.msg == "spool file quarantined" and .file == $f'
# New assertions on a collector's log read it so, not by grepping logfmt text.
log_json_has() {
	local file=$1
	shift
	local args=("${@:1:$#-1}") filter=${!#}
	[[ -f $file ]] || return 1
	# reduce, not any/2 or first: jq 1.6's `?` catches their break and goes on
	jq -Rn -e "${args[@]}" \
		"reduce (inputs | fromjson? | ($filter) | select(. != null and . != false)) as \$x (false; true)" \
		"$file" >/dev/null
}

# wait_for TIMEOUT_SECONDS CMD...: polls CMD every 0.2s until it succeeds;
# fails naming CMD once TIMEOUT_SECONDS have passed.
wait_for() {
	local timeout=$1
	shift
	local deadline=$(($(date +%s%N) + timeout * 1000000000))
	until "$@" >/dev/null 2>&1; do
		(($(date +%s%N) < deadline)) || fail "timed out after ${timeout}s waiting for: $*"
		sleep 0.2
	done
}

# pprof_top FILE: fails unless `go tool pprof -top` parses FILE; prints its output.
pprof_top() { # FILE [PPROF FLAGS...]
	local out f=$1
	shift
	[[ -s $f ]] || fail "pprof file $f is missing or empty"
	out=$(go tool pprof -top "$@" "$f" 2>&1) || fail "go tool pprof -top $f failed: $out"
	grep -q '^Type: ' <<<"$out" || fail "go tool pprof -top $f printed no profile: $out"
	printf '%s\n' "$out"
}

# is_gzip FILE: the file starts with the gzip magic 1f 8b.
is_gzip() {
	[[ $(head -c2 "$1" | od -An -tx1 | tr -d ' \n') == 1f8b ]]
}

# sanitizer_build BIN: BIN links AddressSanitizer. (Not `ldd | grep -q`: grep
# stops at the first match, ldd dies of SIGPIPE, and pipefail fails the test.)
sanitizer_build() {
	[[ $(ldd "$1") == *libasan* ]]
}

# assert_eq WANT GOT [WHAT]
assert_eq() {
	[[ $1 == "$2" ]] || fail "${3:-value}: want '$1', got '$2'"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
	[[ $1 == *"$2"* ]] || fail "${3:-output} does not contain '$2': $1"
}

# http_code URL [CURL-ARGS...]: prints only the HTTP status (000 when unreachable).
http_code() {
	local url=$1
	shift
	curl -s --noproxy '*' -o /dev/null -w '%{http_code}' "$@" "$url" || true
}

# kapi PATH [CURL-ARGS...]: GET from the API server as the cluster admin.
kapi() {
	local path=$1
	shift
	curl -fsS --noproxy '*' --cacert "$KPROFEFE_CA" --cert "$KPROFEFE_ADMIN_CERT" \
		--key "$KPROFEFE_ADMIN_KEY" "$@" "$KPROFEFE_APISERVER$path"
}

# profefe_time SECONDS-OFFSET: a profefe query time (UTC, 2006-01-02T15:04:05).
profefe_time() {
	date -u -d "@$(($(date +%s) + ${1:-0}))" +%Y-%m-%dT%H:%M:%S
}

# profefe_profiles SERVICE TYPE [LABELS]: JSON of profiles stored in the last
# day (empty list when none) that carry every k=v of LABELS. Labels are matched
# here, as the product does: the real profefe's labels= query misses profiles
# that reached it out of time order (docs/plugin.md, "Label filters").
profefe_profiles() {
	local out
	out=$(curl -sS --noproxy '*' -G "$PROFEFE_URL/api/0/profiles" --data-urlencode "service=$1" \
		--data-urlencode "type=$2" \
		--data-urlencode "from=$(profefe_time -86400)" --data-urlencode "to=$(profefe_time 3600)")
	jq -c --arg labels "${3:-}" '
		($labels | split(",") | map(select(length > 0) | split("=") |
			{key: .[0], value: (.[1:] | join("="))})) as $want |
		(.body // []) | map(select(. as $p |
			all($want[]; . as $w | any(($p.labels // [])[]; .key == $w.key and .value == $w.value))))' <<<"$out"
}

# profefe_count SERVICE TYPE [LABELS]: how many such profiles profefe holds.
profefe_count() {
	profefe_profiles "$@" | jq length
}

# profefe_get ID FILE: downloads one stored profile.
profefe_get() {
	curl -fsS --noproxy '*' -o "$2" "$PROFEFE_URL/api/0/profiles/$1" || fail "GET profile $1 failed"
}

# Every test gets a temporary directory, removed at exit after its pods.
E2E_TMP=$(mktemp -d)
: >"$E2E_TMP/.pods"
trap e2e_cleanup EXIT

# e2e_cleanup: runs the test's own e2e_extra_cleanup (if it defines one),
# deletes the pods it added, removes E2E_TMP. Installed as the EXIT trap.
e2e_cleanup() {
	local rc=$? p
	if declare -F e2e_extra_cleanup >/dev/null; then e2e_extra_cleanup || true; fi
	while read -r p; do
		"$CLUSTER" pod del "${p#*/}" --namespace "${p%%/*}" >/dev/null 2>&1 || true
	done <"$E2E_TMP/.pods"
	# KPROFEFE_E2E_KEEP=DIR keeps a failed test's files (logs, spools) there.
	if ((rc != 0)) && [[ -n ${KPROFEFE_E2E_KEEP:-} ]]; then
		mkdir -p "$KPROFEFE_E2E_KEEP"
		cp -a "$E2E_TMP" "$KPROFEFE_E2E_KEEP/$(basename "$0" .sh)-$$" 2>/dev/null || true
	fi
	rm -rf "$E2E_TMP"
	return "$rc"
}

# pod_add NAME ARGS...: `scripts/cluster.sh pod add`, printing the pod IP
# (ARGS as for pod add; --namespace must be spelled so); the pod is deleted
# when the test exits (recorded in a file, so this works from
# $(...) subshells too).
pod_add() {
	local name=$1 ns=default i j
	shift
	for ((i = 1; i <= $#; i++)); do
		if [[ ${!i} == --namespace ]]; then j=$((i + 1)); ns=${!j}; fi
	done
	# A pod left by an earlier run that was killed before its cleanup.
	"$CLUSTER" pod del "$name" --namespace "$ns" >/dev/null 2>&1 || true
	echo "$ns/$name" >>"$E2E_TMP/.pods"
	"$CLUSTER" pod add "$name" "$@"
}

# has_samples: reads `go tool pprof -top` output on stdin; true when the
# profile's total is not zero.
has_samples() {
	local total
	total=$(sed -n 's/^Showing nodes accounting for .* of \(.*\) total.*/\1/p')
	[[ -n $total && ! $total =~ ^0(\.0*)?[a-zµA-Z]*$ ]]
}

# as_objects: kubectl YAML or JSON on stdin as one JSON array of objects,
# sorted by kind, namespace and name. A conversion only (no validation, which
# costs a schema download each time): the tests' real applies validate.
as_objects() {
	kubectl create --dry-run=client --validate=false -o json -f - |
		jq -s '[.[] | if .kind == "List" then .items[] else . end] | sort_by(.kind, .metadata.namespace // "", .metadata.name)'
}

# namespace_finalize NS: what the namespace controller (not running here) does
# for a deleted namespace once nothing is left in it: clear its finalizers.
namespace_finalize() {
	local ns=$1 left
	kubectl get namespace "$ns" >/dev/null 2>&1 || return 0
	kubectl delete serviceaccount default -n "$ns" --ignore-not-found >/dev/null
	left=$(kubectl get all,configmaps,secrets,serviceaccounts,roles,rolebindings,persistentvolumeclaims -n "$ns" -o name 2>/dev/null || true)
	[[ -z $left ]] || { echo "namespace $ns still holds: $left" >&2; return 1; }
	kubectl get namespace "$ns" -o json | jq '.spec.finalizers = []' |
		kubectl replace --raw "/api/v1/namespaces/$ns/finalize" -f - >/dev/null
	wait_for 20 bash -c "! kubectl get namespace $ns"
}
