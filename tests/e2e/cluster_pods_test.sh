#!/usr/bin/env bash
# e2e: fake-kubelet pods of scripts/cluster.sh: node field selector, pod IPs,
# pprof served on the pod IP (default and annotated port/path), the API
# server's pod proxy, owner labels and non-running pods.
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
ns=e2e-pods

ip_a=$(pod_add web-a1 --node node-a --namespace $ns --owner ReplicaSet/web-7d9f8c \
	--annotate profefe.com/enable=true --label app=web)
ip_b=$(pod_add web-b1 --node node-b --namespace $ns --annotate profefe.com/enable=true)
ip_c=$(pod_add custom --node node-a --namespace $ns --annotate profefe.com/enable=true \
	--annotate profefe.com/port=7070 --annotate profefe.com/path=/custom/pprof)
ip_bad=$(pod_add badann --node node-a --namespace $ns --annotate profefe.com/port=notaport)
pend=$(pod_add pending --node node-a --namespace $ns --phase Pending)
[[ $ip_a =~ ^10\.244\.[0-9]+\.[0-9]+$ ]] || fail "pod add printed '$ip_a', not a pod IP"
assert_eq "$ip_a" "$("$CLUSTER" pod ip web-a1 --namespace $ns)" "pod ip"
assert_eq "" "$pend" "IP of a Pending pod"

# Only node-a's pods, with their IPs, through the real kubectl.
out=$(kubectl get pods -n $ns -o wide --field-selector spec.nodeName=node-a --no-headers)
assert_contains "$out" "$ip_a" "node-a pods"
assert_contains "$out" "$ip_c" "node-a pods"
[[ $out != *web-b1* && $out != *"$ip_b"* ]] || fail "node-b's pod listed for node-a: $out"
assert_eq 4 "$(wc -l <<<"$out")" "node-a pod count (web-a1, custom, badann, pending)"
assert_eq Running "$(kubectl get pod web-a1 -n $ns -o jsonpath='{.status.phase}')" "phase"
assert_eq True "$(kubectl get pod web-a1 -n $ns -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" "Ready"
assert_eq Pending "$(kubectl get pod pending -n $ns -o jsonpath='{.status.phase}')" "pending phase"
assert_eq 7d9f8c "$(kubectl get pod web-a1 -n $ns -o jsonpath='{.metadata.labels.pod-template-hash}')" "pod-template-hash"
assert_eq ReplicaSet/web-7d9f8c "$(kubectl get pod web-a1 -n $ns -o jsonpath='{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}')" "owner"
assert_eq True "$(kubectl get node node-b -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" "node Ready"

# Direct from the host to the pod IP: gzip pprof that go tool pprof reads.
curl -fsS --noproxy '*' -o "$E2E_TMP/heap.pb.gz" "http://$ip_a:6060/debug/pprof/heap" || fail "GET heap from $ip_a"
is_gzip "$E2E_TMP/heap.pb.gz" || fail "heap is not gzip"
# grep, not grep -q: an early exit would SIGPIPE pprof_top and fail the pipe (pipefail).
pprof_top "$E2E_TMP/heap.pb.gz" | grep 'Type: inuse_space' >/dev/null || fail "heap profile has no inuse_space"

# Through the API server's pod proxy.
kubectl get --raw "/api/v1/namespaces/$ns/pods/web-b1:6060/proxy/debug/pprof/goroutine" >"$E2E_TMP/gr.pb.gz" ||
	fail "pod proxy goroutine"
pprof_top "$E2E_TMP/gr.pb.gz" | grep 'Type: goroutine' >/dev/null || fail "proxied goroutine profile unreadable"

# Annotated port and path; the default ones are not served there.
curl -fsS --noproxy '*' -o "$E2E_TMP/c.pb.gz" "http://$ip_c:7070/custom/pprof/heap" || fail "custom port/path"
pprof_top "$E2E_TMP/c.pb.gz" >/dev/null
assert_eq 000 "$(http_code "http://$ip_c:6060/debug/pprof/heap" -m 2)" "default port on the custom pod"
# An invalid port annotation still gets a pod, on the default port.
curl -fsS --noproxy '*' -o /dev/null "http://$ip_bad:6060/debug/pprof/" || fail "bad-annotation pod on defaults"

# Every profile type has samples (cpu during a 2s profile).
for t in allocs goroutine mutex block threadcreate "profile?seconds=2"; do
	curl -fsS --noproxy '*' -o "$E2E_TMP/p" "http://$ip_a:6060/debug/pprof/$t" || fail "GET $t"
	pprof_top "$E2E_TMP/p" | has_samples || fail "$t profile has no samples"
done
curl -fsS --noproxy '*' -o "$E2E_TMP/trace" "http://$ip_a:6060/debug/pprof/trace?seconds=1" || fail "GET trace"
[[ -s $E2E_TMP/trace ]] || fail "empty trace"

# A Running pod without a process refuses connections at once; a pod on a
# node that did not exist yet gets that node, Ready, and an address.
ip_np=$(pod_add noproc --node node-a --namespace $ns --no-process)
assert_eq 000 "$(http_code "http://$ip_np:6060/debug/pprof/heap" -m 2)" "pod without process"
ip_c2=$(pod_add on-c --node node-c --namespace $ns)
assert_eq True "$(kubectl get node node-c -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" "node-c Ready"
curl -fsS --noproxy '*' -o /dev/null "http://$ip_c2:6060/debug/pprof/" || fail "pod on node-c"
assert_eq "$ip_c2" "$(kubectl get pods -n $ns -o wide --field-selector spec.nodeName=node-c --no-headers | awk '{print $6}')" "node-c pod IP"

# A deleted pod's address fails at once (unreachable route), not by timeout.
"$CLUSTER" pod del web-b1 --namespace $ns
start=$(date +%s%N)
assert_eq 000 "$(http_code "http://$ip_b:6060/debug/pprof/heap" -m 5)" "deleted pod"
(($(date +%s%N) - start < 1000000000)) || fail "deleted pod address took over 1s to fail"
kubectl get pod web-b1 -n $ns >/dev/null 2>&1 && fail "pod object web-b1 still exists"
echo "PASS cluster_pods_test"
