#!/usr/bin/env bash
# A node with more pods than one page of the collector's list (100): the list
# is read page by page with the API server's continue tokens, the collector is
# done listing at once (a page that waited on a stalled curl timer took 90 s),
# and the watch that follows the last page sees a pod created after it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/collector_lib.sh"

ns=pages-$RANDOM
node=node-pages
n=230
kubectl create namespace "$ns" >/dev/null
# No controller-manager here makes the namespace's ServiceAccount.
kubectl -n "$ns" create serviceaccount default >/dev/null
e2e_extra_cleanup() {
	collectors_stop_all
	kubectl -n "$ns" delete pods --all --force --grace-period=0 >/dev/null 2>&1 || true
}
# Pods bound to the node and never started: the list carries them, no
# process is needed (a kubelet-less cluster leaves them Pending).
jq -n --arg ns "$ns" --arg node "$node" --argjson n "$n" '{apiVersion: "v1", kind: "List",
	items: [range($n) | {apiVersion: "v1", kind: "Pod",
		metadata: {name: "idle-\(.)", namespace: $ns, annotations: {"profefe.com/enable": "true"}},
		spec: {nodeName: $node, containers: [{name: "app", image: "none"}]}}]}' |
	kubectl create -f - >/dev/null || fail "creating $n pods on $node"

# collector_start waits (30 s at most) for "pods listed".
collector_start pages "$node" --interval 60s --jitter 60s
lists=$(metric_value pages 'kprofefe_kube_requests_total{verb="list",code="200"}')
((lists >= (n + 99) / 100)) || fail "$n pods listed in $lists list requests; want pages of 100: $(collector_log pages)"

# The watch starts from the paged list's resourceVersion: a pod created now,
# annotated and running, becomes a target.
pod_add late --node "$node" --namespace "$ns" --annotate profefe.com/enable=true >/dev/null
has_target() { (($(metric_value pages kprofefe_targets) == 1)); }
wait_for 30 has_target
grep -q 'msg="kubernetes pod watch failed' <(collector_log pages) && fail "the watch failed: $(collector_log pages)"
echo "PASS: $n pods listed in $lists pages, the watch after them sees a new pod"
