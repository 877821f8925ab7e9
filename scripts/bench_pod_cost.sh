#!/usr/bin/env bash
# bench.sh --pod-cost: the CPU collection takes from the profiled pods (sourced
# by scripts/bench.sh after its pods are up; uses its bin, work, pods, say,
# pod_cost_s and cost_profiles, and sets its collector_pid).
# shellcheck disable=SC2154,SC2034 # bench.sh's variables

# pods_cpu_ticks: utime+stime (clock ticks) of every process of this instance's
# pods, summed.
pods_cpu_ticks() {
	local f pid total=0 stat rest fields
	for f in "$KPROFEFE_CLUSTER_DIR"/pods/*; do
		# shellcheck disable=SC1090 # a pod's record, written by cluster.sh
		NETNS=$(source "$f" && echo "$NETNS")
		[[ -n $NETNS ]] || continue
		for pid in $(ip netns pids "$NETNS" 2>/dev/null); do
			stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
			rest=${stat##*) } # after "(comm) ": field 3 on
			read -r -a fields <<<"$rest"
			total=$((total + fields[11] + fields[12])) # fields 14 and 15
		done
	done
	echo "$total"
}

# cost_phase NAME [COLLECTOR FLAGS... | none]: the pods' CPU ticks over
# pod_cost_s seconds, with a collector given those flags, or none.
cost_phase() {
	local name=$1 pid="" before after
	shift
	if [[ $1 != none ]]; then
		"$bin" --node-name bench --profefe-hostport "$PROFEFE_URL" --metrics-addr "" \
			--spool-dir "$work/spool-$name" ${cost_profiles:+--profiles "$cost_profiles"} "$@" \
			>"$work/cost-$name.log" 2>&1 &
		pid=$!
		collector_pid=$pid
	fi
	before=$(pods_cpu_ticks)
	sleep "$pod_cost_s"
	after=$(pods_cpu_ticks)
	if [[ -n $pid ]]; then
		kill "$pid" && wait "$pid" || true
		collector_pid=""
	fi
	echo $((after - before))
}

bench_pod_cost() {
	local hz idle_a idle_b secs gdp
	hz=$(getconf CLK_TCK)
	say "pod cost: the pods' CPU over ${pod_cost_s}s each: no collector, ?seconds= deltas, godeltaprof, no collector"
	idle_a=$(cost_phase idle-a none)
	secs=$(cost_phase seconds --delta=true)
	gdp=$(cost_phase godeltaprof --delta=godeltaprof)
	idle_b=$(cost_phase idle-b none)
	awk -v hz="$hz" -v pods="$pods" -v s="$pod_cost_s" -v a="$idle_a" -v b="$idle_b" -v sec="$secs" -v g="$gdp" \
		-v profiles="${cost_profiles:-default}" 'BEGIN {
		idle = (a + b) / 2
		ms = 1000 / hz / pods * 60 / s # ticks over the phase -> ms of CPU per pod per minute
		printf "pod cost                  %d pods, %d s a phase, collector defaults (interval 60s, cpu-seconds 10), profiles: %s\n", pods, s, profiles
		printf "  pods alone              %.1f ms CPU per pod per minute (the two runs: %.1f and %.1f)\n", idle * ms, a * ms, b * ms
		printf "  with ?seconds= deltas   %.1f ms = %.3f x alone: collection costs %.1f ms per pod per minute\n", sec * ms, sec / idle, (sec - idle) * ms
		printf "  with godeltaprof        %.1f ms = %.3f x alone: collection costs %.1f ms per pod per minute\n", g * ms, g / idle, (g - idle) * ms
		if (sec - idle > 0)
			printf "  godeltaprof/?seconds=   %.3f x the cost of collection\n", (g - idle) / (sec - idle)
	}'
}
