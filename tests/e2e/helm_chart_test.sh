#!/usr/bin/env bash
# e2e: the Helm chart, with the real helm (tests/helm): helm lint --strict is
# clean; `helm template` with default values renders the objects of
# `kubectl kustomize daemonset/` (the source of truth), except for Helm's four
# usual labels and the pods' config checksum, which are checked, then removed;
# with the monitoring values on, those of daemonset/ and its component
# daemonset/monitoring/ (generated from the chart);
# each value lands where it should; wrong values are refused by
# values.schema.json with a message naming the value; the README's values
# table is what scripts/helm-values-table.sh prints.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/e2e/helm_lib.sh
source "$(dirname "$0")/helm_lib.sh"
# shellcheck source=tests/e2e/monitoring_lib.sh
source "$(dirname "$0")/monitoring_lib.sh"

# as_objects (kubectl create --dry-run=client) maps kinds through the API
# server: the PodMonitor and PrometheusRule need their CRDs there.
e2e_extra_cleanup() { monitoring_crds_remove; }
monitoring_crds_install

# ------------------------------------------------------------- helm lint --

out=$(helm lint --strict "$CHART" 2>&1) || fail "helm lint --strict: $out"
assert_contains "$out" "1 chart(s) linted, 0 chart(s) failed" "helm lint"
grep -q '\[WARNING\]\|\[ERROR\]' <<<"$out" && fail "helm lint warns: $out"

# ------------------------------------------ template == kustomize (defaults) --

kubectl kustomize "$DS_DIR" | as_objects >"$E2E_TMP/kustomize.json" || fail "kubectl kustomize $DS_DIR"
render >"$E2E_TMP/helm.json"
version=$(helm show chart "$CHART" | sed -n 's/^version: //p')
app_version=$(helm show chart "$CHART" | sed -n 's/^appVersion: "\{0,1\}\([^"]*\)"\{0,1\}$/\1/p')
# What Helm adds, exactly: the four labels on every object, and on the pods
# the checksum of their ConfigMap (so that an upgrade changing it rolls them).
# shellcheck disable=SC2016 # a jq program
jq -e --arg chart "kprofefe-$version" --arg app "$app_version" 'all(.[]; .metadata.labels
	| .["helm.sh/chart"] == $chart and .["app.kubernetes.io/instance"] == "kprofefe"
	  and .["app.kubernetes.io/version"] == $app and .["app.kubernetes.io/managed-by"] == "Helm")' \
	"$E2E_TMP/helm.json" >/dev/null || fail "Helm's labels missing or wrong: $(jq -c '[.[].metadata.labels]' "$E2E_TMP/helm.json")"
jq -e '.[] | select(.kind == "DaemonSet") | .spec.template.metadata.annotations["checksum/config"] | test("^[0-9a-f]{64}$")' \
	"$E2E_TMP/helm.json" >/dev/null || fail "the DaemonSet's pods carry no checksum/config annotation"
jq '[.[] | del(.metadata.labels["helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"])
	| if .kind == "DaemonSet" then del(.spec.template.metadata.annotations["checksum/config"]) else . end]' \
	"$E2E_TMP/helm.json" >"$E2E_TMP/helm-stripped.json"
jq -e --slurpfile k "$E2E_TMP/kustomize.json" '. == $k[0]' "$E2E_TMP/helm-stripped.json" >/dev/null ||
	fail "helm template (default values) and kubectl kustomize $DS_DIR differ:
$(diff <(jq -S . "$E2E_TMP/kustomize.json") <(jq -S . "$E2E_TMP/helm-stripped.json"))"
assert_eq 6 "$(jq length "$E2E_TMP/kustomize.json")" "objects of daemonset/"

# The objects' names follow the release: the name holds the chart's, or not.
names=$(jq -r '[.[].metadata.name] | unique | join(",")' "$E2E_TMP/helm.json")
assert_eq "kprofefe" "$names" "object names of release kprofefe"
names=$(helm template agent "$CHART" | as_objects | jq -r '[.[] | select(.kind != "Namespace") | .metadata.name] | unique | join(",")')
assert_eq "agent-kprofefe" "$names" "object names of release agent"

# ------------------- monitoring objects == daemonset/monitoring/ component --

