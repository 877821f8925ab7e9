# What a kubelet would run for one node from a DaemonSet's pod template, as a
# plan a test can execute on this machine (tests/e2e/daemonset_install_test.sh).
#
# Input: the DaemonSet as the API server returns it (kubectl get ds -o json).
# Arguments:
#   $node      the node the pod is bound to (spec.nodeName)
#   $cms       {name: data} of the ConfigMaps in the DaemonSet's namespace
#   $root      a directory standing for this node's filesystem and pod volumes
#   $image_bin the collector's path in the image; $host_bin the built binary
#
# Output: {namespace, pod, serviceAccountName, terminationGracePeriodSeconds,
#   volumes: [{name, dir, hostPath?, type?, files: [{path, token?|configMap?|value?}]}],
#   initContainers: [C], containers: [C]} where C is {name, argv, env: [[NAME,
#   value]...] (in order), runAsUser, runAsGroup, runAsNonRoot, noNewPrivs,
#   readOnlyRootFilesystem, capAdd, capDrop, seccomp, mounts: [{mountPath, dir,
#   readOnly, volume}], ports: {name: number}, probes: {liveness, readiness:
#   {path, port}}, resources}.
# Paths under a volume's mountPath in the env and argv are rewritten to the
# volume's directory under $root. Anything this translation does not know (a
# secret, a resourceFieldRef, a volume type other than hostPath, projected or
# emptyDir...) is an error naming it, never silently skipped.

def fail(msg): error("daemonset_pod.jq: " + msg);

.metadata.namespace as $ns
| ("kprofefe-" + $node) as $pod
| .spec.template.spec as $spec

