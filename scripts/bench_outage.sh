#!/usr/bin/env bash
# Benchmark of the event loop during a profefe outage: N real pprof target
# pods on one node, a collector running as in the DaemonSet (default flags),
# profefe stopped for --outage seconds while every fresh profile goes to the
# spool. Reports, per collector binary and per spool disk, the p99 of
# kprofefe_loop_lag_seconds (how late the loop's 100 ms heartbeat ran; a
# bucket's upper bound, from the histogram's increase over the outage), the
# fetch failures (kprofefe_fetch_total with a result other than ok), the
# profiles spooled and, on the slow disk, the syncs made.
#
#   scripts/bench_outage.sh [--pods N] [--outage S] [--slow-ms MS] [--disks tmpfs,slow]
#                           NAME=KPROFEFE_BINARY...
#   (defaults 250 pods, 300 s, 20 ms, both disks)
#
# Disks:
# - tmpfs: the spool in /dev/shm (syncs cost nothing);
# - slow:  the spool on /tmp's disk with tests/faults/slow_fsync.c preloaded, a
#          FAULT INJECTOR that delays every fsync, fdatasync and syncfs by
#          --slow-ms before doing it (a network disk's cache flush, on demand).
#
# The binaries are compared in the same cluster, one outage each, in the order
# given, the disks alternating. Runs on its own cluster instance
# (KPROFEFE_CLUSTER_DIR, default /tmp/kprofefe-bench-outage), brought up and
# down here. Figures, not pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."

pods=250
outage=300
slow_ms=20
disks=tmpfs,slow
bins=()
while (($#)); do
	case $1 in
	--pods) pods=$2; shift 2 ;;
	--outage) outage=$2; shift 2 ;;
	--slow-ms) slow_ms=$2; shift 2 ;;
	--disks) disks=$2; shift 2 ;;
	*=*) bins+=("$1"); shift ;;
	*) echo "usage: scripts/bench_outage.sh [--pods N] [--outage S] [--slow-ms MS] [--disks tmpfs,slow] NAME=KPROFEFE_BINARY..." >&2; exit 2 ;;
	esac