# All off by default (the comparison above has none); with all three on, the
# chart renders what daemonset/ plus its monitoring component build, less
# Helm's labels. The component's files are what scripts/monitoring-component.sh
# writes from the chart (so the dashboard JSON has one source).
mon_on=(--set podMonitor.enabled=true --set prometheusRule.enabled=true --set dashboards.enabled=true)
mkdir -p "$E2E_TMP/overlay"
rel=$(realpath --relative-to="$E2E_TMP/overlay" "$DS_DIR")
printf 'resources: [%s]\ncomponents: [%s/monitoring]\n' "$rel" "$rel" >"$E2E_TMP/overlay/kustomization.yaml"
kubectl kustomize "$E2E_TMP/overlay" | as_objects >"$E2E_TMP/kustomize-mon.json" || fail "kubectl kustomize of daemonset/ with its monitoring component"
render "${mon_on[@]}" | jq '[.[] | del(.metadata.labels["helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"])
	| if .kind == "DaemonSet" then del(.spec.template.metadata.annotations["checksum/config"]) else . end]' >"$E2E_TMP/helm-mon.json"
jq -e --slurpfile k "$E2E_TMP/kustomize-mon.json" '. == $k[0]' "$E2E_TMP/helm-mon.json" >/dev/null ||
	fail "helm template (monitoring on) and daemonset/ with daemonset/monitoring/ differ:
$(diff <(jq -S . "$E2E_TMP/kustomize-mon.json") <(jq -S . "$E2E_TMP/helm-mon.json"))"
assert_eq "ConfigMap/kprofefe-dashboard PodMonitor/kprofefe PrometheusRule/kprofefe" \
	"$(jq -r --slurpfile d "$E2E_TMP/kustomize.json" '[.[] | select(. as $o | $d[0] | index($o) | not) | "\(.kind)/\(.metadata.name)"] | join(" ")' "$E2E_TMP/kustomize-mon.json")" \
	"objects the monitoring component adds"
KPROFEFE_HELM=$KPROFEFE_HELM "$E2E_ROOT/scripts/monitoring-component.sh" "$E2E_TMP/component" || fail "scripts/monitoring-component.sh failed"
for f in podmonitor.yaml prometheusrule.yaml dashboard.yaml; do
	cmp -s "$E2E_TMP/component/$f" "$DS_DIR/monitoring/$f" || fail "daemonset/monitoring/$f is not what scripts/monitoring-component.sh writes; run it:
$(diff "$DS_DIR/monitoring/$f" "$E2E_TMP/component/$f")"
done
mon=$(render "${mon_on[@]}")
pm=$(obj PodMonitor <<<"$mon")
assert_eq '{"app.kubernetes.io/component":"collector","app.kubernetes.io/name":"kprofefe"}' "$(jq -cS .spec.selector.matchLabels <<<"$pm")" "the PodMonitor's selector"
assert_eq '[{"action":"replace","sourceLabels":["__meta_kubernetes_pod_node_name"],"targetLabel":"node"}]' \
	"$(jq -cS '.spec.podMetricsEndpoints[0].relabelings' <<<"$pm")" "the PodMonitor's node label"
assert_eq '"metrics"' "$(jq -c '.spec.podMetricsEndpoints[0].port' <<<"$pm")" "the PodMonitor's port"
assert_eq '"metrics"' "$(obj DaemonSet <<<"$mon" | jq -c '.spec.template.spec.containers[0].ports[0].name')" "the container port's name"
assert_eq "true 9102" "$(obj DaemonSet <<<"$mon" | jq -r '.spec.template.metadata.annotations | "\(.["prometheus.io/scrape"]) \(.["prometheus.io/port"])"')" "prometheus.io annotations with a PodMonitor"
dash=$(obj ConfigMap kprofefe-dashboard <<<"$mon")
assert_eq '"1"' "$(jq -c '.metadata.labels.grafana_dashboard' <<<"$dash")" "the dashboard's sidecar label"
jq -r '.data["kprofefe.json"]' <<<"$dash" | jq -e --slurpfile f "$CHART/files/dashboard.json" '. == $f[0]' >/dev/null ||
	fail "the dashboard ConfigMap does not hold charts/kprofefe/files/dashboard.json"
rules=$(obj PrometheusRule <<<"$mon" | jq '[.spec.groups[].rules[]]')
want="KprofefeCollectorDown KprofefeCollectorNotReady KprofefeFetchFailing KprofefeUploadsFailing KprofefeSpoolGrowing KprofefeSpoolOldestEntryOld KprofefeProfilesLost KprofefeMemoryBudgetSaturated KprofefeInvalidAnnotations"
assert_eq "$want" "$(jq -r '[.[].alert] | join(" ")' <<<"$rules")" "the alerts"
# Each: a summary, a description naming the node, its runbook section.
jq -e 'all(.[]; .annotations.summary != null and (.annotations.description | test("\\$labels.node"))
	and .annotations.runbook_url == "https://github.com/kprofefe/kprofefe/blob/main/docs/operations.md#" + (.alert | ascii_downcase))' \
	<<<"$rules" >/dev/null || fail "an alert lacks a summary, a description naming the node, or its runbook_url: $rules"

