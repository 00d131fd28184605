# Shared by the scripts that prove things against the real control plane (test-control-plane.sh,
# test-deploy.sh): the loud skip, the log prefix, counting passed checks, and polling. Source it after setting
# CHECKS_NAME (the prefix of every line); the sourcing script defines its own `fail`, which knows its logs.

# Exits 0 with a banner nobody can miss when GESTALT_SKIP_CONTROL_PLANE=1. $1: what did NOT run.
skip_without_control_plane() {
  [ "${GESTALT_SKIP_CONTROL_PLANE:-}" = 1 ] || return 0
  printf '%s\n' "################################################################################" \
    "## $CHECKS_NAME: SKIPPED (GESTALT_SKIP_CONTROL_PLANE=1): $1" \
    "################################################################################"
  exit 0
}

say() { printf '%s: %s\n' "$CHECKS_NAME" "$*" >&2; }
now() { date +%s; }

passed=0
pass() { passed=$((passed + 1)); say "ok $passed - $1"; }

# Polls "${@:2}" every 0.5 s for up to $1 seconds.
within() {
  local secs=$1; shift
  local deadline=$(($(now) + secs))
  until "$@" >/dev/null 2>&1; do
    [ "$(now)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}
