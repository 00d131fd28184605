#!/usr/bin/env bash
# Proves the manifests in deploy/ against a REAL control plane (scripts/control-plane.sh, in a temp dir):
#  1. `kubectl kustomize` renders the base and every overlay with the kubectl on PATH (Debian's 1.20 embeds
#     kustomize v2.0.3; current ones v5: the manifests are written for both);
#  2. static checks on what was rendered: labels and selectors agree, the pod meets Pod Security `restricted`,
#     probes and resources are set, production pins its image by digest, and the RBAC grants read verbs on
#     exactly what server/src/collector/watch.rs reads (+ core events and metrics.k8s.io), never Secrets;
#  3. the base applied for real: the ReplicaSet controller creates its pod (admission accepts the spec), and
#     `kubectl auth can-i --as` the service account: yes to get/list/watch of every kind the collector reads,
#     no to Secrets, ConfigMaps, exec, logs, deletes, creates, updates;
#  4. the release binary run as the Deployment runs it (its args and the ConfigMap's env; base, dev, staging,
#     production) but with the service account's token: /readyz turns 200, the log has no collector notice
#     but "not served" (nothing forbidden, no error), and /api/v1/topology holds exactly the namespaces,
#     nodes, pods, services, deployments and replica sets kubectl lists;
#  5. the namespaced overlay applied for real: the same account now reads pods in team-a/team-b only, and the
#     collector with its GESTALT_NAMESPACES sees those namespaces, nothing forbidden, nothing else;
#  6. `kubectl apply --dry-run=server` accepts dev, staging and production (Ingress, HPA included).
# 1.20 has no policy/v1 (1.21+), so on such a server the PodDisruptionBudget is checked as policy/v1beta1
# (same fields); it says so. Always stops what it started; on failure names the check, shows the logs' tails,
# keeps the temp dir, exits 1. Ends with `N passed, 0 failed`.
#
# Env: GESTALT_BIN                  the release binary (default target/release/gestalt-live)
#      GESTALT_SITE_ROOT            its site (default target/site)
#      GESTALT_SKIP_CONTROL_PLANE=1 skip (loudly)
#      GESTALT_DEPLOY_KEEP=1        keep the temp dir even on success
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CHECKS_NAME=test-deploy
# shellcheck source=scripts/lib/checks.sh
. "$root/scripts/lib/checks.sh"
skip_without_control_plane "deploy/ was NOT checked against a real API server"

cp_sh=$root/scripts/control-plane.sh
deploy=$root/deploy
bin=${GESTALT_BIN:-$root/target/release/gestalt-live}
site=${GESTALT_SITE_ROOT:-$root/target/site}
NS=gestalt-live
SA=gestalt-live
AS=system:serviceaccount:$NS:$SA
OVERLAYS=(dev staging production namespaced)

for c in kubectl jq curl; do
  command -v "$c" >/dev/null 2>&1 || { say "error: $c not found"; exit 1; }
done
[ -x "$bin" ] || { say "error: $bin missing: run 'make build' (or set GESTALT_BIN)"; exit 1; }
[ -d "$site" ] || { say "error: $site missing: run 'make build' (or set GESTALT_SITE_ROOT)"; exit 1; }

t0=$(now)
"$cp_sh" build