# The monitoring values land.
cat >"$E2E_TMP/mon-values.yaml" <<'VALUES'
nameOverride: profiler
podMonitor: {enabled: true, namespace: monitoring, labels: {release: prom}, interval: 15s}
prometheusRule:
  enabled: true
  namespace: monitoring
  labels: {role: alerts}
  runbookBaseUrl: https://wiki.example.com/kprofefe#
  additionalLabels: {team: perf}
  thresholds: {downFor: 7m, notReadyFor: 11m, fetchFailureRatio: 0.5, fetchFailingFor: 20m, uploadFailureRatio: 0.2,
    uploadsFailingFor: 21m, spoolGrowingFor: 1h, spoolOldestAgeSeconds: 7200, memoryBudgetRatio: 0.8, memoryBudgetFor: 22m}
dashboards: {enabled: true, namespace: grafana, labels: {team: perf}, annotations: {grafana_folder: Profiling}}
VALUES
mon=$(render -f "$E2E_TMP/mon-values.yaml")
pm=$(obj PodMonitor <<<"$mon")
assert_eq "monitoring prom 15s" "$(jq -r '"\(.metadata.namespace) \(.metadata.labels.release) \(.spec.podMetricsEndpoints[0].interval)"' <<<"$pm")" "podMonitor values"
assert_eq '["kprofefe"]' "$(jq -c .spec.namespaceSelector.matchNames <<<"$pm")" "the PodMonitor selects the collector's namespace"
pr=$(obj PrometheusRule <<<"$mon")
assert_eq "monitoring alerts" "$(jq -r '"\(.metadata.namespace) \(.metadata.labels.role)"' <<<"$pr")" "prometheusRule namespace and labels"
r() { jq -r --arg a "$1" ".spec.groups[].rules[] | select(.alert == \$a) | $2" <<<"$pr"; }
assert_eq "https://wiki.example.com/kprofefe#kprofefespoolgrowing" "$(r KprofefeSpoolGrowing .annotations.runbook_url)" "runbookBaseUrl"
assert_eq "perf perf" "$(r KprofefeProfilesLost .labels.team) $(r KprofefeInvalidAnnotations .labels.team)" "additionalLabels"
assert_eq "7m 11m 20m 21m 1h 22m" "$(for a in CollectorDown CollectorNotReady FetchFailing UploadsFailing SpoolGrowing MemoryBudgetSaturated; do r "Kprofefe$a" .for; done | xargs)" "the alerts' durations"
for a_want in "FetchFailing|> 0.5" "UploadsFailing|> 0.2" "SpoolOldestEntryOld|> 7200" "MemoryBudgetSaturated|> 0.8" "CollectorDown|up{job=\"profiler\"}"; do
	assert_contains "$(r "Kprofefe${a_want%%|*}" .expr)" "${a_want#*|}" "Kprofefe${a_want%%|*}'s expression"
done
dash=$(obj ConfigMap kprofefe-profiler-dashboard <<<"$mon") || fail "no ConfigMap kprofefe-profiler-dashboard"
assert_eq 'grafana 1 perf Profiling' "$(jq -r '"\(.metadata.namespace) \(.metadata.labels.grafana_dashboard) \(.metadata.labels.team) \(.metadata.annotations.grafana_folder)"' <<<"$dash")" "dashboards values"

# ----------------------------------------------------- every value lands --

pem=$(openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=profefe-ca -days 1 2>/dev/null) ||
	fail "openssl could not make a CA certificate"
digest=sha256:$(printf x | sha256sum | cut -c1-64)
cat >"$E2E_TMP/values.yaml" <<VALUES
namespace: {name: profiling}
image: {repository: registry.example.com/team/kprofefe, tag: "9.9.9", digest: "$digest", pullPolicy: Always, pullSecrets: [regcred, other]}
profefe:
  url: https://profefe.example.com:8443
  ca: |
$(sed 's/^/    /' <<<"$pem")
  token: s3cret-token
