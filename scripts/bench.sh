#!/usr/bin/env bash
# Benchmark of the collector over N real pprof target pods on one node: round
# wall time against its floor (--cpu-seconds), peak RSS, CPU time per profile,
# and upload throughput (a spool of one round drained into profefe).
#
#   scripts/bench.sh [--pods N] [--cpu-seconds S] [--hostile [--https]] [--godeltaprof] [--logs DIR] [--full-target-load]
#   scripts/bench.sh --pod-cost [--pods N] [--pod-cost-seconds S] [--profiles LIST]
#   (defaults 110 pods, 10 s)
#
# The targets' own CPU work is sized to this machine: all N pods together,
# while profiled, burn at most a fifth of its cores, so the round measures the
# collector and not a machine its pods overrun (on a real node each pod has
# CPU of its own). --full-target-load keeps the target's defaults (10 ms/s
# while profiled and a 50 ms burst per CPU profile), which past about 150 pods
# need more CPU than two cores have.
#
# --logs DIR keeps every collector log there (default: a temporary directory,
# removed at the end; the report names where failures were counted).
#
# --hostile: then one more round with a pod of every tests/targets/hostile-pod
# mode beside the good ones; its peak RSS and the good pods' round time as
# ratios against the round without them, measured in this same run.
#
# --https (with --hostile): then the same two rounds with N more pods, on a
# node of their own, serving pprof over https only (a CA made here, verified
# by --pod-ca): alone, then beside a hostile pod of every mode served over
# https and the https faults (a self-signed certificate, one of another CA,
# one for another name, plain http on the https port). Their round and peak
# RSS as ratios against the plain pods' rounds of this same run.
#
# --godeltaprof: the pods also serve godeltaprof (pprof-target --godeltaprof),
# and one more round takes their block and mutex from it (--delta=godeltaprof):
# its round and peak RSS as ratios against the ?seconds= deltas' round and the
# pods' floor (their CPU profiles alone), measured in this same run.
#
# --pod-cost: what collection costs the profiled pods, instead of the rounds.
# The pods' CPU time (utime+stime of every target process, /proc/PID/stat)
# over --pod-cost-seconds (default 120: two rounds at the default --interval
# of 60s) without a collector, with one at its defaults (?seconds= deltas),
# with one taking godeltaprof deltas (--delta=godeltaprof), and without again.
# The pods' own work does not change while profiled (--cpu-ms-profiling 1,
# no burst), so what they spend beyond the runs without a collector is the
# collection's: the CPU profiler, and serializing (and, for ?seconds= deltas,
# parsing and subtracting) profiles. --profiles LIST is passed to the collector
# (default: its own default types).
#
# Runs on its own cluster instance (KPROFEFE_CLUSTER_DIR, default
# /tmp/kprofefe-bench), brought up and down here. Figures, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."

pods=110
cpu_seconds=10
hostile=0
https=0
godeltaprof=0
pod_cost=0
pod_cost_s=120
cost_profiles=""
logs=""
full_target_load=0
while (($#)); do
	case $1 in
	--pods) pods=$2; shift 2 ;;
	--cpu-seconds) cpu_seconds=$2; shift 2 ;;
	--hostile) hostile=1; shift ;;
	--https) https=1; shift ;;
	--godeltaprof) godeltaprof=1; shift ;;
	--pod-cost) pod_cost=1; shift ;;
	--pod-cost-seconds) pod_cost_s=$2; shift 2 ;;
	--profiles) cost_profiles=$2; shift 2 ;;
	--logs) logs=$2; shift 2 ;;
	--full-target-load) full_target_load=1; shift ;;
	*) echo "usage: scripts/bench.sh [--pods N] [--cpu-seconds S] [--hostile [--https]] [--godeltaprof] [--logs DIR] [--full-target-load]" >&2
	   echo "       scripts/bench.sh --pod-cost [--pods N] [--pod-cost-seconds S] [--profiles LIST]" >&2; exit 2 ;;
	esac
done
if ((https && !hostile)); then
	echo "bench.sh: --https goes with --hostile (it runs the hostile rounds over https)" >&2
	exit 2
fi