work=$(mktemp -d "${TMPDIR:-/tmp}/gestalt-deploy.XXXXXX")
dir=$work/cp
ok=
collector_pid=
collector_log=
stop_collector() {
  if [ -n "$collector_pid" ] && kill -0 "$collector_pid" 2>/dev/null; then
    kill -TERM "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
  fi
  collector_pid=
}
cleanup() {
  local rc=$?
  stop_collector
  "$cp_sh" stop "$dir" >/dev/null 2>&1 || true
  if [ -n "$ok" ] && [ "${GESTALT_DEPLOY_KEEP:-}" != 1 ]; then
    rm -rf "$work"
  else
    say "kept $work (rendered overlays, collector logs; control-plane logs in $dir/logs)"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { # check detail
  say "FAILED: $1"
  [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/    /' >&2
  if [ -n "$collector_log" ] && [ -f "$collector_log" ]; then
    say "----- last 30 lines of $collector_log"
    tail -n 30 "$collector_log" >&2
  fi
  local f
  for f in "$dir"/logs/kube-apiserver.log "$dir"/logs/kube-controller-manager.log; do
    [ -f "$f" ] || continue
    say "----- last 10 lines of $f"
    tail -n 10 "$f" >&2
  done
  echo "$passed passed, 1 failed"
  exit 1
}

kver=$(kubectl version --client -o json 2>/dev/null | jq -r '.clientVersion.gitVersion' || echo unknown)

# --- 1. every overlay renders ------------------------------------------------------------------------------
for o in base "${OVERLAYS[@]}"; do
  src=$deploy/$o
  [ "$o" = base ] || src=$deploy/overlays/$o
  # Current kustomize warns on stderr about `bases`/`patchesStrategicMerge` (kept for kubectl 1.20).
  kubectl kustomize "$src" >"$work/$o.yaml" 2>"$work/$o.kustomize.err" \
    || fail "kubectl kustomize $src (kubectl $kver)" "$(cat "$work/$o.kustomize.err")"
  [ -s "$work/$o.yaml" ] || fail "kubectl kustomize $src (kubectl $kver)" "rendered nothing"
done
pass "kubectl $kver kustomize renders base and ${OVERLAYS[*]}"

t1=$(now)
mkdir -p "$dir"
"$cp_sh" start "$dir" >"$work/control-plane-start.log" 2>&1 \
  || fail "control plane starts" "$(tail -n 30 "$work/control-plane-start.log")"
t_start=$(($(now) - t1))
# shellcheck disable=SC1091
. "$dir/env"
export KUBECACHEDIR=$dir/.kube-cache # keep kubectl's discovery cache out of ~/.kube
k() { kubectl --request-timeout=20s "$@"; }
pass "control plane starts ($t_start s)"

# Servers before 1.21 have no policy/v1: check the PodDisruptionBudget as policy/v1beta1 (same fields).
pdb_note=
if ! k api-versions | grep -qx policy/v1; then
  pdb_note=" (PodDisruptionBudget as policy/v1beta1: this server has no policy/v1)"
  say "note: $(k version -o json 2>/dev/null | jq -r .serverVersion.gitVersion) has no policy/v1;" \
    "the PodDisruptionBudget is checked as policy/v1beta1"
fi
for o in base "${OVERLAYS[@]}"; do
  if [ -n "$pdb_note" ]; then
    sed 's#^apiVersion: policy/v1$#apiVersion: policy/v1beta1#' "$work/$o.yaml" >"$work/$o.apply.yaml"
  else
    cp "$work/$o.yaml" "$work/$o.apply.yaml"
  fi
  # JSON for the static checks: a client-side dry run only converts (the server is only asked for discovery).
  # Some kubectl versions print one document per object, others a List: slurp both into one List.
  k create --dry-run=client -o json -f "$work/$o.apply.yaml" 2>"$work/$o.json.err" \
    | jq -s '{kind: "List", items: [.[] | if .kind == "List" then .items[] else . end]}' >"$work/$o.json" \
    || fail "convert the rendered $o to JSON" "$(cat "$work/$o.json.err")"
  jq -e '.kind == "List" and (.items | length) > 1' "$work/$o.json" >/dev/null \
    || fail "convert the rendered $o to JSON" "not a List of objects: $(head -c 300 "$work/$o.json")"
done

# --- 2. static checks on every rendered overlay ---------------------------------------------------------------
# Each jq program prints one line per problem; none means the check passed.
check_static() { # overlay
  local o=$1 problems
  problems=$(jq -r --arg o "$o" '
    .items as $items
    | ($items | map(select(.kind == "Deployment" and .metadata.name == "gestalt-live")) | .[0]) as $d
    | if $d == null then "no Deployment gestalt-live" else
      ($d.spec.selector.matchLabels) as $sel
      | ($d.spec.template.metadata.labels) as $podlabels
      | ($d.spec.template.spec) as $pod
      | ($pod.containers[0]) as $c
      | def subset($a; $b): ($a | to_entries | all(. as $e | $b[$e.key] == $e.value));
      def sel_ok($what; $s): if $s == $sel then empty else "\($what) selects \($s), the Deployment \($sel)" end;
      # labels: every object carries the app.kubernetes.io set
      ($items[] | select((.metadata.labels // {}) as $l
          | ($l["app.kubernetes.io/name"] != "gestalt-live" or $l["app.kubernetes.io/part-of"] != "gestalt-live"
             or $l["app.kubernetes.io/managed-by"] != "kustomize"))
        | "\(.kind)/\(.metadata.name) lacks the app.kubernetes.io/{name,part-of,managed-by} labels"),
      (if subset($sel; $podlabels) then empty else "pod labels \($podlabels) do not match the selector \($sel)" end),
      ($items[] | select(.kind == "Service") | sel_ok("Service \(.metadata.name)"; .spec.selector)),
      ($items[] | select(.kind == "PodDisruptionBudget") | sel_ok("PDB"; .spec.selector.matchLabels)),
      ($items[] | select(.kind == "NetworkPolicy" and .metadata.name == "gestalt-live")
        | sel_ok("NetworkPolicy"; .spec.podSelector.matchLabels)),
      ($pod.topologySpreadConstraints // [] | .[] | sel_ok("topology spread \(.topologyKey)"; .labelSelector.matchLabels)),
      (if ($pod.topologySpreadConstraints // [] | length) >= 2 then empty else "no topology spread constraints" end),
      ($items[] | select(.kind == "HorizontalPodAutoscaler")
        | if .spec.scaleTargetRef.name == $d.metadata.name and .spec.scaleTargetRef.kind == "Deployment" then empty
          else "HPA targets \(.spec.scaleTargetRef)" end),
      ($items[] | select(.kind == "Ingress") | .spec.rules[].http.paths[].backend.service
        | . as $b | if ($items | any(.kind == "Service" and .metadata.name == $b.name
              and (.spec.ports | any(.name == $b.port.name))))
          then empty else "Ingress backend \($b) is no Service port" end),
      (if [$items[] | select(.kind == "ConfigMap")] | length == 1 then empty else "not exactly one ConfigMap" end),
      ($c.envFrom // [] | .[] | .configMapRef.name as $n
        | if $items | any(.kind == "ConfigMap" and .metadata.name == $n) then empty
          else "envFrom names ConfigMap \($n), which is not rendered" end),
      # Pod Security Standards, restricted profile
      (if $pod.securityContext.runAsNonRoot == true then empty else "pod: runAsNonRoot is not true" end),
      (if ($pod.securityContext.runAsUser // 0) > 0 and ($pod.securityContext.runAsGroup // 0) > 0 then empty
       else "pod: runAsUser/runAsGroup not numeric non-zero" end),
      (if $pod.securityContext.seccompProfile.type == "RuntimeDefault" then empty else "pod: seccomp is not RuntimeDefault" end),
      (if ($pod.hostNetwork // false) or ($pod.hostPID // false) or ($pod.hostIPC // false) then "pod: host namespaces" else empty end),
      ($pod.volumes // [] | .[] | select(has("hostPath")) | "pod: hostPath volume \(.name)"),
      ($pod.containers[] | . as $x
        | (if $x.securityContext.allowPrivilegeEscalation == false then empty else "\($x.name): allowPrivilegeEscalation not false" end),
          (if ($x.securityContext.capabilities.drop // []) | index("ALL") then empty else "\($x.name): capabilities not dropped" end),
          (if ($x.securityContext.capabilities.add // []) == [] then empty else "\($x.name): capabilities added" end),
          (if $x.securityContext.readOnlyRootFilesystem == true then empty else "\($x.name): root filesystem writable" end),
          (if ($x.securityContext.privileged // false) then "\($x.name): privileged" else empty end),
          (if $x.resources.requests.cpu and $x.resources.requests.memory and $x.resources.limits.cpu
              and $x.resources.limits.memory then empty else "\($x.name): requests/limits incomplete" end)),
      (if $pod.automountServiceAccountToken == true then empty else "pod: the collector needs its token mounted" end),
      ($items[] | select(.kind == "ServiceAccount")
        | if .automountServiceAccountToken == false then empty else "ServiceAccount mounts its token by default" end),
      (if $c.livenessProbe.httpGet.path == "/healthz" and $c.readinessProbe.httpGet.path == "/readyz" then empty
       else "probes: liveness \($c.livenessProbe.httpGet.path), readiness \($c.readinessProbe.httpGet.path)" end),
      ($items[] | select(.kind == "Namespace")
        | .metadata.labels as $l
        | ["enforce", "audit", "warn"][] | select($l["pod-security.kubernetes.io/\(.)"] != "restricted")
        | "Namespace: pod-security.kubernetes.io/\(.) is not restricted"),
      (if $items | any(.kind == "NetworkPolicy" and .spec.podSelector == {}
            and (.spec.policyTypes | sort) == ["Egress", "Ingress"] and (.spec.ingress // []) == []
            and (.spec.egress // []) == [])
       then empty else "no default-deny NetworkPolicy" end),
      # production: pinned image, TLS ingress, HPA owning the replica count
      (if $o != "production" then empty else
        (if $c.image | test("@sha256:[0-9a-f]{64}$") then empty else "production image \($c.image) is not pinned by digest" end),
        (if $items | any(.kind == "Ingress" and (.spec.tls | length) > 0
              and .metadata.annotations["cert-manager.io/cluster-issuer"]) then empty
         else "production: no Ingress with TLS and a cert-manager issuer" end),
        (if $items | any(.kind == "HorizontalPodAutoscaler" and .spec.minReplicas >= 2) then empty
         else "production: no HPA with minReplicas >= 2" end),
        (if $d.spec | has("replicas") then "production: the Deployment sets replicas next to its HPA" else empty end),
        (if ($c.resources.requests.memory == $c.resources.limits.memory) then empty
         else "production: memory request != limit" end)
      end),
      (if $o == "dev" or $o == "staging" then
        (if ($d.spec.replicas // 0) >= 1 then empty else "\($o): no replica count" end) else empty end),
      (if $o == "staging" and ($d.spec.replicas // 0) < 2 then "staging: fewer than 2 replicas" else empty end)
    end' "$work/$o.json") || fail "static checks of $o" "jq failed on $work/$o.json"
  [ -z "$problems" ] || fail "static checks of $o" "$problems"
}
for o in base "${OVERLAYS[@]}"; do check_static "$o"; done
pass "static: labels/selectors agree, pod meets PSS restricted, probes, resources, production pinned (${OVERLAYS[*]})"

# RBAC: the (group, resource) pairs the rules grant must be exactly what watch.rs reads, plus core events and
# metrics.k8s.io pods/nodes; verbs get/list/watch (metrics: get/list); never a wildcard, a subresource, a
# Secret or a ConfigMap. watch.rs names group versions (`apps/v1`, `v1`); RBAC names groups.
expected=$(
  {
    awk '/^pub const (FEEDS|FALLBACKS)/, /^\];/' "$root/server/src/collector/watch.rs" \
      | grep -oE '"[a-z0-9.]*/?v[0-9a-z]+", "[a-z]+"' \
      | sed -E 's#^"(([a-z0-9.]*)/)?v[0-9a-z]+", "([a-z]+)"$#\2/\3 get,list,watch#'
    echo "/events get,list,watch"
    echo "metrics.k8s.io/pods get,list"
    echo "metrics.k8s.io/nodes get,list"
  } | sort -u
)
[ "$(wc -l <<<"$expected")" -ge 15 ] || fail "read FEEDS from server/src/collector/watch.rs" "got: $expected"
rbac_grants() { # overlay: "group/resource verbs" of every ClusterRole/Role
  jq -r '.items[] | select(.kind == "ClusterRole" or .kind == "Role") | .rules[]
    | . as $r | $r.apiGroups[] as $g | $r.resources[] as $res
    | "\($g)/\($res) \($r.verbs | sort | join(","))"' "$work/$1.json" | sort -u
}
for o in base "${OVERLAYS[@]}"; do
  got=$(rbac_grants "$o") || fail "RBAC of $o" "jq failed on $work/$o.json"
  [ "$got" = "$expected" ] || fail "RBAC of $o grants exactly what the collector reads" \
    "$(diff <(echo "$expected") <(echo "$got") | sed 's/^</missing:/; s/^>/extra:  /' | grep -E '^(missing|extra)')"
  bad=$(jq -r '.items[] | select(.kind == "ClusterRole" or .kind == "Role") | .rules[]
    | select(. as $r | (($r.verbs + $r.resources + $r.apiGroups) | any(. == "*" or test("/") or . == "secrets" or . == "configmaps"))
             or ($r.verbs - ["get", "list", "watch"] | length > 0) or has("nonResourceURLs") or has("resourceNames"))
    | tostring' "$work/$o.json") || fail "RBAC of $o is read-only, no secrets" "jq failed on $work/$o.json"
  [ -z "$bad" ] || fail "RBAC of $o is read-only, no secrets" "$bad"
done
pass "RBAC (base, ${OVERLAYS[*]}): get/list/watch on exactly watch.rs's $(wc -l <<<"$expected") resources (events, metrics incl.), no secrets/configmaps/wildcards"

# --- 3. the base, applied for real ------------------------------------------------------------------------------
out=$(k apply -f "$work/base.apply.yaml" 2>&1) || fail "kubectl apply the base$pdb_note" "$out"
pass "kubectl apply base$pdb_note"

# Something for the collector to see: two namespaces with a deployment + service, one it must not see in
# namespaced mode, and a node.
for ns in gestalt-demo team-a team-b outside; do
  out=$(k create namespace "$ns" 2>&1) || fail "create namespace $ns" "$out"
done
for pair in gestalt-demo/web team-a/api outside/hidden; do
  ns=${pair%/*} name=${pair#*/}
  out=$(k -n "$ns" create deployment "$name" --image="registry.example.com/$name:1" --replicas=2 2>&1 \
    && k -n "$ns" create service clusterip "$name" --tcp=80:8080 2>&1) || fail "create $pair" "$out"
done
out=$(k apply -f - 2>&1 <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: gestalt-deploy-node
  labels: {kubernetes.io/hostname: gestalt-deploy-node, kubernetes.io/os: linux}
EOF
) || fail "create a node" "$out"

# The ReplicaSet controller creates the gestalt-live pod: the apiserver's admission accepts the pod spec
# (security context, probes, volumes, the service account's token). No kubelet runs it.
gl_pod() { k -n "$NS" get pods -l app.kubernetes.io/name=gestalt-live -o name | grep -q .; }
within 30 gl_pod || fail "the base Deployment gets a pod within 30 s" \
  "$(k -n "$NS" get deploy,rs,pods -o wide 2>&1; k -n "$NS" get events 2>&1 | tail -n 5)"
pod=$(k -n "$NS" get pods -l app.kubernetes.io/name=gestalt-live -o name | head -n 1)
# The ServiceAccount says no token; the pod template opts in, so admission must have mounted it here.
mounts=$(k -n "$NS" get "$pod" -o jsonpath='{.spec.containers[0].volumeMounts[*].mountPath}')
grep -qw /var/run/secrets/kubernetes.io/serviceaccount <<<"$mounts" \
  || fail "the gestalt-live pod mounts its service account token" "mounts: $mounts"
pass "the base Deployment's pod is admitted, with its service account token mounted ($pod)"

# The service account's token, read by the admin (never by the collector), from the Secret the token
# controller writes for it (Kubernetes < 1.24; newer ones would use `kubectl create token`).
sa_token() {
  local secret
  secret=$(k -n "$NS" get sa "$SA" -o jsonpath='{.secrets[0].name}') && [ -n "$secret" ] \
    && k -n "$NS" get secret "$secret" -o jsonpath='{.data.token}' | base64 -d >"$work/sa.token" \
    && [ -s "$work/sa.token" ]
}
within 30 sa_token || fail "the token controller makes a token for $NS/$SA within 30 s" "$(k -n "$NS" get sa,secrets 2>&1)"
chmod 600 "$work/sa.token"

# --- 4. kubectl auth can-i as the service account ------------------------------------------------------------------
can() { # expect(yes|no) verb resource [kubectl flags]
  local want=$1 verb=$2 res=$3 got; shift 3
  got=$(k auth can-i "$verb" "$res" --as="$AS" "$@" 2>/dev/null || true)
  [ "$got" = "$want" ] || fail "can-i $verb $res $* as $AS" "expected '$want', got '$got'"
}
# kubectl cannot name a resource of a group the server does not serve (it would ask about a core resource
# called `pods.metrics.k8s.io`): metrics.k8s.io without metrics-server, as here. Those are asked with a
# SubjectAccessReview, which names group and resource apart, as the authorizer sees a real request.
sar() { # expect(yes|no) verb group resource namespace
  local got
  got=$(k create -o jsonpath='{.status.allowed}' -f - 2>&1 <<EOF
apiVersion: authorization.k8s.io/v1
kind: SubjectAccessReview
spec:
  user: "$AS"
  groups: [system:serviceaccounts, "system:serviceaccounts:$NS", system:authenticated]
  resourceAttributes: {verb: "$2", group: "$3", resource: "$4", namespace: "$5"}
EOF
  ) || fail "SubjectAccessReview $2 $4.$3 as $AS" "$got"
  case $got in true) got=yes ;; false | '') got=no ;; esac
  [ "$got" = "$1" ] || fail "SubjectAccessReview $2 $4.$3 (namespace '${5:-all}') as $AS" "expected '$1', got '$got'"
}
served=$(k api-versions | sed 's#/.*##' | sort -u)
n=0 n_sar=0
while read -r gr verbs; do
  group=${gr%/*} res=${gr#*/}
  for verb in ${verbs//,/ }; do
    if [ -z "$group" ]; then can yes "$verb" "$res" -A
    elif grep -qxF "$group" <<<"$served"; then can yes "$verb" "$res.$group" -A
    else sar yes "$verb" "$group" "$res" ""; n_sar=$((n_sar + 1))
    fi
    n=$((n + 1))
  done
done <<<"$expected"
pass "can-i: $n yes (get/list/watch of every kind the collector reads, cluster-wide; $n_sar by SubjectAccessReview: group not served here)"
n=0
for verb in get list watch; do
  can no "$verb" secrets -A; can no "$verb" secrets -n "$NS"; n=$((n + 2))
done
# (`pods/log` would be read as the pod named log: subresources go in --subresource.)
for args in "list configmaps -A" "create pods --subresource=exec -n $NS" "get pods --subresource=log -A" "create pods --subresource=portforward -A" \
  "delete pods -A" "deletecollection pods -A" "create pods -n $NS" "create deployments.apps -n gestalt-demo" \
  "update deployments.apps -A" "patch services -A" "delete namespaces" "create namespaces" \
  "create serviceaccounts --subresource=token -n $NS" "impersonate users" "update clusterroles.rbac.authorization.k8s.io" \
  "escalate clusterroles.rbac.authorization.k8s.io" "bind clusterroles.rbac.authorization.k8s.io" \
  "create rolebindings.rbac.authorization.k8s.io -n $NS" "* *"; do
  set -f # `* *` is RBAC's wildcard, not a glob
  # shellcheck disable=SC2086
  can no $args
  set +f
  n=$((n + 1))
done
pass "can-i: $n no (secrets in any namespace, configmaps, exec, logs, port-forward, delete, create, update, patch, escalate, bind, impersonate, *)"

# --- 5. the collector, run as the Deployment runs it, with the service account's token ------------------------------
# The Deployment's args (its --listen replaced by a loopback port 0) and the ConfigMap's env, plus the token
# flags that replace in-cluster credentials outside a pod.
start_collector() { # overlay name
  local o=$1 name=$2 args=() a next='' env=()
  while IFS= read -r a; do
    if [ -n "$next" ]; then args+=(127.0.0.1:0); next=; continue; fi
    case $a in --listen) args+=("$a"); next=1 ;; --listen=*) args+=(--listen=127.0.0.1:0) ;; *) args+=("$a") ;; esac
  done < <(jq -r '.items[] | select(.kind == "Deployment") | .spec.template.spec.containers[0].args[]' "$work/$o.json")
  mapfile -t env < <(jq -r '.items[] | select(.kind == "ConfigMap") | .data | to_entries[] | "\(.key)=\(.value)"' "$work/$o.json")
  collector_log=$work/$name.log
  # Only the ConfigMap's variables, as in the pod: nothing from this shell (KUBECONFIG, GESTALT_*) leaks in.
  env -i HOME="$HOME" PATH="$PATH" "${env[@]}" "$bin" "${args[@]}" --server "$GESTALT_CP_SERVER" --token-file "$work/sa.token" \
    --ca-file "$GESTALT_CP_CA" --site-root "$site" >"$collector_log" 2>&1 &
  collector_pid=$!
  say "$name: $(printf '%s ' "${env[@]}")gestalt-live ${args[*]} --server … --token-file <$SA token> (pid $collector_pid)"
}
collector_url() { grep -oE 'serving http://127\.0\.0\.1:[0-9]+' "$collector_log" | head -n 1 | sed 's/^serving //'; }
collector_ready() {
  kill -0 "$collector_pid" 2>/dev/null || return 2
  local url; url=$(collector_url)
  [ -n "$url" ] && [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url/readyz")" = 200 ]
}
# "kind ns/name" lines of the topology, and of kubectl for the same kinds.
topology_lines() {
  curl -fsS --max-time 10 "$(collector_url)/api/v1/topology" \
    | jq -r '.entities[] | .[1] | select(.kind | IN("namespace", "node", "pod", "service", "deployment", "replicaset"))
             | "\(.kind) \(.id.namespace)/\(.id.name)"' | sort
}
kubectl_lines() { # namespaces to keep (empty: all)
  local keep=$1 kind res
  for kind in namespace node pod service deployment replicaset; do
    res=${kind}s
    k get "$res" -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}{"\n"}{end}' \
      | awk -v k="$kind" -v keep="$keep" '
          BEGIN { n = split(keep, K, ","); for (i = 1; i <= n; i++) allow[K[i]] = 1 }
          { ns = $0; sub(/\/.*/, "", ns); name = $0; sub(/^[^\/]*\//, "", name)
            if (k == "namespace") { ns = ""; if (n && !(name in allow)) next }
            else if (n && k != "node" && !(ns in allow)) next
            print k " " ns "/" name }'
  done | sort
}
topology_matches() { # keep
  topology_lines >"$work/topology.txt" && kubectl_lines "$1" >"$work/kubectl.txt" \
    && cmp -s "$work/topology.txt" "$work/kubectl.txt"
}
check_collector() { # name keep what
  local name=$1 keep=$2 what=$3 rc=0
  within 30 collector_ready || rc=$?
  kill -0 "$collector_pid" 2>/dev/null || fail "$name: gestalt-live serve keeps running" "it exited: $(tail -n 5 "$collector_log")"
  [ $rc = 0 ] || fail "$name: /readyz turns 200 within 30 s" "$(grep -i 'notice\|error\|warn' "$collector_log" | tail -n 10)"
  within 30 topology_matches "$keep" || fail "$name: /api/v1/topology holds what kubectl lists ($what)" \
    "$(diff "$work/kubectl.txt" "$work/topology.txt" | sed 's/^</kubectl only:/; s/^>/topology only:/' | grep only: | head -n 20)"
  # Forbidden or failing watchers fail the test; a kind this server does not serve (e.g. metrics.k8s.io without
  # metrics-server) is no RBAC matter and is only reported.
  # The metrics poller words its notice differently: "metrics: metrics.k8s.io not served, usage unavailable".
  if grep 'collector notice' "$collector_log" | grep -vE ': not served, skipped|: metrics\.k8s\.io not served' | grep -q .; then
    fail "$name: no collector notice but 'not served' (nothing forbidden, no error)" "$(grep 'collector notice' "$collector_log")"
  fi
  local missing
  missing=$(grep -oE 'collector notice: [^:]+: (metrics\.k8s\.io )?not served' "$collector_log" \
    | sed 's/collector notice: //; s/: .*not served//' \
    | sort -u | paste -sd, - || true)
  if grep -qi 'secret' "$collector_log"; then
    fail "$name: the collector never touches secrets" "$(grep -i secret "$collector_log" | head -n 5)"
  fi
  pass "$name: ready, nothing forbidden, topology = kubectl ($(wc -l <"$work/topology.txt") objects: $what)${missing:+; not served here: $missing}"
}

start_collector base collector-base
check_collector collector-base "" "all namespaces, nodes, pods, services, deployments, replicasets"
stop_collector
# The other overlays' args and ConfigMaps (dev's debug log filter, ...) with the same RBAC as the base.
for o in dev staging production; do
  start_collector "$o" "collector-$o"
  check_collector "collector-$o" "" "$o's args and ConfigMap"
  stop_collector
done

# --- 6. namespaced mode: narrowed ClusterRole + RoleBindings in team-a, team-b -----------------------------------------
out=$(k apply -f "$work/namespaced.apply.yaml" 2>&1) || fail "kubectl apply the namespaced overlay$pdb_note" "$out"
pass "kubectl apply namespaced$pdb_note"
pods_denied() { [ "$(k auth can-i list pods -A --as="$AS" 2>/dev/null)" = no ]; }
within 10 pods_denied || fail "namespaced: list pods cluster-wide is denied" "still allowed 10 s after apply"
n=0
for ns in team-a team-b; do
  for r in pods services endpoints deployments.apps replicasets.apps events; do
    for verb in list watch; do can yes "$verb" "$r" -n "$ns"; n=$((n + 1)); done
  done
  can no get secrets -n "$ns"; can no list configmaps -n "$ns"; can no delete pods -n "$ns"; n=$((n + 3))
done
for r in pods services deployments.apps events; do
  can no list "$r" -n outside; can no list "$r" -A; n=$((n + 2))
done
for r in namespaces nodes; do can yes watch "$r"; n=$((n + 1)); done
pass "namespaced can-i: $n checks (team-a/team-b readable, outside and cluster-wide not, never secrets)"
keep=$(jq -r '.items[] | select(.kind == "ConfigMap") | .data.GESTALT_NAMESPACES' "$work/namespaced.json")
[ "$keep" = team-a,team-b ] || fail "namespaced: the ConfigMap's GESTALT_NAMESPACES" "is '$keep', the RoleBindings are for team-a,team-b"
start_collector namespaced collector-namespaced
check_collector collector-namespaced "$keep" "GESTALT_NAMESPACES=$keep from the ConfigMap"
stop_collector

# --- 7. server-side dry run of every other overlay ---------------------------------------------------------------------
for o in dev staging production; do
  out=$(k apply --dry-run=server -f "$work/$o.apply.yaml" 2>&1) || fail "kubectl apply --dry-run=server $o$pdb_note" "$out"
  kinds=$(awk '/ \(server dry run\)$/ { split($1, a, "/"); print a[1] }' <<<"$out" | sort -u | paste -sd, -)
done
pass "kubectl apply --dry-run=server accepts dev, staging, production$pdb_note (production: $kinds)"

ok=1
say "timings: control plane start ${t_start} s, whole test $(($(now) - t0)) s (kubectl $kver)"
echo "$passed passed, 0 failed"