collector: {profiles: "cpu,heap", interval: 30s, cpuSeconds: 5, delta: false, podLabels: "app.kubernetes.io/version,team=example.com/team", spoolMaxBytes: 1Gi, spoolMaxAge: 2h,
  shutdownGraceSeconds: 40, metricsPort: 9200, logFormat: logfmt, logLevel: debug}
extraArgs: [--jitter=5s, --max-concurrency=16]
extraEnv: [{name: KPROFEFE_BATCH_SIZE, value: "50"}]
spool: {hostPath: /mnt/disks/kprofefe}
resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: null, memory: 256Mi}}
tolerations: [{key: dedicated, operator: Equal, value: profiling, effect: NoSchedule}]
nodeSelector: {kubernetes.io/os: linux}
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [a, b]}]}]}}}
priorityClassName: system-node-critical
serviceAccount: {annotations: {iam.example.com/role: profiler}}
podAnnotations: {team: perf, prometheus.io/scrape: "false"}
podLabels: {team: perf, app.kubernetes.io/name: not-the-selector}
VALUES
set_objs=$(render -f "$E2E_TMP/values.yaml")
ds=$(obj DaemonSet <<<"$set_objs") || fail "no DaemonSet rendered with $E2E_TMP/values.yaml"
pod=$(jq '.spec.template.spec' <<<"$ds")
c=$(jq '.containers[0]' <<<"$pod")
cm=$(obj ConfigMap kprofefe <<<"$set_objs" | jq '.data') || fail "no ConfigMap kprofefe"
v() { jq -cS "$2" <<<"$1"; } # JSON WHAT: compact, keys sorted
assert_eq "[\"profiling\"]" "$(v "$set_objs" '[.[] | .metadata.namespace // empty] | unique')" "namespaces of the objects"
assert_eq profiling "$(v "$set_objs" '.[] | select(.kind == "Namespace") | .metadata.name' | tr -d '"')" "the Namespace"
assert_eq "\"registry.example.com/team/kprofefe@$digest\"" "$(v "$c" .image)" "image with a digest"
assert_eq "$(v "$c" .image)" "$(v "$pod" '.initContainers[0].image')" "the init container's image"
assert_eq '"Always"' "$(v "$c" .imagePullPolicy)" "pullPolicy"
assert_eq '[{"name":"regcred"},{"name":"other"}]' "$(v "$pod" .imagePullSecrets)" "imagePullSecrets"
assert_eq '"https://profefe.example.com:8443"' "$(v "$cm" .PROFEFE_URL)" "PROFEFE_URL"
assert_eq '"/etc/kprofefe/profefe-ca/ca.crt"' "$(v "$cm" .KPROFEFE_PROFEFE_CA)" "KPROFEFE_PROFEFE_CA"
ca_cm=$(obj ConfigMap kprofefe-profefe-ca <<<"$set_objs") || fail "no ConfigMap kprofefe-profefe-ca"
assert_eq "$pem" "$(jq -r '.data["ca.crt"]' <<<"$ca_cm" | sed '/^$/d')" "the CA bundle"
assert_eq '{"mountPath":"/etc/kprofefe/profefe-ca","name":"profefe-ca","readOnly":true}' \
	"$(v "$c" '.volumeMounts[] | select(.name == "profefe-ca")')" "the CA's mount"
assert_eq '"kprofefe-profefe-ca"' "$(v "$pod" '.volumes[] | select(.name == "profefe-ca") | .configMap.name')" "the CA's volume"
secret=$(obj Secret kprofefe-profefe-token <<<"$set_objs") || fail "no Secret kprofefe-profefe-token"
assert_eq s3cret-token "$(jq -r .data.token <<<"$secret" | base64 -d)" "the token in its Secret"
assert_eq '{"key":"token","name":"kprofefe-profefe-token"}' \
	"$(v "$c" '.env[] | select(.name == "KPROFEFE_PROFEFE_TOKEN") | .valueFrom.secretKeyRef')" "the token's env"