export KPROFEFE_CLUSTER_DIR=${KPROFEFE_CLUSTER_DIR:-/tmp/kprofefe-bench}
export KPROFEFE_CLUSTER_INDEX=${KPROFEFE_CLUSTER_INDEX:-11}
work=$(mktemp -d)
collector_pid=""
cleanup() {
	[[ -n $collector_pid ]] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
	scripts/cluster.sh down >/dev/null 2>&1 || true
	if [[ -n $logs ]]; then
		mkdir -p "$logs" && cp "$work"/*.log "$logs"/ 2>/dev/null
		say "logs kept in $logs"
	fi
	rm -rf "$work"
}
trap cleanup EXIT

say() { printf 'bench: %s\n' "$*" >&2; }
if ((hostile)); then
	# shellcheck source=scripts/bench_hostile.sh
	source scripts/bench_hostile.sh
	hostile_pods_fit || exit 2
fi

say "building the collector (Release)"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target kprofefe bench_spool >/dev/null
bin=$PWD/build-release/kprofefe

say "starting the cluster in $KPROFEFE_CLUSTER_DIR"
scripts/cluster.sh up >/dev/null
eval "$(scripts/cluster.sh env)"

# The collector runs as in a DaemonSet: in-cluster service-account token,
# allowed to list and watch pods and nothing else.
say "service account bench/kprofefe-bench with pods list+watch"
kubectl create namespace bench >/dev/null 2>&1 || true
kubectl -n bench create serviceaccount kprofefe-bench >/dev/null
kubectl create clusterrole kprofefe-bench --verb=list,watch --resource=pods >/dev/null
kubectl create clusterrolebinding kprofefe-bench --clusterrole=kprofefe-bench \
	--serviceaccount=bench:kprofefe-bench >/dev/null
mkdir -p "$work/sa"
kubectl -n bench create token kprofefe-bench --duration=1h >"$work/sa/token"
cp "$KPROFEFE_CA" "$work/sa/ca.crt"
echo bench >"$work/sa/namespace"
export KPROFEFE_SERVICEACCOUNT_DIR=$work/sa
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=${KPROFEFE_APISERVER##*:}

target_ms=10
if ((pod_cost)); then
	target_ms=1
	export KPROFEFE_TARGET_ARGS="--godeltaprof --cpu-ms-profiling 1 --cpu-burst-ms 0"
elif ((!full_target_load)); then
	target_ms=$((200 * $(nproc) / pods))
	((target_ms < 1)) && target_ms=1
	((target_ms > 10)) && target_ms=10
	export KPROFEFE_TARGET_ARGS="--cpu-ms-profiling $target_ms --cpu-burst-ms $target_ms"
fi
if ((godeltaprof)); then
	export KPROFEFE_TARGET_ARGS="${KPROFEFE_TARGET_ARGS:-} --godeltaprof"
fi
say "adding $pods pprof target pods on node bench (each burns $target_ms ms/s while profiled)"
seq 0 $((pods - 1)) | xargs -P4 -I{} scripts/cluster.sh pod add "target-{}" --node bench \
	--namespace bench --annotate profefe.com/enable=true --annotate profefe.com/service=bench >/dev/null

# log_ms FILE MSG: the time of the first line with msg=MSG, in epoch milliseconds.
log_ms() {
	local ts
	ts=$(grep -m1 "msg=\"$2\"\|msg=$2 " "$1" | sed -n 's/^time=\([^ ]*\) .*/\1/p')
	[[ -n $ts ]] || { say "no \"$2\" in $1"; tail -5 "$1" >&2; exit 1; }
	date -d "$ts" +%s%3N
}

# log_field FILE MSG KEY: the value of KEY on the first line with msg=MSG.
log_field() {
	grep -m1 "msg=\"$2\"\|msg=$2 " "$1" | sed -n "s/.* $3=\([^ ]*\).*/\1/p"
}

collect_once() { # LOG SPOOL [FLAGS...]: one --once round
	local log=$1 spool=$2
	shift 2
	"$bin" --once --node-name bench --profefe-hostport "$PROFEFE_URL" --metrics-addr "" \
		--cpu-seconds "$cpu_seconds" --spool-dir "$spool" "$@" >"$log" 2>&1 || true
}

if ((pod_cost)); then
	# shellcheck source=scripts/bench_pod_cost.sh
	source scripts/bench_pod_cost.sh
	bench_pod_cost
	exit 0
fi

say "baseline: --once on a node with no pods"
"$bin" --once --node-name bench-empty --profefe-hostport "$PROFEFE_URL" --metrics-addr "" \
	--spool-dir "$work/spool0" >"$work/baseline.log" 2>&1
base_rss_kb=$(log_field "$work/baseline.log" stopped peak_rss_kib)

say "round: --once over $pods pods, --cpu-seconds $cpu_seconds"
collect_once "$work/round.log" "$work/spool"
wall_ms=$(($(log_ms "$work/round.log" stopped) - $(log_ms "$work/round.log" starting)))
rss_kb=$(log_field "$work/round.log" stopped peak_rss_kib)
cpu_used=$(log_field "$work/round.log" stopped cpu_seconds)
round_ms=$(($(log_ms "$work/round.log" "round finished") - $(log_ms "$work/round.log" "pods listed")))
fetched=$(grep -c '' < <(curl -fsS -G "$PROFEFE_URL/api/0/profiles" --data-urlencode service=bench \
	--data-urlencode type=heap --data-urlencode from=2000-01-01T00:00:00 \
	--data-urlencode to=2100-01-01T00:00:00 | jq -c '.body[]'))
