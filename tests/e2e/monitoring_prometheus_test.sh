#!/usr/bin/env bash
# e2e: the chart's monitoring objects against real components. Debian's
# Prometheus scrapes a running kprofefe, with the chart's alert rules loaded:
# every query of the dashboard (its variables filled in) and every alert
# expression is valid and returns that collector's series, but for the few
# listed below that a healthy collector has none of. Stopping profefe makes
# KprofefeSpoolGrowing go pending. Then the Prometheus Operator's CRDs
# (generated from its v0.95.2 types) are installed and the chart, every
# monitoring value on, applies under strict field validation.
#
# The Prometheus is this test's own: a temporary directory, a loopback port,
# killed at exit. Its scrape config is static, pointing at the collector's
# metrics port, with the `node` label that the PodMonitor's relabeling gives
# a collector pod's series (the collector runs as a process here, not a pod).
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/collector_lib.sh
source "$(dirname "$0")/collector_lib.sh"
# shellcheck source=tests/e2e/helm_lib.sh
source "$(dirname "$0")/helm_lib.sh"
# shellcheck source=tests/e2e/monitoring_lib.sh
source "$(dirname "$0")/monitoring_lib.sh"

command -v prometheus >/dev/null || fail "no prometheus; run scripts/install-deps.sh (Debian's prometheus)"
node=mon-node
ns=mon-$RANDOM
job=kprofefe
# What Grafana puts for $__rate_interval: a window of several scrapes (1s here).
rate_interval=1m

# Queries a healthy collector gives no series: each with why.
declare -A allowed_empty=(
	["dashboard: Upload queue, and profiles dropped from it/B"]="no profile dropped from memory (the spool takes them)"
	["dashboard: Spool in, out and evicted/C"]="no spool entry evicted (the spool stays far below its bounds)"
	["dashboard: Fetches waiting for the budget/A"]="no fetch waited for memory (three pods, a 16Mi budget)"
	["alert: KprofefeProfilesLost"]="no profile evicted or dropped"
)

profefe_stopped=0
e2e_extra_cleanup() {
	collectors_stop_all
	if [[ -s $E2E_TMP/prometheus.pid ]]; then
		kill -TERM "$(cat "$E2E_TMP/prometheus.pid")" 2>/dev/null && wait "$(cat "$E2E_TMP/prometheus.pid")" 2>/dev/null
	fi
	((profefe_stopped == 0)) || "$CLUSTER" profefe start >/dev/null 2>&1 || true
	monitoring_crds_remove
	return 0
}

# ------------------------------------------------- a collector and its pods --

on=profefe.com/enable=true
pod_add good --node "$node" --namespace "$ns" --annotate $on --annotate profefe.com/service="mon-$ns" >/dev/null
# A real failure to report: nothing listens in this pod (connection refused).
pod_add no-server --node "$node" --namespace "$ns" --annotate $on --no-process >/dev/null
# And an annotation the collector refuses.
pod_add bad-annotation --node "$node" --namespace "$ns" --annotate $on --annotate profefe.com/port=0 >/dev/null
collector_start c "$node" --connect-timeout 2s
metrics_port=$(sed -n 's/.*msg="serving metrics".* port=\([0-9]*\).*/\1/p' "$E2E_TMP/c.log" | head -1)
[[ -n $metrics_port ]] || fail "the collector did not say which port serves metrics"

# ------------------------------------------ Prometheus, with the chart's rules --

mkdir -p "$E2E_TMP/prom"
# Rendering maps the chart's objects through the API server (kubectl create
# --dry-run=client), which knows a PrometheusRule only once its CRD is there.
monitoring_crds_install
rules=$(render -s templates/prometheusrule.yaml --set prometheusRule.enabled=true | obj PrometheusRule) ||
	fail "the chart renders no PrometheusRule"
jq .spec <<<"$rules" >"$E2E_TMP/prom/rules.yaml" # JSON is YAML: a rule file
cat >"$E2E_TMP/prom/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [rules.yaml]
scrape_configs:
  - job_name: $job
    static_configs:
      - targets: ["127.0.0.1:$metrics_port"]
        labels: {node: $node}
EOF
port=$((20000 + RANDOM % 20000))
while [[ -n $(ss -Hltn "sport = :$port") ]]; do port=$((20000 + RANDOM % 20000)); done
prometheus --config.file="$E2E_TMP/prom/prometheus.yml" --storage.tsdb.path="$E2E_TMP/prom/data" \
	--web.listen-address="127.0.0.1:$port" --log.level=warn >"$E2E_TMP/prometheus.log" 2>&1 &