grep -q s3cret-token <<<"$(jq 'del(.[] | select(.kind == "Secret"))' <<<"$set_objs")" && fail "the token appears outside its Secret"
want='{"KPROFEFE_CPU_SECONDS":"5","KPROFEFE_DELTA":"false","KPROFEFE_INTERVAL":"30s","KPROFEFE_LOG_FORMAT":"logfmt","KPROFEFE_LOG_LEVEL":"debug","KPROFEFE_METRICS_ADDR":":9200","KPROFEFE_POD_LABELS":"app.kubernetes.io/version,team=example.com/team","KPROFEFE_PROFILES":"cpu,heap","KPROFEFE_SHUTDOWN_GRACE":"40s","KPROFEFE_SPOOL_MAX_AGE":"2h","KPROFEFE_SPOOL_MAX_BYTES":"1Gi"}'
assert_eq "$want" "$(v "$cm" 'with_entries(select(.key | IN("PROFEFE_URL", "KPROFEFE_PROFEFE_CA", "KPROFEFE_SPOOL_DIR") | not))')" "the collector's settings"
assert_eq 50 "$(v "$pod" .terminationGracePeriodSeconds)" "terminationGracePeriodSeconds (shutdown grace + 10)"
assert_eq '[9200]' "$(v "$c" '[.ports[] | select(.name == "metrics") | .containerPort]')" "the metrics port"
assert_eq '["--jitter=5s","--max-concurrency=16"]' "$(v "$c" .args)" "extraArgs"
assert_eq '{"name":"KPROFEFE_BATCH_SIZE","value":"50"}' "$(v "$c" '.env[-1]')" "extraEnv"
assert_eq '"NODE_NAME"' "$(v "$c" '.env[0].name')" "NODE_NAME stays"
assert_eq '"/mnt/disks/kprofefe"' "$(v "$pod" '.volumes[] | select(.name == "spool") | .hostPath.path')" "the spool's hostPath"
assert_eq '"/var/lib/kprofefe/spool"' "$(v "$cm" .KPROFEFE_SPOOL_DIR)" "the spool inside the container"
assert_eq '{"limits":{"memory":"256Mi"},"requests":{"cpu":"50m","memory":"64Mi"}}' "$(v "$c" '.resources')" "resources (null drops the default CPU limit)"
assert_eq '[{"effect":"NoSchedule","key":"dedicated","operator":"Equal","value":"profiling"}]' "$(v "$pod" .tolerations)" "tolerations"
assert_eq '{"kubernetes.io/os":"linux"}' "$(v "$pod" .nodeSelector)" "nodeSelector"
assert_eq '["a","b"]' "$(v "$pod" '.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values')" "affinity"
assert_eq '"system-node-critical"' "$(v "$pod" .priorityClassName)" "priorityClassName"
sa=$(obj ServiceAccount <<<"$set_objs")
assert_eq '"profiler"' "$(v "$sa" '.metadata.annotations["iam.example.com/role"]')" "ServiceAccount annotations"
tmeta=$(jq '.spec.template.metadata' <<<"$ds")
assert_eq '"perf"' "$(v "$tmeta" '.annotations.team')" "podAnnotations"
assert_eq '"false"' "$(v "$tmeta" '.annotations["prometheus.io/scrape"]')" "podAnnotations win over the chart's"
assert_eq '"9200"' "$(v "$tmeta" '.annotations["prometheus.io/port"]')" "prometheus.io/port follows metricsPort"
assert_eq '"perf"' "$(v "$tmeta" '.labels.team')" "podLabels"
# The selector's labels win: the pods must stay the DaemonSet's.
assert_eq "$(v "$ds" .spec.selector.matchLabels)" "$(v "$tmeta" '.labels | with_entries(select(.key | IN("app.kubernetes.io/name", "app.kubernetes.io/component")))')" "selector labels of the pods"
# A digest-less image takes the tag; without a tag, the appVersion.
assert_eq '"registry.example.com/k:1.2"' "$(render --set image.repository=registry.example.com/k --set image.tag=1.2 | obj DaemonSet | jq -c '.spec.template.spec.containers[0].image')" "image with a tag"
# An existing token Secret instead of one the chart makes.
objs=$(render --set profefe.tokenSecret=mine --set profefe.token=ignored)
assert_eq '"mine"' "$(obj DaemonSet <<<"$objs" | jq -c '.spec.template.spec.containers[0].env[] | select(.name == "KPROFEFE_PROFEFE_TOKEN") | .valueFrom.secretKeyRef.name')" "profefe.tokenSecret"
assert_eq 0 "$(jq '[.[] | select(.kind == "Secret")] | length' <<<"$objs")" "Secrets rendered with profefe.tokenSecret"
# namespace.create=false: no Namespace object.
assert_eq 0 "$(render --set namespace.create=false | jq '[.[] | select(.kind == "Namespace")] | length')" "Namespaces with namespace.create=false"
# A changed setting changes the pods' checksum (helm upgrade then rolls them).
sum() { obj DaemonSet | jq -r '.spec.template.metadata.annotations["checksum/config"]'; }
sum0=$(sum <"$E2E_TMP/helm.json")
[[ $sum0 != "$(render --set collector.interval=30s | sum)" ]] || fail "checksum/config ignores collector.interval"
[[ $sum0 != "$(render --set profefe.token=t | sum)" ]] || fail "checksum/config ignores profefe.token"