failures=$(sed -n 's/.*msg="round finished".* fetch_failures=\([0-9]*\).*/\1/p' "$work/round.log")
profiles=$((pods * 6 - failures))
# fetch_reasons LOG: "reason=count ..." of the fetches that failed in LOG.
fetch_reasons() {
	sed -n 's/.*msg="profile fetch failed".* reason=\([^ ]*\).*/\1/p' "$1" | sort | uniq -c |
		awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }'
}
reasons=$(fetch_reasons "$work/round.log")

# The same round without delta profiles (block and mutex answered at once): the
# baseline of what the deltas cost.
say "round without deltas: --once --delta=false"
collect_once "$work/round-cumulative.log" "$work/spool-cumulative" --delta=false
cum_round_ms=$(($(log_ms "$work/round-cumulative.log" "round finished") - $(log_ms "$work/round-cumulative.log" "pods listed")))
cum_rss_kb=$(log_field "$work/round-cumulative.log" stopped peak_rss_kib)
if ((godeltaprof)); then
	say "round with godeltaprof deltas: --once --delta=godeltaprof"
	collect_once "$work/round-godeltaprof.log" "$work/spool-godeltaprof" --delta=godeltaprof
	gdp_round_ms=$(($(log_ms "$work/round-godeltaprof.log" "round finished") - $(log_ms "$work/round-godeltaprof.log" "pods listed")))
	gdp_rss_kb=$(log_field "$work/round-godeltaprof.log" stopped peak_rss_kib)
	gdp_reasons=$(fetch_reasons "$work/round-godeltaprof.log")
	gdp_stored=$(log_field "$work/round-godeltaprof.log" stopped profiles_collected)
fi
# Floors, by curl --parallel (at most 300 transfers a process, so several
# processes), in this same run:
# - a plain client: the round's requests (the same types, the deltas'
#   ?seconds= too), all at once. What the round takes beyond this is the
#   collector's;
# - the pods': the requests that wait out --cpu-seconds alone (the CPU
#   profiles, with the block and mutex deltas or without), nothing else asked
#   of the pods. No client's round can end before these answers, so what they
#   take beyond --cpu-seconds is the pods' and the machine's.
# curl_floor PATH...: milliseconds for every pod's requests of these paths.
curl_floor() {
	local dir ms pid pids=()
	dir=$(mktemp -d -p "$work" curl.XXXXXX)
	kubectl get pods -n bench -o json | jq -r '.items[].status.podIP as $ip | $ARGS.positional[] |
		"url = \"http://\($ip):6060/debug/pprof/\(.)\"\noutput = \"/dev/null\""' --args "$@" |
		split -l 600 - "$dir/part-"
	ms=$(date +%s%3N)
	for f in "$dir"/part-*; do
		curl -sS --noproxy '*' --parallel --parallel-immediate --parallel-max 300 -K "$f" 2>>"$work/curl.log" &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do wait "$pid"; done
	echo $(($(date +%s%3N) - ms))
}
say "floors: the same $((pods * 6)) requests by curl, all at once; the long ones alone, with deltas and without"
curl_ms=$(curl_floor "profile?seconds=$cpu_seconds" heap goroutine threadcreate \
	"block?seconds=$cpu_seconds" "mutex?seconds=$cpu_seconds")
long_only_ms=$(curl_floor "profile?seconds=$cpu_seconds" "block?seconds=$cpu_seconds" "mutex?seconds=$cpu_seconds")
cpu_only_ms=$(curl_floor "profile?seconds=$cpu_seconds")
((hostile)) && bench_hostile

say "spooling cost: 500 durable writes of 16 KiB on this disk"
read -r spool_put_ms spool_take_ms < <(build-release/bench_spool "$work/bench-spool" 500 16384 |
	sed -n 's/.* put_ms=\([^ ]*\) .* peek_remove_ms=\([^ ]*\).*/\1 \2/p')