# The pod's own fields, as fieldRef and downwardAPI items read them.
| def field($path):
    if $path == "spec.nodeName" then $node
    elif $path == "metadata.namespace" then $ns
    elif $path == "metadata.name" then $pod
    elif $path == "spec.serviceAccountName" then $spec.serviceAccountName
    else fail("unsupported fieldRef " + $path) end;

  def cm_value($name; $key; $optional):
    ($cms[$name] // null) as $data
    | if $data != null and ($data | has($key)) then $data[$key]
      elif $optional then null
      else fail("ConfigMap " + $name + " key " + $key + " not found") end;

  # Kubernetes' $(VAR) expansion, with the variables defined so far.
  def expand($vars):
    if test("\\$\\$\\(") then fail("$$( escapes are not supported: " + .) else . end
    | gsub("\\$\\((?<v>[A-Za-z_][A-Za-z0-9_]*)\\)";
        if $vars[.v] != null then $vars[.v] else "$(" + .v + ")" end);

  # Each volume: its directory under $root, and the files a projected one holds.
  def volume_plan:
    . as $v
    | if .hostPath then
        {name, dir: ($root + "/host" + .hostPath.path), hostPath: .hostPath.path,
         type: (.hostPath.type // "")}
      elif .emptyDir then {name, dir: ($root + "/volumes/" + .name)}
      elif .projected then
        {name, dir: ($root + "/volumes/" + .name),
         files: [.projected.sources[]
           | if .serviceAccountToken then
               {path: .serviceAccountToken.path,
                token: {expirationSeconds: (.serviceAccountToken.expirationSeconds // 3600),
                        audience: (.serviceAccountToken.audience // "")}}
             elif .configMap then
               .configMap as $c
               | $c.items[] | {path, configMap: {name: $c.name, key}}
             elif .downwardAPI then
               .downwardAPI.items[]
               | if .fieldRef then {path, value: field(.fieldRef.fieldPath)}
                 else fail("unsupported downwardAPI item " + .path) end
             else fail("unsupported projected source in volume " + $v.name) end]}
      else fail("unsupported volume type of volume " + .name) end;

  ([$spec.volumes[]? | volume_plan]) as $volumes

  # A path as this machine sees it: under the directory of the volume mounted there.
  | def mapped($mounts):
      . as $p
      | ([$mounts[] | select(.mountPath as $mp | $p == $mp or ($p | startswith($mp + "/")))]
         | max_by(.mountPath | length)) as $m
      | if $m == null then $p else $m.dir + $p[($m.mountPath | length):] end;

    def env_plan($c):
      reduce (
        ($c.envFrom[]? |
          if .configMapRef then
            (.prefix // "") as $prefix | .configMapRef as $r
            | (($cms[$r.name] // (if $r.optional then {} else fail("ConfigMap " + $r.name + " not found") end))
               | to_entries[] | [$prefix + .key, .value])
          else fail("unsupported envFrom (only configMapRef)") end),
        ($c.env[]? |
          if has("value") then [.name, {literal: .value}]
          elif .valueFrom.fieldRef then [.name, field(.valueFrom.fieldRef.fieldPath)]
          elif .valueFrom.configMapKeyRef then
            .valueFrom.configMapKeyRef as $r
            | [.name, cm_value($r.name; $r.key; ($r.optional // false))]
          else fail("unsupported env source of " + .name) end)
      ) as $e ({list: [], vars: {}};
        # Only literal values are $(VAR)-expanded, as Kubernetes does.
        .vars as $vars
        | ($e[1] | if type == "object" then .literal | expand($vars) else . end) as $value
        | if $value == null then .
          else .vars[$e[0]] = $value | .list = ([.list[] | select(.[0] != $e[0])] + [[$e[0], $value]]) end)
      | .;

    def container_plan($init):
      . as $c
      | ($spec.securityContext // {}) as $psc
      | ($c.securityContext // {}) as $sc
      | [$c.volumeMounts[]? | . as $vm
          | ($volumes[] | select(.name == $vm.name)) as $v
          | {mountPath, readOnly: (.readOnly // false), volume: .name,
             dir: ($v.dir + (if .subPath then "/" + .subPath else "" end))}] as $mounts
      | env_plan($c) as $env
      | (if $c.command then $c.command else fail("container " + $c.name + " has no command (the image's ENTRYPOINT is not read)") end) as $cmd
      | [($cmd + ($c.args // []))[] | expand($env.vars) | mapped($mounts)] as $argv
      | ([$c.ports[]? | select(.name) | {key: .name, value: .containerPort}] | from_entries) as $ports
      | def probe: if . == null then null
                   elif .httpGet then {path: .httpGet.path,
                     port: (.httpGet.port | if type == "string" then $ports[.] else . end)}
                   else fail("unsupported probe of " + $c.name) end;
        {name: $c.name, init: $init,
         argv: ([$argv[0] | if . == $image_bin then $host_bin else . end] + $argv[1:]),
         env: [$env.list[] | [.[0], (.[1] | mapped($mounts))]],
         runAsUser: ($sc.runAsUser // $psc.runAsUser // null),
         runAsGroup: ($sc.runAsGroup // $psc.runAsGroup // null),
         runAsNonRoot: (if $sc | has("runAsNonRoot") then $sc.runAsNonRoot else ($psc.runAsNonRoot // false) end),
         noNewPrivs: ($sc.allowPrivilegeEscalation == false),
         readOnlyRootFilesystem: ($sc.readOnlyRootFilesystem // false),
         privileged: ($sc.privileged // false),
         capAdd: ($sc.capabilities.add // []), capDrop: ($sc.capabilities.drop // []),
         seccomp: (($sc.seccompProfile // $psc.seccompProfile // {}).type // null),
         mounts: $mounts, ports: $ports,
         probes: {liveness: ($c.livenessProbe | probe), readiness: ($c.readinessProbe | probe)},
         resources: ($c.resources // {})};

    {namespace: $ns, pod: $pod, node: $node,
     serviceAccountName: ($spec.serviceAccountName // "default"),
     terminationGracePeriodSeconds: ($spec.terminationGracePeriodSeconds // 30),
     volumes: $volumes,
     initContainers: [$spec.initContainers[]? | container_plan(true)],
     containers: [$spec.containers[] | container_plan(false)]}