echo $! >"$E2E_TMP/prometheus.pid"
prom=http://127.0.0.1:$port

# promq EXPR: the query API's JSON answer for EXPR, now.
promq() {
	curl -sS --noproxy '*' -G "$prom/api/v1/query" --data-urlencode "query=$1"
}
# prom_has EXPR: EXPR returns at least one series.
prom_has() {
	promq "$1" | jq -e '.status == "success" and (.data.result | length > 0)' >/dev/null
}

wait_for 30 curl -fsS --noproxy '*' "$prom/-/ready"
wait_for 30 prom_has "up{job=\"$job\", node=\"$node\"} == 1"
loaded=$(curl -fsS --noproxy '*' "$prom/api/v1/rules" | jq '[.data.groups[].rules[] | select(.type == "alerting")] | length')
assert_eq 9 "$loaded" "alerting rules Prometheus loaded from the chart ($(cat "$E2E_TMP/prometheus.log"))"
# Every kind of series the checks below expect: a stored upload, a failed
# fetch (the pod without a server), the refused annotation, rounds timed.
wait_for 60 prom_has "kprofefe_uploads_total{job=\"$job\", result=\"ok\"}"
wait_for 30 prom_has "kprofefe_fetch_total{job=\"$job\", result=\"connect\"}"
wait_for 30 prom_has "kprofefe_targets_invalid_total{job=\"$job\"} > 0"
wait_for 30 prom_has "kprofefe_round_duration_seconds_count{job=\"$job\"} > 0"

# ---------------------------- profefe stops: the spool alert goes pending --

"$CLUSTER" profefe stop >/dev/null
profefe_stopped=1
wait_for 60 prom_has "kprofefe_spool_entries{job=\"$job\"} > 0"
wait_for 60 prom_has "ALERTS{alertname=\"KprofefeSpoolGrowing\", alertstate=\"pending\", node=\"$node\"}"
alert=$(curl -fsS --noproxy '*' "$prom/api/v1/alerts" | jq -c '.data.alerts[] | select(.labels.alertname == "KprofefeSpoolGrowing")')
assert_eq pending "$(jq -r .state <<<"$alert")" "KprofefeSpoolGrowing's state in /api/v1/alerts"
assert_contains "$(jq -r .annotations.description <<<"$alert")" "The spool on node $node has grown for 30m" "its description"
"$CLUSTER" profefe start >/dev/null
profefe_stopped=0
# Back: the spool drains (its series now hold an outage and a recovery).
wait_for 90 prom_has "kprofefe_spool_drained_total{job=\"$job\"} > 0"

# ------------------------------------ every dashboard and alert query --

dashboard=$CHART/files/dashboard.json
# The dashboard's variables: job, and node from job's build info.
jq -e '[.templating.list[].name] == ["datasource", "job", "node"]' "$dashboard" >/dev/null ||
	fail "the dashboard's variables are not datasource, job and node: $(jq -c '[.templating.list[].name]' "$dashboard")"
values=$(curl -fsS --noproxy '*' -G "$prom/api/v1/label/job/values" --data-urlencode 'match[]=kprofefe_build_info')
jq -e --arg j "$job" '.data | index($j)' <<<"$values" >/dev/null || fail "variable job: $job not among $values"
values=$(curl -fsS --noproxy '*' -G "$prom/api/v1/label/node/values" --data-urlencode "match[]=kprofefe_build_info{job=\"$job\"}")
jq -e --arg n "$node" '.data | index($n)' <<<"$values" >/dev/null || fail "variable node: $node not among $values"
# shellcheck disable=SC2016 # the dashboard's own $job
assert_eq 'label_values(kprofefe_build_info, job)|label_values(kprofefe_build_info{job="$job"}, node)' \
	"$(jq -r '[.templating.list[] | select(.type == "query") | .query.query] | join("|")' "$dashboard")" "the variables' queries"