say "upload throughput: a round spooled while profefe is down, then drained"
scripts/cluster.sh profefe stop >/dev/null
collect_once "$work/spooling.log" "$work/spool2"
spooled=$(find "$work/spool2" -maxdepth 1 -name '[!.]*.prof' | wc -l)
spool_bytes=$(find "$work/spool2" -maxdepth 1 -name '[!.]*.prof' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
scripts/cluster.sh profefe start >/dev/null
start_ms=$(date +%s%3N)
"$bin" --node-name bench-drain --profefe-hostport "$PROFEFE_URL" \
	--metrics-addr "" --spool-dir "$work/spool2" --spool-drain-rate 100000 \
	--upload-concurrency 4 >"$work/drain.log" 2>&1 &
collector_pid=$!
while (($(find "$work/spool2" -maxdepth 1 -name '[!.]*.prof' | wc -l) > 0)); do
	kill -0 "$collector_pid" 2>/dev/null || { say "drain collector died"; tail "$work/drain.log" >&2; exit 1; }
	sleep 0.05
done
drain_ms=$(($(date +%s%3N) - start_ms))
kill "$collector_pid"; wait "$collector_pid" || true; collector_pid=""

awk -v pods="$pods" -v cpu="$cpu_seconds" -v round_ms="$round_ms" -v rss="$rss_kb" -v base_rss="$base_rss_kb" \
	-v cpu_used="$cpu_used" -v put_ms="$spool_put_ms" -v take_ms="$spool_take_ms" -v profiles="$profiles" -v failures="$failures" \
	-v heap="$fetched" -v spooled="$spooled" -v sbytes="$spool_bytes" -v drain_ms="$drain_ms" -v wall_ms="$wall_ms" \
	-v cum_round_ms="$cum_round_ms" -v cum_rss="$cum_rss_kb" -v reasons="$reasons" -v curl_ms="$curl_ms" -v cpu_only_ms="$cpu_only_ms" -v long_only_ms="$long_only_ms" 'BEGIN {
	printf "pods                      %d (heap profiles in profefe: %d, fetch failures: %d%s)\n", pods, heap, failures, reasons == "" ? "" : ": " reasons
	printf "round wall time           %.2f s = %.3f x the floor of %d s (target <= 1.05)\n", round_ms / 1000, round_ms / 1000 / cpu, cpu
	printf "  without deltas          %.2f s = %.3f x the floor; with deltas %.3f x this, peak RSS %.2f x its %.1f MiB\n", cum_round_ms / 1000, cum_round_ms / 1000 / cpu, round_ms / cum_round_ms, rss / cum_rss, cum_rss / 1024
	printf "  curl, the same requests %.2f s = %.3f x the floor; the round is %.3f x this\n", curl_ms / 1000, curl_ms / 1000 / cpu, round_ms / curl_ms
	printf "  pods, long ones alone   %.2f s = %.3f x the floor with deltas; the round is %.3f x this\n", long_only_ms / 1000, long_only_ms / 1000 / cpu, round_ms / long_only_ms
	printf "  pods, CPU alone         %.2f s = %.3f x the floor without; the round without deltas is %.3f x this\n", cpu_only_ms / 1000, cpu_only_ms / 1000 / cpu, cum_round_ms / cpu_only_ms
	printf "whole --once run          %.2f s (list, round, final flush)\n", wall_ms / 1000
	printf "peak RSS                  %.1f MiB (target <= 20) = %.2f x the %.1f MiB of a collector with no pods\n", rss / 1024, rss / base_rss, base_rss / 1024
	printf "CPU time per profile      %.2f ms (%.2f s user+sys for %d profiles)\n", cpu_used * 1000 / profiles, cpu_used, profiles
	printf "spooling cost             %.2f ms per durable write (16 KiB), %.2f ms to read, check and delete\n", put_ms, take_ms
	printf "upload throughput         %.0f profiles/s, %.1f MiB/s (%d spooled profiles, %.1f MiB, drained in %.2f s)\n", spooled / (drain_ms / 1000), sbytes / 1048576 / (drain_ms / 1000), spooled, sbytes / 1048576, drain_ms / 1000
}'
if ((godeltaprof)); then
	awk -v cpu="$cpu_seconds" -v round_ms="$round_ms" -v rss="$rss_kb" -v g_ms="$gdp_round_ms" -v g_rss="$gdp_rss_kb" \
		-v cpu_only_ms="$cpu_only_ms" -v long_only_ms="$long_only_ms" -v reasons="$gdp_reasons" -v stored="$gdp_stored" 'BEGIN {
	printf "godeltaprof deltas        round %.2f s = %.3f x the floor of the pods (their CPU profiles alone, %.2f s; target <= 1.02)%s\n", g_ms / 1000, g_ms / cpu_only_ms, cpu_only_ms / 1000, reasons == "" ? "" : ", fetch failures: " reasons
	printf "  %d profiles stored: the block and mutex answers are the first of each pod, which prime godeltaprof and are not stored\n", stored
	printf "  against ?seconds=       round %.3f x theirs (%.2f s = %.3f x their floor of %.2f s), peak RSS %.1f MiB = %.3f x their %.1f MiB (target <= 18 MiB)\n", g_ms / round_ms, round_ms / 1000, round_ms / long_only_ms, long_only_ms / 1000, g_rss / 1024, g_rss / rss, rss / 1024
}'
fi
((hostile)) && bench_hostile_report
exit 0
