#!/usr/bin/env bash
# bench.sh --hostile [--https] (sourced by scripts/bench.sh): a --once round
# over the good pods alone, then one with a pod of every hostile-pod mode
# beside them; the good pods' round (until all their profiles are fetched,
# read from /metrics) and the peak RSS of each, as ratios. --https: the same
# on node bench-tls, whose good pods serve pprof over https only, beside every
# mode served over https and the https faults.

HOSTILE_MODES=(redirect endless-body slow-drip endless-headers gzip-bomb gzip-bomb-ce html reset busy not-pprof)
# The https faults and the certificate each serves: "self" signed, by the CA
# --pod-ca does not trust ("other"), by the trusted one for another name, or
# none (plain http on the https port). They answer not-pprof, so that a pod
# wrongly let through is a failure the report shows, not a good profile.
declare -A HOSTILE_TLS_FAULTS=([self-signed]=self [other-ca]=other [wrong-name]=wrong [plain-http]="")
HOSTILE_TLS_NAME=target.bench.test
# A node's pod range (cluster.sh's /24: addresses .2 to .254).
HOSTILE_NODE_PODS=253
# The collector's --memory-budget (its default; the rounds leave it so).
HOSTILE_BUDGET_MIB=16
declare -A H # results, by "PHASE.field"

