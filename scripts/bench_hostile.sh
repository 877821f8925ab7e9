#!/usr/bin/env bash
# bench.sh --hostile (sourced by scripts/bench.sh): a --once round over the
# good pods alone, then one with a pod of every hostile-pod mode beside them;
# the good pods' round (until all their profiles are fetched, read from
# /metrics) and the peak RSS of each, as ratios.

HOSTILE_MODES=(redirect endless-body slow-drip endless-headers gzip-bomb gzip-bomb-ce html reset busy not-pprof)

# timed_once NAME: a --once round with /metrics on; prints the epoch ms at
# which every good profile (pods x 6 types) was fetched, polling /metrics.
timed_once() {
	local log=$work/$1.log port ok want=$((pods * 6)) done_ms=""
	"$bin" --once --node-name bench --profefe-hostport "$PROFEFE_URL" --metrics-addr 127.0.0.1:0 \
		--cpu-seconds "$cpu_seconds" --spool-dir "$work/$1.spool" >"$log" 2>&1 &
	collector_pid=$!
	while kill -0 "$collector_pid" 2>/dev/null; do
		port=$(sed -n 's/.*msg="serving metrics".* port=\([0-9]*\).*/\1/p' "$log" | head -1)
		if [[ -n $port ]]; then
			ok=$(curl -fsS --noproxy '*' "http://127.0.0.1:$port/metrics" 2>/dev/null |
				awk '$1 ~ /^kprofefe_fetch_total\{.*result="ok"/ { n += $2 } END { print n + 0 }')
			if ((ok >= want)); then done_ms=$(date +%s%3N); break; fi
		fi
		sleep 0.05
	done
	wait "$collector_pid" || true
	collector_pid=""
	# A round that ended between two polls: its end is the good pods' end.
	[[ -n $done_ms ]] || { done_ms=$(log_ms "$log" "round finished"); say "$1: good pods' end taken from the round's end"; }
	echo "$done_ms"
}

say "hostile: the good pods alone, round timed from /metrics"
calm_done=$(timed_once calm)
calm_ms=$((calm_done - $(log_ms "$work/calm.log" "pods listed")))
calm_rss=$(log_field "$work/calm.log" stopped peak_rss_kib)

say "hostile: ${#HOSTILE_MODES[@]} hostile pods beside the $pods good ones"
for m in "${HOSTILE_MODES[@]}"; do
	# shellcheck disable=SC2097,SC2098
	KPROFEFE_TARGET_ARGS=$([[ $m == redirect ]] && echo "--redirect-to $KPROFEFE_APISERVER/api/v1/namespaces/bench/secrets") \
		scripts/cluster.sh pod add "hostile-$m" --node bench --namespace bench --server hostile --mode "$m" \
		--annotate profefe.com/enable=true --annotate profefe.com/service=bench-hostile >/dev/null
done
hostile_done=$(timed_once hostile)
hostile_ms=$((hostile_done - $(log_ms "$work/hostile.log" "pods listed")))
hostile_rss=$(log_field "$work/hostile.log" stopped peak_rss_kib)
hostile_reasons=$(sed -n 's/.*msg="profile fetch failed" pod=bench\/hostile-.* reason=\([a-z_0-9]*\).*/\1/p' \
	"$work/hostile.log" | sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep = " " }')
good_failures=$(grep 'msg="profile fetch failed"' "$work/hostile.log" | grep -vc 'pod=bench/hostile-' || true)
for m in "${HOSTILE_MODES[@]}"; do
	scripts/cluster.sh pod del "hostile-$m" --namespace bench >/dev/null
done

bench_hostile_report() {
	awk -v cpu="$cpu_seconds" -v calm_ms="$calm_ms" -v hostile_ms="$hostile_ms" -v calm_rss="$calm_rss" \
		-v hostile_rss="$hostile_rss" -v n="${#HOSTILE_MODES[@]}" -v reasons="$hostile_reasons" \
		-v good_failures="$good_failures" 'BEGIN {
	printf "hostile pods              %d beside the good ones; their failures: %s; good pods failed %d times\n", n, reasons, good_failures
	printf "good pods round, hostile  %.2f s = %.3f x the round without them (%.2f s) = %.3f x the floor (target <= 1.10)\n", hostile_ms / 1000, hostile_ms / calm_ms, calm_ms / 1000, hostile_ms / 1000 / cpu
	printf "peak RSS, hostile         %.1f MiB (target <= 32) = %.2f x the %.1f MiB without them\n", hostile_rss / 1024, hostile_rss / calm_rss, calm_rss / 1024
}'
}
