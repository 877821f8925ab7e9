#!/usr/bin/env bash
# The main job on a fresh machine: a local cluster (real etcd, kube-apiserver,
# kubectl and a profefe-API server), profiled Go pods on two nodes, the
# kprofefe collector of node-a, and the profiles arriving in profefe.
#
#   scripts/demo.sh [--keep]     (--keep leaves the cluster and collector up)
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[[ ${1:-} == --keep ]] && keep=1
[ -x /usr/local/go/bin/go ] && export PATH="$PATH:/usr/local/go/bin"

export KPROFEFE_CLUSTER_DIR=${KPROFEFE_CLUSTER_DIR:-/tmp/kprofefe-demo}
export KPROFEFE_CLUSTER_INDEX=${KPROFEFE_CLUSTER_INDEX:-12}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

collector_pid=""
cleanup() {
	((keep)) && return 0
	[[ -n $collector_pid ]] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
	scripts/cluster.sh down >/dev/null 2>&1 || true
}
trap cleanup EXIT

say "dependencies (Debian packages, Go-built etcd, kube-apiserver, profefe, pprof targets)"
scripts/install-deps.sh

say "building kprofefe and kubectl-profefe"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build
build/kprofefe --version

say "local cluster in $KPROFEFE_CLUSTER_DIR"
scripts/cluster.sh up
eval "$(scripts/cluster.sh env)"

say "profiled pods: three on node-a, one on node-b, one on node-a without the annotation"
on=profefe.com/enable=true
scripts/cluster.sh pod add checkout-5f7d8c9b4-abcde --node node-a --namespace shop \
	--annotate $on --owner ReplicaSet/checkout-5f7d8c9b4 >/dev/null
scripts/cluster.sh pod add payments-0 --node node-a --namespace shop \
	--annotate $on --annotate profefe.com/service=payments --owner StatefulSet/payments >/dev/null
scripts/cluster.sh pod add batch-runner --node node-a --namespace jobs --annotate $on \
	--annotate profefe.com/port=7070 --annotate profefe.com/path=/internal/pprof >/dev/null
scripts/cluster.sh pod add search-7c9d6-xyz12 --node node-b --namespace shop \
	--annotate $on --owner ReplicaSet/search-7c9d6 >/dev/null
scripts/cluster.sh pod add not-profiled --node node-a --namespace shop >/dev/null
kubectl get pods -A -o wide

say "the collector for node-a (what the DaemonSet runs on each node)"
mkdir -p "$KPROFEFE_CLUSTER_DIR/demo-spool"
build/kprofefe --node-name node-a --kubeconfig "$KUBECONFIG" --profefe-hostport "$PROFEFE_URL" \
	--interval 30s --jitter 1s --cpu-seconds 5 --batch-interval 2s \
	--spool-dir "$KPROFEFE_CLUSTER_DIR/demo-spool" --metrics-addr 127.0.0.1:9102 \
	>"$KPROFEFE_CLUSTER_DIR/logs/kprofefe-demo.log" 2>&1 &
collector_pid=$!
echo "kprofefe pid $collector_pid, log $KPROFEFE_CLUSTER_DIR/logs/kprofefe-demo.log"

# count SERVICE TYPE: how many such profiles profefe holds (its 404 "nothing
# found" for none is an empty body).
count() {
	curl -sS -G "$PROFEFE_URL/api/0/profiles" --data-urlencode "service=$1" --data-urlencode "type=$2" \
		--data-urlencode from=2000-01-01T00:00:00 --data-urlencode to=2100-01-01T00:00:00 |
		jq '.body // [] | length'
}
# Waits until profefe holds a cpu profile of each node-a service.
deadline=$((SECONDS + 60))
for service in checkout payments batch-runner; do
	until (($(count "$service" cpu) > 0)); do
		kill -0 "$collector_pid" || { cat "$KPROFEFE_CLUSTER_DIR/logs/kprofefe-demo.log"; exit 1; }
		((SECONDS < deadline)) || { echo "demo: no profiles of $service after 60s" >&2; exit 1; }
		sleep 0.5
	done
done
head -12 "$KPROFEFE_CLUSTER_DIR/logs/kprofefe-demo.log"

say "what arrived in profefe ($PROFEFE_URL)"
curl -fsS "$PROFEFE_URL/api/0/services" | jq -c .body
for service in checkout payments batch-runner search; do
	printf '%-13s' "$service:"
	for type in cpu heap goroutine mutex block threadcreate; do
		printf ' %s=%s' "$type" "$(count "$service" "$type")"
	done
	echo
done
echo "(search runs on node-b: node-a's collector leaves it alone)"

say "one stored CPU profile of checkout, read by go tool pprof"
id=$(curl -fsS -G "$PROFEFE_URL/api/0/profiles" --data-urlencode service=checkout --data-urlencode type=cpu \
	--data-urlencode from=2000-01-01T00:00:00 --data-urlencode to=2100-01-01T00:00:00 | jq -r '.body[0].id')
curl -fsS -o "$KPROFEFE_CLUSTER_DIR/checkout-cpu.pb.gz" "$PROFEFE_URL/api/0/profiles/$id"
go tool pprof -top "$KPROFEFE_CLUSTER_DIR/checkout-cpu.pb.gz" 2>/dev/null | head -12

say "the collector's own metrics (http://127.0.0.1:9102/metrics)"
curl -fsS http://127.0.0.1:9102/metrics | grep -E '^kprofefe_(targets|fetch_total|uploads_total)' | head -12

if ((keep)); then
	say "left running: eval \"\$(KPROFEFE_CLUSTER_DIR=$KPROFEFE_CLUSTER_DIR scripts/cluster.sh env)\"; stop with kill $collector_pid; KPROFEFE_CLUSTER_DIR=$KPROFEFE_CLUSTER_DIR scripts/cluster.sh down"
else
	say "done: stopping the collector and the cluster"
fi