# name<TAB>expression (one line) of every query: the dashboard's with its
# variables filled in, then each alert's. An alert's comparisons with a
# number get `bool`, so that it returns the series it compares: the alert
# itself is (rightly) quiet on a healthy collector.
# shellcheck disable=SC2016 # jq programs
{
	jq -r --arg job "$job" --arg node "$node" --arg ri "$rate_interval" '.panels[] | select(.targets) | .title as $t | .targets[]
		| "dashboard: \($t)/\(.refId)\t" + (.expr | gsub("\\$__rate_interval"; $ri) | gsub("\\$job"; $job) | gsub("\\$node"; $node) | gsub("\n"; " "))' "$dashboard"
	jq -r '.groups[].rules[] | "alert: \(.alert)\t\(.expr | gsub("\n"; " "))"' "$E2E_TMP/prom/rules.yaml"
} >"$E2E_TMP/queries.tsv"
total=$(wc -l <"$E2E_TMP/queries.tsv")
((total >= 30)) || fail "only $total queries: $(cat "$E2E_TMP/queries.tsv")"
((${#allowed_empty[@]} * 4 <= total)) || fail "more than a quarter of the $total queries may be empty"
for key in "${!allowed_empty[@]}"; do
	cut -f1 "$E2E_TMP/queries.tsv" | grep -qxF "$key" || fail "allowed-empty query '$key' is no query of the dashboard or the rules"
done
empty=()
while IFS=$'\t' read -r name expr; do
	out=$(promq "$expr")
	[[ $(jq -r .status <<<"$out") == success ]] || fail "$name: invalid query: $expr: $out"
	if [[ $name == alert:* ]]; then
		expr=$(sed -E 's/ (==|!=|>=|<=|>|<) ([0-9])/ \1 bool \2/g' <<<"$expr")
		out=$(promq "$expr")
		[[ $(jq -r .status <<<"$out") == success ]] || fail "$name: invalid query: $expr: $out"
		# Per node: each series is this collector's.
		jq -e --arg n "$node" 'all(.data.result[]; .metric.node == $n)' <<<"$out" >/dev/null ||
			fail "$name: a series of another node: $expr: $out"
	fi
	if [[ $(jq '.data.result | length' <<<"$out") == 0 ]]; then
		[[ -n ${allowed_empty[$name]:-} ]] || fail "$name: no series: $expr"
		empty+=("$name")
	fi
done <"$E2E_TMP/queries.tsv"

# ---------------------- the chart applied under strict validation (CRDs above) --

# The PodMonitor's schema is live: an unknown field is refused.
out=$(render -s templates/podmonitor.yaml --set podMonitor.enabled=true --set namespace.name="$ns" |
	jq '.[0] | .spec.podMetricsEndpoints[0].scrapeEvery = "1s"' |
	kubectl apply --dry-run=server --validate=strict -f - 2>&1) && fail "an unknown PodMonitor field was accepted: $out"
assert_contains "$out" 'unknown field "spec.podMetricsEndpoints[0].scrapeEvery"' "strict validation of a PodMonitor"
# Every monitoring value on, into the test's namespace (no controller runs
# here to delete a namespace the chart would create).
mon_values=(--set namespace.create=false --set namespace.name="$ns"
	--set podMonitor.enabled=true --set podMonitor.interval=30s --set podMonitor.labels.release=prom
	--set prometheusRule.enabled=true --set prometheusRule.labels.role=alerts --set prometheusRule.additionalLabels.team=perf
	--set dashboards.enabled=true --set dashboards.labels.team=perf --set dashboards.annotations.grafana_folder=Profiling)
helm template kprofefe "$CHART" "${mon_values[@]}" >"$E2E_TMP/chart.yaml" || fail "helm template with monitoring on"
out=$(kubectl apply --dry-run=server --validate=strict -f "$E2E_TMP/chart.yaml" 2>&1) || fail "the chart (monitoring on) refused: $out"
for s in podmonitor prometheusrule dashboard; do
	out=$(helm template kprofefe "$CHART" "${mon_values[@]}" -s "templates/$s.yaml" | kubectl apply --validate=strict -f - 2>&1) ||
		fail "kubectl apply of the chart's $s: $out"
done
assert_eq "podmonitor.monitoring.coreos.com/kprofefe prometheusrule.monitoring.coreos.com/kprofefe configmap/kprofefe-dashboard" \
	"$(kubectl get podmonitor/kprofefe prometheusrule/kprofefe configmap/kprofefe-dashboard -n "$ns" -o name | xargs)" "the monitoring objects on the API server"
assert_eq 9 "$(kubectl get prometheusrule kprofefe -n "$ns" -o json | jq '[.spec.groups[].rules[]] | length')" "alerts stored"
kubectl delete podmonitor,prometheusrule kprofefe -n "$ns" >/dev/null
kubectl delete configmap kprofefe-dashboard -n "$ns" >/dev/null

echo "PASS: Prometheus $(prometheus --version 2>&1 | head -1 | cut -d' ' -f3) ran the chart's 9 rules on a collector's series; $total queries valid, $((total - ${#empty[@]})) with its series, ${#empty[@]} empty as allowed (${empty[*]}); KprofefeSpoolGrowing pending while profefe was down; the CRDs $(basename "$KPROFEFE_MONITORING_CRDS" .yaml) took the chart under strict validation"