done
((${#bins[@]})) || { echo "bench_outage: name at least one NAME=KPROFEFE_BINARY" >&2; exit 2; }

export KPROFEFE_CLUSTER_DIR=${KPROFEFE_CLUSTER_DIR:-/tmp/kprofefe-bench-outage}
work=$(mktemp -d)
shm=$(mktemp -d -p /dev/shm kprofefe-outage.XXXXXX)
collector_pid=""
cleanup() {
	[[ -n $collector_pid ]] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
	scripts/cluster.sh profefe start >/dev/null 2>&1 || true
	scripts/cluster.sh down >/dev/null 2>&1 || true
	rm -rf "$work" "$shm"
}
trap cleanup EXIT

say() { printf 'bench_outage: %s\n' "$*" >&2; }

say "building the fault injector"
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target slow_fsync >/dev/null
shim=$PWD/build-release/libslow_fsync.so

say "starting the cluster in $KPROFEFE_CLUSTER_DIR"
scripts/cluster.sh up >/dev/null
eval "$(scripts/cluster.sh env)"

# As scripts/bench.sh: the pods together burn at most a fifth of the cores.
target_ms=$((200 * $(nproc) / pods))
((target_ms < 1)) && target_ms=1
((target_ms > 10)) && target_ms=10
export KPROFEFE_TARGET_ARGS="--cpu-ms-profiling $target_ms --cpu-burst-ms $target_ms"
say "adding $pods pprof target pods on node bench"
seq 0 $((pods - 1)) | xargs -P4 -I{} scripts/cluster.sh pod add "target-{}" --node bench \
	--namespace bench --annotate profefe.com/enable=true --annotate profefe.com/service=bench >/dev/null

# metrics PORT: the collector's /metrics text.
metrics() {
	curl -fsS --noproxy '*' "http://127.0.0.1:$1/metrics"
}

# lag_p99 BEFORE AFTER: the 99th percentile of the loop lag observed between
# two /metrics snapshots, as "BOUND ESTIMATE COUNT": the upper bound of the
# bucket holding it, the estimate Prometheus' histogram_quantile makes (linear
# within that bucket) and the number of observations.
lag_p99() {
	awk '
	FNR == 1 { file++ }
	/^kprofefe_loop_lag_seconds_bucket/ {
		le = $1; sub(/.*le="/, "", le); sub(/".*/, "", le)
		if (file == 1) before[le] = $2; else { after[le] = $2; order[++n] = le }
	}
	END {
		total = after["+Inf"] - before["+Inf"]
		rank = 0.99 * total; below = 0; lower = 0
		for (i = 1; i <= n; i++) {
			le = order[i]; c = after[le] - before[le]
			if (c >= rank && total > 0) {
				est = le == "+Inf" ? lower : lower + (le - lower) * (rank - below) / (c - below)
				printf "%s %.4f %d\n", le, est, total; exit
			}
			below = c; lower = le
		}
		print "none 0", total
	}' "$1" "$2"
}

# sum_series BEFORE AFTER REGEX: the increase of the sum of the series matching REGEX.
sum_series() {
	awk -v re="$3" '
	$0 ~ re { if (FILENAME == ARGV[1]) b += $NF; else a += $NF }
	END { printf "%d\n", a - b }' "$1" "$2"
}

# one_run NAME BIN DISK: one outage; prints a report line.
one_run() {
	local name=$1 bin=$2 disk=$3 spool log port preload=() env_count
	log=$work/$name-$disk.log
	case $disk in
	tmpfs) spool=$shm/$name ;;
	slow) spool=$work/spool-$name
		env_count=$work/$name-syncs
		preload=(env LD_PRELOAD="$shim" KPROFEFE_FAULT_SYNC_DELAY_MS="$slow_ms"
			KPROFEFE_FAULT_SYNC_COUNT="$env_count") ;;
	*) say "unknown disk $disk"; exit 2 ;;
	esac
	rm -rf "$spool"
	"${preload[@]}" "$bin" --node-name bench --kubeconfig "$KUBECONFIG" \
		--profefe-hostport "$PROFEFE_URL" --metrics-addr 127.0.0.1:0 \
		--spool-dir "$spool" >"$log" 2>&1 &
	collector_pid=$!
	# Running as in steady state: a round's worth of fetches done (one per pod).
	port=""
	until [[ -n $port ]] && metrics "$port" >"$work/m0" &&
		(($(sum_series /dev/null "$work/m0" '^kprofefe_fetch_total[{]') >= pods)); do
		kill -0 "$collector_pid" 2>/dev/null || { say "$name died"; tail "$log" >&2; exit 1; }
		sleep 0.5
		port=$(sed -n 's/.*msg="serving metrics".* port=\([0-9]*\).*/\1/p' "$log" | head -1)
	done
	scripts/cluster.sh profefe stop >/dev/null
	say "$name on $disk: profefe down for $outage s ($(uptime | sed 's/.*load/load/'))"
	sleep "$outage"
	metrics "$port" >"$work/m1"
	scripts/cluster.sh profefe start >/dev/null
	kill -TERM "$collector_pid"
	wait "$collector_pid" || true
	collector_pid=""
	local p99 est n failures spooled syncs=-
	read -r p99 est n < <(lag_p99 "$work/m0" "$work/m1")
	failures=$(($(sum_series "$work/m0" "$work/m1" '^kprofefe_fetch_total[{]') -
		$(sum_series "$work/m0" "$work/m1" '^kprofefe_fetch_total[{].*result="ok"')))
	spooled=$(sum_series "$work/m0" "$work/m1" '^kprofefe_spool_written_total')
	[[ $disk == slow && -s $env_count ]] && syncs=$(cat "$env_count")
	printf '%-10s %-6s loop_lag_p99=%ss (bucket <=%s, %d beats)  fetch_failures=%d  spooled=%d  syncs=%s\n' \
		"$name" "$disk" "$est" "$p99" "$n" "$failures" "$spooled" "$syncs"
	rm -rf "$spool"
}

say "$pods pods, outage $outage s, slow disk $slow_ms ms per sync; $(uptime)"
for disk in ${disks//,/ }; do
	for nb in "${bins[@]}"; do
		one_run "${nb%%=*}" "${nb#*=}" "$disk"
	done
done