# hostile_pods_fit: whether --pods leaves room on one node for the hostile pods.
hostile_pods_fit() {
	local n=${#HOSTILE_MODES[@]}
	((https)) && n=$((n + ${#HOSTILE_TLS_FAULTS[@]}))
	((pods + n <= HOSTILE_NODE_PODS)) && return 0
	say "--hostile$( ((https)) && echo " --https") adds $n pods beside the good ones, and a node holds $HOSTILE_NODE_PODS: --pods $((HOSTILE_NODE_PODS - n)) at most"
	return 1
}

# timed_once NAME NODE [FLAGS...]: a --once round on NODE with /metrics on;
# prints "DONE_MS BUDGET_MAX WAITS": the epoch ms at which every good profile
# (pods x 6 types) was fetched, polling /metrics; the most of the memory
# budget seen in use until then; and the fetches that had waited for it.
timed_once() {
	local name=$1 log=$work/$1.log node=$2 port m ok used waits=0 max_used=0 want=$((pods * 6)) done_ms=""
	shift 2
	"$bin" --once --node-name "$node" --profefe-hostport "$PROFEFE_URL" --metrics-addr 127.0.0.1:0 \
		--cpu-seconds "$cpu_seconds" --spool-dir "$work/$name.spool" "$@" >"$log" 2>&1 &
	collector_pid=$!
	while kill -0 "$collector_pid" 2>/dev/null; do
		port=$(sed -n 's/.*msg="serving metrics".* port=\([0-9]*\).*/\1/p' "$log" | head -1)
		if [[ -n $port ]] && m=$(curl -fsS --noproxy '*' "http://127.0.0.1:$port/metrics" 2>/dev/null); then
			read -r ok used waits < <(awk '$1 ~ /^kprofefe_fetch_total\{.*result="ok"/ { n += $2 }
				$1 == "kprofefe_memory_budget_used_bytes" { u = $2 }
				$1 == "kprofefe_fetch_budget_waits_total" { w = $2 }
				END { printf "%d %d %d\n", n, u, w }' <<<"$m")
			((used > max_used)) && max_used=$used
			if ((ok >= want)); then done_ms=$(date +%s%3N); break; fi
		fi
		sleep 0.05
	done
	wait "$collector_pid" || true
	collector_pid=""
	# A round that ended between two polls: its end is the good pods' end.
	[[ -n $done_ms ]] || { done_ms=$(log_ms "$log" "round finished"); say "$name: good pods' end taken from the round's end"; }
	echo "$done_ms $max_used $waits"
}

# hostile_add_plain NODE: a pod of every mode, plain http; prints their names.
hostile_add_plain() {
	local m
	for m in "${HOSTILE_MODES[@]}"; do
		# shellcheck disable=SC2097,SC2098
		KPROFEFE_TARGET_ARGS=$([[ $m == redirect ]] && echo "--redirect-to $KPROFEFE_APISERVER/api/v1/namespaces/bench/secrets") \
			scripts/cluster.sh pod add "hostile-$m" --node "$1" --namespace bench --server hostile --mode "$m" \
			--annotate profefe.com/enable=true --annotate profefe.com/service=bench-hostile >/dev/null
		echo "hostile-$m"
	done
}

# https_annotations: what an https pod of this benchmark is annotated with.
https_annotations() {
	echo --annotate profefe.com/enable=true --annotate profefe.com/scheme=https \
		--annotate profefe.com/tls-server-name="$HOSTILE_TLS_NAME"
}

# hostile_add_https NODE: every mode served over https with a good certificate,
# and the https faults; prints their names.
hostile_add_https() {
	local m cert args
	for m in "${HOSTILE_MODES[@]}" "${!HOSTILE_TLS_FAULTS[@]}"; do
		cert=pod args=""
		[[ -v HOSTILE_TLS_FAULTS[$m] ]] && cert=${HOSTILE_TLS_FAULTS[$m]}
		[[ -n $cert ]] && args="--tls-cert $work/pki/$cert.crt --tls-key $work/pki/$cert.key"
		[[ $m == redirect ]] && args+=" --redirect-to $KPROFEFE_APISERVER/api/v1/namespaces/bench/secrets"
		# shellcheck disable=SC2046 # https_annotations is word-split on purpose
		KPROFEFE_TARGET_ARGS=$args scripts/cluster.sh pod add "hostile-tls-$m" --node "$1" --namespace bench \
			--server hostile --mode "$([[ -v HOSTILE_TLS_FAULTS[$m] ]] && echo not-pprof || echo "$m")" \
			$(https_annotations) --annotate profefe.com/service=bench-hostile-tls >/dev/null
		echo "hostile-tls-$m"
	done
}

# hostile_phase PHASE NODE ADD [FLAGS...]: the good pods of NODE alone, then
# beside the hostile pods ADD NODE adds (deleted after); the collector gets
# FLAGS. Results in H[PHASE.*].
hostile_phase() {
	local phase=$1 node=$2 add=$3 out p r names
	shift 3
	say "hostile ($phase): the good pods alone, round timed from /metrics"
	out=$(timed_once "$phase-calm" "$node" "$@")
	read -r p "H[$phase.calm_used]" "H[$phase.calm_waits]" <<<"$out"
	H[$phase.calm_ms]=$((p - $(log_ms "$work/$phase-calm.log" "pods listed")))
	H[$phase.calm_rss]=$(log_field "$work/$phase-calm.log" stopped peak_rss_kib)

	names=$("$add" "$node")
	H[$phase.n]=$(wc -l <<<"$names")
	say "hostile ($phase): ${H[$phase.n]} hostile pods beside the $pods good ones"
	out=$(timed_once "$phase-hostile" "$node" "$@")
	read -r p "H[$phase.used]" "H[$phase.waits]" <<<"$out"
	H[$phase.ms]=$((p - $(log_ms "$work/$phase-hostile.log" "pods listed")))
	H[$phase.rss]=$(log_field "$work/$phase-hostile.log" stopped peak_rss_kib)
	H[$phase.good_failures]=$(grep 'msg="profile fetch failed"' "$work/$phase-hostile.log" | grep -vc 'pod=bench/hostile-' || true)
	H[$phase.reasons]=""
	for p in $names; do
		r=$(fetch_reasons <(grep "pod=bench/$p " "$work/$phase-hostile.log" || true))
		H[$phase.reasons]+=$(printf '\n  %-28s %s' "$p" "${r:-no failure: COLLECTED}")
		scripts/cluster.sh pod del "$p" --namespace bench >/dev/null
	done
}

# https_pods_add: the PKI (a CA --pod-ca trusts, and the faults' certificates)
# and $pods pprof targets on node bench-tls serving https only.
https_pods_add() {
	local pki=$work/pki
	# tls_lib.sh's helpers report failure through fail, as in the tests.
	fail() { say "$*"; exit 1; }
	# shellcheck source=tests/e2e/tls_lib.sh
	source tests/e2e/tls_lib.sh
	tls_ca "$pki" ca
	tls_ca "$pki" other
	tls_cert "$pki" pod ca "DNS:$HOSTILE_TLS_NAME" serverAuth
	tls_cert "$pki" self self "DNS:$HOSTILE_TLS_NAME" serverAuth
	tls_cert "$pki" other other "DNS:$HOSTILE_TLS_NAME" serverAuth
	tls_cert "$pki" wrong ca "DNS:someone-else.bench.test" serverAuth
	say "https: adding $pods pprof target pods serving https only on node bench-tls"
	# shellcheck disable=SC2046 # https_annotations is word-split on purpose
	seq 0 $((pods - 1)) | KPROFEFE_TARGET_ARGS="${KPROFEFE_TARGET_ARGS:-} --tls-cert $pki/pod.crt --tls-key $pki/pod.key" \
		xargs -P4 -I{} scripts/cluster.sh pod add "tls-target-{}" --node bench-tls --namespace bench \
		$(https_annotations) --annotate profefe.com/service=bench-tls >/dev/null
}

bench_hostile() {
	hostile_phase plain bench hostile_add_plain
	((https)) || return 0
	https_pods_add
	hostile_phase https bench-tls hostile_add_https --pod-ca "$work/pki/ca.crt"
	say "https: deleting the https pods"
	seq 0 $((pods - 1)) | xargs -P4 -I{} scripts/cluster.sh pod del "tls-target-{}" --namespace bench >/dev/null
}

bench_hostile_report() {
	local p
	for p in plain https; do
		[[ -v H[$p.ms] ]] || continue
		awk -v phase="$p" -v cpu="$cpu_seconds" -v calm_ms="${H[$p.calm_ms]}" -v ms="${H[$p.ms]}" \
			-v calm_rss="${H[$p.calm_rss]}" -v rss="${H[$p.rss]}" -v n="${H[$p.n]}" -v good_failures="${H[$p.good_failures]}" \
			-v plain_calm_ms="${H[plain.calm_ms]}" -v plain_calm_rss="${H[plain.calm_rss]}" -v base_rss="$base_rss_kb" \
			-v calm_used="${H[$p.calm_used]}" -v calm_waits="${H[$p.calm_waits]}" -v used="${H[$p.used]}" -v waits="${H[$p.waits]}" \
			-v reasons="${H[$p.reasons]}" -v budget_mib="$HOSTILE_BUDGET_MIB" 'function missed(v, target) { return v <= target ? "" : ", MISSED" }
	function budget(u, w) { return sprintf("budget in use at most %.1f MiB of %d, %d fetches waited for it", u / 1048576, budget_mib, w) }
	BEGIN {
	printf "hostile pods, %-11s %d beside the good ones; good pods failed %d times%s; the hostile ones:%s\n", phase, n, good_failures, missed(good_failures, 0), reasons
	if (phase == "https") {
		printf "good https round, alone   %.2f s = %.3f x the plain one (%.2f s) = %.3f x the floor (target <= 1.05%s)\n", calm_ms / 1000, calm_ms / plain_calm_ms, plain_calm_ms / 1000, calm_ms / 1000 / cpu, missed(calm_ms / 1000 / cpu, 1.05)
		printf "peak RSS, https alone     %.1f MiB = %.2f x the plain round'"'"'s %.1f MiB; %s\n", calm_rss / 1024, calm_rss / plain_calm_rss, plain_calm_rss / 1024, budget(calm_used, calm_waits)
	}
	printf "good pods round, %-8s %.2f s = %.3f x the round without them (%.2f s) = %.3f x the floor (target <= 1.10%s)\n", phase, ms / 1000, ms / calm_ms, calm_ms / 1000, ms / 1000 / cpu, missed(ms / 1000 / cpu, 1.10)
	printf "peak RSS, %-15s %.1f MiB (target <= 32%s) = %.2f x the %.1f MiB without them; %.1f MiB above an idle collector = %.2f x --memory-budget; %s\n", phase " hostile", rss / 1024, missed(rss / 1024, 32), rss / calm_rss, calm_rss / 1024, (rss - base_rss) / 1024, (rss - base_rss) / 1024 / budget_mib, budget(used, waits)
}'
	done
}