# ---------------------------------------------------- refused by the schema --

# refused WANT-IN-MESSAGE ARGS...: helm template fails, renders nothing, and
# says that the values break the schema, naming WANT (the value's path and why).
refused() {
	local want=$1 out rc=0
	shift
	out=$(helm template kprofefe "$CHART" "$@" 2>"$E2E_TMP/err") || rc=$?
	((rc != 0)) || fail "helm template $* was accepted"
	[[ -z $out ]] || fail "helm template $* printed objects: $out"
	assert_contains "$(cat "$E2E_TMP/err")" "values don't meet the specifications of the schema" "helm's refusal of $*"
	assert_contains "$(cat "$E2E_TMP/err")" "$want" "helm's refusal of $*"
}
refused "at '/collector/interval': '5 minutes' does not match pattern" --set "collector.interval=5 minutes"
refused "at '/collector/logLevel': value must be one of 'debug', 'info', 'warn', 'error'" --set collector.logLevel=verbose
refused "at '/collector/cpuSeconds': got string, want integer" --set-string collector.cpuSeconds=ten
refused "at '/collector/metricsPort': maximum: got 70,000, want 65,535" --set collector.metricsPort=70000
refused "at '/collector/profiles': 'cpu,memory' does not match pattern" --set 'collector.profiles=cpu\,memory'
refused "at '/collector/podLabels': 'version=' does not match pattern" --set 'collector.podLabels=version='
refused "at '/spool/hostPath': '/' does not match pattern" --set spool.hostPath=/
refused "at '/spool/hostPath': 'var/spool' does not match pattern" --set spool.hostPath=var/spool
refused "at '/image': additional properties 'tags' not allowed" --set image.tags=1.0
refused "at '/image/digest': 'sha256:abc' does not match pattern" --set image.digest=sha256:abc
refused "at '/profefe/url': 'profefe:10100' does not match pattern" --set profefe.url=profefe:10100
refused "at '/podAnnotations/team': got number, want string" --set podAnnotations.team=1
refused "at '/extraArgs/0': '-jitter' does not match pattern" --set 'extraArgs={-jitter}'
refused "at '/extraEnv/0': missing property 'name'" --set 'extraEnv[0].value=x'
refused "at '/tolerations/0/operator': value must be one of 'Exists', 'Equal'" --set 'tolerations[0].operator=Any'
refused "at '/podMonitor': additional properties 'enable' not allowed" --set podMonitor.enable=true
refused "at '/prometheusRule/thresholds': additional properties 'downfor' not allowed" --set prometheusRule.thresholds.downfor=5m
refused "at '/prometheusRule/thresholds/fetchFailureRatio': maximum: got 25, want 1" --set prometheusRule.thresholds.fetchFailureRatio=25
refused "at '/prometheusRule/thresholds/spoolGrowingFor': '30 minutes' does not match pattern" --set "prometheusRule.thresholds.spoolGrowingFor=30 minutes"
refused "at '/dashboards/labels/team': got number, want string" --set dashboards.labels.team=1
# helm install checks the same schema before it talks to the cluster.
out=$(helm install kprofefe "$CHART" --dry-run=client --set collector.logLevel=verbose 2>&1) && fail "helm install accepted a bad value: $out"
assert_contains "$out" "at '/collector/logLevel'" "helm install's refusal"

# --------------------------------------------------- the README's table --

table=$(KPROFEFE_HELM=$KPROFEFE_HELM "$E2E_ROOT/scripts/helm-values-table.sh") || fail "scripts/helm-values-table.sh failed"
in_readme=$(sed -n '/<!-- values-table:begin -->/,/<!-- values-table:end -->/p' "$CHART/README.md" | sed '1d;$d')
[[ $table == "$in_readme" ]] || fail "the values table of $CHART/README.md is not the schema's; run scripts/helm-values-table.sh --write:
$(diff <(echo "$in_readme") <(echo "$table"))"

echo "PASS: helm lint; template == kustomize (less Helm's 4 labels and checksum/config), with the monitoring component too; every value lands; $(grep -c '^refused "' "$0") bad values refused by the schema; README values table"
