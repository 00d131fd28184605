#!/usr/bin/env bash
# Smoke test of the real Kubernetes control plane (scripts/control-plane.sh): builds it (a no-op when cached),
# starts it in a temp dir, and proves with kubectl that each component does its job: the apiserver serves, the
# controller-manager turns a Deployment into a ReplicaSet and Pods, the scheduler binds them to a Node we make
# Ready, RBAC forbids the limited user pods but not services, and the apiserver comes back after a restart.
# Always stops what it started. Ends with `N passed, 0 failed`; on failure names the check, shows the component
# logs' tails, keeps the temp dir for a look, and exits 1.
#
# Env: GESTALT_SKIP_CONTROL_PLANE=1  skip (loudly), e.g. where the binaries cannot be built
#      GESTALT_CP_KEEP=1             keep the temp dir (logs, kubeconfigs) even on success
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CHECKS_NAME=test-control-plane
# shellcheck source=scripts/lib/checks.sh
. "$root/scripts/lib/checks.sh"
skip_without_control_plane "the real control-plane smoke test did NOT run"

cp_sh=$root/scripts/control-plane.sh

t0=$(now)
"$cp_sh" build
t_build=$(($(now) - t0))

dir=$(mktemp -d "${TMPDIR:-/tmp}/gestalt-cp.XXXXXX")
ok=
cleanup() {
  local rc=$?
  "$cp_sh" stop "$dir" || true
  if [ -n "$ok" ] && [ "${GESTALT_CP_KEEP:-}" != 1 ]; then
    rm -rf "$dir"
  else
    say "kept $dir (logs in $dir/logs)"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { # check-name detail
  say "FAILED: $1${2:+: $2}"
  local f
  for f in "$dir"/logs/*.log; do
    [ -f "$f" ] || continue
    say "----- last 20 lines of $f"
    tail -n 20 "$f" >&2
  done
  echo "$passed passed, 1 failed"
  exit 1
}

t1=$(now)
"$cp_sh" start "$dir" || fail "control plane starts" "scripts/control-plane.sh start exited non-zero"
t_start=$(($(now) - t1))
# shellcheck disable=SC1091
. "$dir/env"
export KUBECACHEDIR=$dir/.kube-cache # keep kubectl's discovery cache out of ~/.kube
pass "control plane starts ($t_start s)"

k() { kubectl --request-timeout=10s "$@"; }

# --- 1. the apiserver serves ----------------------------------------------------------------------------
out=$(k get ns -o name 2>&1) || fail "kubectl get ns" "$out"
grep -qx namespace/default <<<"$out" && grep -qx namespace/kube-system <<<"$out" \
  || fail "kubectl get ns" "default/kube-system missing in: $out"
pass "kubectl get ns lists default and kube-system"

# --- 2. everything listens on loopback only --------------------------------------------------------------
if command -v ss >/dev/null 2>&1; then
  pids=$(awk '{print $2}' "$dir/pids" | paste -sd'|')
  listen=$(ss -ltnpH 2>/dev/null | grep -E "pid=($pids)," || true)
  [ -n "$listen" ] || fail "loopback only" "ss shows no listening socket of ours (pids $pids)"
  bad=$(awk '$4 !~ /^127\.0\.0\.1:/' <<<"$listen")
  [ -z "$bad" ] || fail "loopback only" "listening beyond 127.0.0.1: $bad"
  pass "all $(wc -l <<<"$listen") listening sockets are on 127.0.0.1"
fi

# --- 3. controller-manager: Deployment -> ReplicaSet -> 2 Pods --------------------------------------------
out=$(k create deployment web --image=example.invalid/web --replicas=2 2>&1) || fail "create deployment" "$out"
rs_ok() { k get rs -l app=web -o jsonpath='{.items[0].metadata.labels.pod-template-hash}' | grep -q .; }
pods_2() { [ "$(k get pods -l app=web -o name | wc -l)" = 2 ]; }
within 30 rs_ok || fail "deployment makes a ReplicaSet within 30 s (controller-manager)" "$(k get deploy,rs -o wide 2>&1)"
within 30 pods_2 || fail "ReplicaSet makes 2 Pods within 30 s (controller-manager)" "$(k get rs,pods -o wide 2>&1)"
pass "deployment web -> ReplicaSet $(k get rs -l app=web -o name) -> 2 Pods"

# --- 4. a Node made Ready through the status subresource, taint removed ------------------------------------
node=gestalt-node-1
k apply -f - >/dev/null <<EOF || fail "create node" "kubectl apply Node failed"
apiVersion: v1
kind: Node
metadata:
  name: $node
  labels: {kubernetes.io/hostname: $node, kubernetes.io/os: linux}
EOF
ts=$(date -u +%Y-%m-%dT%H:%M:%SZ)
status=$(cat <<EOF
{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"simulated by test-control-plane.sh","lastHeartbeatTime":"$ts","lastTransitionTime":"$ts"}],
 "capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"}}}
EOF
)
if kubectl patch --help 2>/dev/null | grep -q -- '--subresource'; then
  how="kubectl patch --subresource=status"
  out=$(k patch node "$node" --subresource=status --type=merge -p "$status" 2>&1) || fail "node status patch" "$out"
else
  how="curl PATCH /status"
  out=$(curl -fsS --cacert "$GESTALT_CP_CA" -H "Authorization: Bearer $GESTALT_CP_ADMIN_TOKEN" \
    -H 'Content-Type: application/merge-patch+json' -X PATCH --data "$status" \
    "$GESTALT_CP_SERVER/api/v1/nodes/$node/status" 2>&1) || fail "node status patch" "$out"
fi
# TaintNodesByCondition admission gave the new node node.kubernetes.io/not-ready:NoSchedule; no
# nodelifecycle controller runs here, so remove it as a kubelet's heartbeat would have it removed.
if k get node "$node" -o jsonpath='{.spec.taints[*].key}' | grep -q node.kubernetes.io/not-ready; then
  out=$(k taint nodes "$node" node.kubernetes.io/not-ready:NoSchedule- 2>&1) || fail "remove not-ready taint" "$out"
fi
ready=$(k get node "$node" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')
taints=$(k get node "$node" -o jsonpath='{.spec.taints}')
[ "$ready" = True ] && [ -z "$taints" ] || fail "node Ready without taints" "Ready=$ready taints=$taints"
pass "node $node Ready ($how) and untainted"

# --- 5. scheduler: both pods bound to the node ------------------------------------------------------------
bound_2() { [ "$(k get pods -l app=web -o jsonpath='{range .items[*]}{.spec.nodeName}{"\n"}{end}' | grep -cx "$node")" = 2 ]; }
within 30 bound_2 || fail "scheduler binds the 2 pods within 30 s" "$(k get pods -o wide 2>&1; k get events 2>&1 | tail -n 10)"
pass "scheduler bound both pods to $node"

# --- 6. RBAC: the limited user may list services but not pods ------------------------------------------------
out=$(kubectl --kubeconfig "$GESTALT_CP_KUBECONFIG_LIMITED" --request-timeout=10s get pods -A 2>&1) \
  && fail "limited user is forbidden to list pods" "it listed them: $out"
grep -qi forbidden <<<"$out" || fail "limited user is forbidden to list pods" "error is not Forbidden: $out"
pass "limited user: list pods -> Forbidden"
out=$(kubectl --kubeconfig "$GESTALT_CP_KUBECONFIG_LIMITED" --request-timeout=10s get services -A -o name 2>&1) \
  || fail "limited user may list services" "$out"
grep -qx service/kubernetes <<<"$out" || fail "limited user may list services" "no service/kubernetes in: $out"
pass "limited user: list services -> ok"

# --- 7. apiserver restart ------------------------------------------------------------------------------------
t2=$(now)
"$cp_sh" restart-apiserver "$dir" || fail "restart-apiserver" "scripts/control-plane.sh restart-apiserver exited non-zero"
t_restart=$(($(now) - t2))
out=$(k get deployment web -o jsonpath='{.status.replicas}' 2>&1) || fail "kubectl after apiserver restart" "$out"
[ "$out" = 2 ] || fail "kubectl after apiserver restart" "deployment web has replicas=$out"
"$cp_sh" status "$dir" >/dev/null || fail "all components still running after the apiserver restart" \
  "$("$cp_sh" status "$dir" 2>&1)"
pass "restart-apiserver ($t_restart s); kubectl works afterwards, all components still up"

rss=$("$cp_sh" status "$dir" 2>/dev/null | awk '$2 == "running" { printf "%s%s=%s MB", sep, $1, $6; sep = ", " }' || true)
ok=1
say "timings: build ${t_build} s, start ${t_start} s, restart ${t_restart} s, whole test $(($(now) - t0)) s; RSS: $rss"
echo "$passed passed, 0 failed"
