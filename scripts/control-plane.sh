#!/usr/bin/env bash
# A real Kubernetes control plane on loopback, for tests against a real API server:
# etcd 3.4 (Debian's etcd-server) + kube-apiserver, kube-controller-manager and kube-scheduler v1.20.2, built
# offline from Debian's `kubernetes` source package (the only Kubernetes server binaries this project's machines
# can get: nothing can be downloaded but registry packages). Recipe: shared/toolchain/control-plane.md.
#
# Usage: scripts/control-plane.sh build                  build + cache the binaries (silent no-op when cached)
#        scripts/control-plane.sh start DIR              start everything; writes DIR/env, DIR/kubeconfig, ...
#        scripts/control-plane.sh stop DIR               stop what DIR/pids lists (TERM, 10 s, KILL); idempotent
#        scripts/control-plane.sh restart-apiserver DIR  stop + start kube-apiserver only, same flags and port
#        scripts/control-plane.sh status DIR             which components run (exit 3 if any does not)
#
# Env:   GESTALT_CP_CACHE    where binaries, the apt download and the build log live
#                            (default ~/.cache/gestalt-live/control-plane; outside the clone, survives `make clean`)
#        GESTALT_CP_TIMEOUT  seconds to wait for each component to become ready (default 120)
#        GESTALT_CP_RESTART_GRACE  seconds restart-apiserver lets the old apiserver drain after TERM before KILL
#                            (default 2; 1.20 holds open watches until its 60 s request timeout otherwise)
#        GESTALT_CP_ETCD     the etcd binary (default /usr/bin/etcd, from Debian's etcd-server)
#
# Build: installs the Debian packages it needs when missing (golang-go etcd-server etcd-client rsync jq openssl
# make curl golang-github-modern-go-reflect2-dev golang-github-json-iterator-go-dev; dpkg-dev is not needed, the
# source is fetched with --download-only and untarred), fetches the source with apt through a private deb-src
# list derived from the machine's own apt sources, swaps in Debian's reflect2/json-iterator (the vendored
# reflect2 1.0.1 crashes under Go >= 1.18), and runs Kubernetes' make at nice 19 with GOPROXY=off.
#
# What `start DIR` leaves in DIR: env (source it: KUBECONFIG, GESTALT_CP_KUBECONFIG_LIMITED, GESTALT_CP_SERVER,
# GESTALT_CP_CA, GESTALT_CP_ADMIN_TOKEN, GESTALT_CP_DIR), kubeconfig (admin, system:masters), kubeconfig-limited (user
# gestalt-limited: get/list/watch on what the collector reads except pods, see control-plane/limited-rbac.yaml),
# ca.crt, pids (`name pid` per line), logs/<component>.log, pki/, tokens.csv, etcd/ (data), *.args (command lines).
# A second `start` on the same DIR reuses its keys, tokens, etcd data and (when still free) its ports.
#
# Disk: the build needs ~2 GB while it runs. After a successful build the unpacked tree and the Go build cache
# are deleted (they are ~2 GB and only a rebuild would use them); the downloaded source package (~30 MB) is kept
# in $GESTALT_CP_CACHE/src so a rebuild needs no network. What stays: ~35 MB source + ~250 MB binaries.
#
# Not a cluster you can run containers on: there is no kubelet. Pods are scheduled onto Node objects that tests
# create and mark Ready themselves (see scripts/test-control-plane.sh).
set -euo pipefail

K8S_VERSION=v1.20.2
CACHE=${GESTALT_CP_CACHE:-$HOME/.cache/gestalt-live/control-plane}
BIN=$CACHE/bin
COMPONENTS=(kube-apiserver kube-controller-manager kube-scheduler)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TIMEOUT=${GESTALT_CP_TIMEOUT:-120}
SERVICE_CIDR=10.96.0.0/16
ETCD=${GESTALT_CP_ETCD:-/usr/bin/etcd}

say() { printf 'control-plane: %s\n' "$*" >&2; }
die() { printf 'control-plane: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1; fi
}

# ================================================ build ================================================

binaries_ok() {
  local c out
  for c in "${COMPONENTS[@]}"; do
    [ -x "$BIN/$c" ] || return 1
    out=$("$BIN/$c" --version 2>/dev/null) || return 1
    [ "$out" = "Kubernetes $K8S_VERSION" ] || return 1
  done
}

BUILD_LOG=
build_fail() {
  if [ -n "$BUILD_LOG" ] && [ -s "$BUILD_LOG" ]; then
    say "last 30 lines of $BUILD_LOG:"
    tail -n 30 "$BUILD_LOG" >&2
  fi
  die "build failed: $*"
}

# Runs "$@" with its output appended to the build log; on failure stops the build with reason $1.
step() {
  local reason=$1; shift
  printf '\n+ %s\n' "$*" >>"$BUILD_LOG"
  "$@" >>"$BUILD_LOG" 2>&1 || build_fail "$reason"
}

ensure_packages() {
  local pkgs=(golang-go etcd-server etcd-client rsync jq golang-github-modern-go-reflect2-dev
    golang-github-json-iterator-go-dev openssl make curl)
  command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    || build_fail "this is not a Debian-like system (no apt-get/dpkg-query): the control plane is built from Debian's packages"
  local missing=() p st
  for p in "${pkgs[@]}"; do
    st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    case $st in ii*) ;; *) missing+=("$p") ;; esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  step "apt-get update failed (as root? network to the Debian mirror?)" \
    as_root apt-get update -qq
  step "apt-get install ${missing[*]} failed (need root; are they in this Debian release?)" \
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Turns the machine's own apt configuration (one-line *.list and deb822 *.sources files, commented lines
# skipped) into `deb-src` lines for the same mirrors, limited to this release's suites (bookworm,
# bookworm-security, ...), so third-party repositories without sources cannot break the update.
private_sources() {
  local codename SL='' SP='' f
  codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"' || true)
  eval "$(apt-config shell SL Dir::Etc::sourcelist/f SP Dir::Etc::sourceparts/d)"
  {
    for f in "$SL" "${SP%/}"/*.list; do
      [ -f "$f" ] || continue
      # one-line: deb [opt=val ...] URI SUITE COMP...
      awk '
        { sub(/#.*/, "") }
        $1 != "deb" { next }
        { i = 2; sb = ""
          if ($2 ~ /^\[/) {
            for (; i <= NF; i++) {
              t = $i; gsub(/[\[\]]/, "", t)
              if (t ~ /^signed-by=/) sb = substr(t, 11)
              if ($i ~ /\]$/) { i++; break }
            }
          }
          uri = $i; suite = $(i + 1); comps = ""
          for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
          if (uri != "" && suite != "") print sb "\t" uri "\t" suite "\t" comps }' "$f"
    done
    for f in "${SP%/}"/*.sources; do
      [ -f "$f" ] || continue
      # deb822: stanzas of `Field: value`, continuation lines start with a blank, `#` lines are comments.
      awk '
        function flush(   n, m, i, j, U, S) {
          if (types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no" && uris != "" && suites != "") {
            n = split(uris, U, /[ \t]+/); m = split(suites, S, /[ \t]+/)
            for (i = 1; i <= n; i++) for (j = 1; j <= m; j++)
              if (U[i] != "" && S[j] != "") print sb "\t" U[i] "\t" S[j] "\t" comps
          }
          types = uris = suites = comps = sb = enabled = key = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        /^[ \t]/ { if (key == "uris") uris = uris " " $0; else if (key == "suites") suites = suites " " $0
                   else if (key == "components") comps = comps " " $0
                   next }
        { p = index($0, ":"); key = tolower(substr($0, 1, p - 1)); v = substr($0, p + 1)
          gsub(/^[ \t]+|[ \t]+$/, "", v)
          if (key == "types") types = v; else if (key == "uris") uris = v; else if (key == "suites") suites = v
          else if (key == "components") comps = v; else if (key == "enabled") enabled = v
          else if (key == "signed-by") sb = (v ~ /^\//) ? v : "" }
        END { flush() }' "$f"
    done
  } | awk -F '\t' -v c="$codename" '
      c != "" && $3 != c && index($3, c "-") != 1 { next }
      { gsub(/^[ \t]+|[ \t]+$/, "", $4); gsub(/[ \t]+/, " ", $4)
        print "deb-src" ($1 != "" ? " [signed-by=" $1 "]" : "") " " $2 " " $3 ($4 != "" ? " " $4 : "") }' \
    | sort -u
}

fetch_source() {
  local src=$CACHE/src apt=$CACHE/apt
  mkdir -p "$src"
  if compgen -G "$src/kubernetes_*.orig.tar.gz" >/dev/null; then return 0; fi
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
  private_sources >"$apt/sources.list"
  printf '\n+ private sources list %s:\n' "$apt/sources.list" >>"$BUILD_LOG"
  cat "$apt/sources.list" >>"$BUILD_LOG"
  [ -s "$apt/sources.list" ] \
    || build_fail "found no enabled Debian 'deb' entry for this release in the machine's apt configuration to derive deb-src from"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache")
  # apt's _apt user cannot write below root's home; as root, download as root instead of warning about it.
  [ "$(id -u)" = 0 ] && opts+=(-o APT::Sandbox::User=root)
  say "fetching Debian's kubernetes source package with apt (private deb-src list in $apt)"
  step "apt-get update with the private deb-src list failed (see $apt/sources.list)" apt-get "${opts[@]}" update
  step "apt-get source kubernetes failed (is Debian's kubernetes source package in this release?)" \
    bash -c 'cd "$1" && shift && exec apt-get "$@" source --download-only kubernetes' _ "$src" "${opts[@]}"
  compgen -G "$src/kubernetes_*.orig.tar.gz" >/dev/null \
    || build_fail "apt-get source kubernetes gave no kubernetes_*.orig.tar.gz in $src"
}

cmd_build() {
  binaries_ok && return 0
  mkdir -p "$CACHE"
  exec 9>"$CACHE/build.lock"
  if ! flock -n 9; then
    say "another build holds $CACHE/build.lock; waiting for it"
    flock 9
  fi
  binaries_ok && return 0 # the other build made them
  local t0 tree orig avail
  t0=$(now)
  BUILD_LOG=$CACHE/build.log
  : >"$BUILD_LOG"
  say "building kube-apiserver, kube-controller-manager, kube-scheduler $K8S_VERSION from Debian's source package"
  say "(once per machine; ~5-10 min at nice 19; log: $BUILD_LOG)"
  ensure_packages
  avail=$(df -Pk "$CACHE" | awk 'NR == 2 { print int($4 / 1024 / 1024) }')
  [ "${avail:-0}" -ge 4 ] || build_fail "only ${avail} GB free under $CACHE; the build needs ~3 GB"
  fetch_source
  orig=$(compgen -G "$CACHE/src/kubernetes_*.orig.tar.gz" | sort -V | tail -n 1)

  # A fresh tree every time: a half-built tree from an interrupted run is not worth reasoning about.
  rm -rf "$CACHE/build"
  mkdir -p "$CACHE/build"
  say "unpacking $(basename "$orig")"
  step "unpacking $orig failed (corrupt download? delete $CACHE/src and retry)" tar -xzf "$orig" -C "$CACHE/build"
  tree=$(find "$CACHE/build" -mindepth 1 -maxdepth 1 -type d | head -n 1)
  [ -n "$tree" ] && [ -f "$tree/Makefile" ] && [ -d "$tree/vendor" ] \
    || build_fail "$orig did not unpack to a Kubernetes tree with a Makefile and vendor/"

  # The vendored reflect2 1.0.1 makes json-iterator SIGSEGV when built with Go >= 1.18: use Debian's
  # reflect2 1.0.2 and json-iterator 1.1.12 instead (same APIs).
  local pkg dst
  for pkg in github.com/modern-go/reflect2 github.com/json-iterator/go; do
    [ -d "/usr/share/gocode/src/$pkg" ] || build_fail "/usr/share/gocode/src/$pkg missing (Debian golang-*-dev package)"
    dst=$tree/vendor/$pkg
    rm -rf "$dst"
    cp -rL "/usr/share/gocode/src/$pkg" "$dst"
    find "$dst" -name '*_test.go' -delete
    printf '\n+ vendor patch: %s <- /usr/share/gocode/src/%s\n' "$dst" "$pkg" >>"$BUILD_LOG"
  done

  mkdir -p "$CACHE/gocache" "$CACHE/home"
  local gobin=/usr/lib/go/bin
  [ -x "$gobin/go" ] || gobin=$(dirname "$(command -v go)")
  say "compiling (go: $("$gobin/go" version | awk '{print $3}'), nice 19)"
  local niceio=()
  command -v ionice >/dev/null 2>&1 && niceio=(ionice -c 3)
  step "make WHAT=... in $tree failed (compile error above)" \
    env -u GOROOT -u GOBIN -u GOFLAGS -u GOPATH -u GOOS -u GOARCH \
    PATH="$gobin:$PATH" HOME="$CACHE/home" GOCACHE="$CACHE/gocache" GOMODCACHE="$CACHE/home/gomodcache" \
    GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off \
    KUBE_GIT_VERSION="$K8S_VERSION" KUBE_GIT_TREE_STATE=clean KUBE_GIT_MAJOR=1 KUBE_GIT_MINOR=20 \
    nice -n 19 "${niceio[@]}" make -C "$tree" WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler"

  mkdir -p "$BIN"
  local c
  for c in "${COMPONENTS[@]}"; do
    [ -x "$tree/_output/bin/$c" ] || build_fail "make succeeded but $tree/_output/bin/$c is missing"
    cp "$tree/_output/bin/$c" "$BIN/.$c.tmp"
    mv -f "$BIN/.$c.tmp" "$BIN/$c"
  done
  binaries_ok || build_fail "the built binaries do not report 'Kubernetes $K8S_VERSION' (--version)"
  # The tree (with the Go build cache, which Kubernetes' make keeps in _output/) is ~1.5 GB and only a rebuild
  # would use it; the apt indexes are only needed to fetch the source again. Keep the source package.
  rm -rf "${CACHE:?}/build" "${CACHE:?}/gocache" "${CACHE:?}/home" "${CACHE:?}/apt/lists" "${CACHE:?}/apt/cache"
  local took=$(($(now) - t0))
  printf '\n+ built in %s s\n' "$took" >>"$BUILD_LOG"
  say "built in ${took} s: ${COMPONENTS[*]} in $BIN"
}

# ============================================ run: helpers ============================================

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd); }

alive() { # pid: running and not a zombie
  local st
  [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
  st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid is ours: its command line names DIR (every component gets files from DIR), so a recycled PID is never hit.
owned() { # pid dir
  alive "$1" || return 1
  tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2/"
}

pid_of() { # dir name
  [ -f "$1/pids" ] || return 0
  awk -v n="$2" '$1 == n { p = $2 } END { if (p != "") print p }' "$1/pids"
}

set_pid() { # dir name pid
  local f=$1/pids
  touch "$f"
  awk -v n="$2" '$1 != n' "$f" >"$f.tmp"
  printf '%s %s\n' "$2" "$3" >>"$f.tmp"
  mv -f "$f.tmp" "$f"
}

free_ports() { # n
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  else # no python3: random high ports; a clash is caught and retried by start
    local i out=
    for ((i = 0; i < $1; i++)); do out+="$((20000 + RANDOM % 30000)) "; done
    echo "$out"
  fi
}

port_free() { # port
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
  else
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 1; fi
  fi
}

last_run_log() { # dir name: the component's log since its latest start (launch marks each one)
  local f=$1/logs/$2.log
  [ -f "$f" ] || return 0
  awk -v n="$2" '$0 ~ "^===== .* starting " n "$" { delete L; c = 0 } { L[c++] = $0 }
    END { for (i = 0; i < c; i++) print L[i] }' "$f"
}

log_tail() { # dir name [lines]
  [ -f "$1/logs/$2.log" ] || return 0
  say "last ${3:-30} lines of $1/logs/$2.log (this run):"
  last_run_log "$1" "$2" | tail -n "${3:-30}" >&2
}

# Starts one component detached (own session, stdin /dev/null), its command line saved in DIR/NAME.args.
launch() { # dir name cmd...
  local dir=$1 name=$2; shift 2
  mkdir -p "$dir/logs"
  printf '%s\0' "$@" >"$dir/$name.args"
  printf '\n===== %s starting %s\n' "$(date -u +%FT%TZ)" "$name" >>"$dir/logs/$name.log"
  setsid "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
  set_pid "$dir" "$name" $!
}

relaunch() { # dir name: same command line as last time
  local dir=$1 name=$2 args=()
  [ -f "$dir/$name.args" ] || die "$dir/$name.args missing: was $dir started by this script?"
  mapfile -d '' -t args <"$dir/$name.args"
  launch "$dir" "$name" "${args[@]}"
}

stop_pids() { # grace-seconds dir name...
  local grace=$1 dir=$2; shift 2
  local name pid pids=() names=() i
  for name in "$@"; do
    pid=$(pid_of "$dir" "$name")
    if [ -n "$pid" ] && owned "$pid" "$dir"; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
    fi
  done
  [ ${#pids[@]} -eq 0 ] && return 0
  local deadline=$(($(now) + grace)) left
  while :; do
    left=0
    for pid in "${pids[@]}"; do alive "$pid" && left=1; done
    [ $left = 0 ] && break
    if [ "$(now)" -ge "$deadline" ]; then
      for i in "${!pids[@]}"; do
        if alive "${pids[$i]}"; then
          say "${names[$i]} (pid ${pids[$i]}) still running ${grace} s after TERM: KILL"
          kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
      done
      sleep 0.2
      break
    fi
    sleep 0.2
  done
  say "stopped ${names[*]}"
}

# ============================================ run: start ============================================

write_kubeconfig() { # file server ca token user context
  local ca
  ca=$(base64 -w0 <"$3")
  umask 077
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: gestalt-cp
  cluster:
    server: $2
    certificate-authority-data: $ca
users:
- name: $5
  user:
    token: $4
contexts:
- name: $6
  context:
    cluster: gestalt-cp
    user: $5
    namespace: default
current-context: $6
EOF
}

make_pki() { # dir
  local pki=$1/pki
  mkdir -p "$pki"
  chmod 700 "$pki"
  if [ ! -s "$pki/ca.crt" ] || [ ! -s "$pki/ca.key" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=gestalt-live-test-ca" \
      -keyout "$pki/ca.key" -out "$pki/ca.crt" >/dev/null 2>&1 || die "openssl: could not make the CA"
    rm -f "$pki/apiserver.crt"
  fi
  if [ ! -s "$pki/apiserver.crt" ] || [ ! -s "$pki/apiserver.key" ]; then
    openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=kube-apiserver" \
      -keyout "$pki/apiserver.key" -out "$pki/apiserver.csr" >/dev/null 2>&1 || die "openssl: could not make the apiserver key"
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" \
      "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" \
      >"$pki/apiserver.ext"
    openssl x509 -req -sha256 -days 3650 -in "$pki/apiserver.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
      -CAcreateserial -extfile "$pki/apiserver.ext" -out "$pki/apiserver.crt" >/dev/null 2>&1 \
      || die "openssl: could not sign the apiserver certificate"
  fi
  if [ ! -s "$pki/sa.key" ] || [ ! -s "$pki/sa.pub" ]; then
    openssl genrsa -out "$pki/sa.key" 2048 >/dev/null 2>&1 && openssl rsa -in "$pki/sa.key" -pubout -out "$pki/sa.pub" >/dev/null 2>&1 \
      || die "openssl: could not make the service-account key pair"
  fi
  cp "$pki/ca.crt" "$1/ca.crt"
  if [ ! -s "$1/tokens.csv" ]; then
    t() { openssl rand -hex 24; }
    (
      umask 077
      {
        echo "$(t),admin,gestalt-admin,\"system:masters\""
        echo "$(t),system:kube-controller-manager,gestalt-kcm,\"system:masters\""
        echo "$(t),system:kube-scheduler,gestalt-scheduler"
        echo "$(t),gestalt-limited,gestalt-limited"
      } >"$1/tokens.csv"
    )
  fi
}

token_of() { awk -F, -v u="$2" '$2 == u { print $1 }' "$1/tokens.csv"; }

START_DIR=
START_OK=
on_start_exit() {
  local rc=$?
  if [ -z "$START_OK" ] && [ -n "$START_DIR" ]; then
    say "start did not finish: stopping what it started"
    stop_pids 10 "$START_DIR" kube-scheduler kube-controller-manager kube-apiserver etcd || true
  fi
  exit $rc
}

# A component died while we waited: show why, and retry on a fresh set of ports if it was a port clash.
component_died() { # dir name
  log_tail "$1" "$2" 40
  if [ -n "$START_DIR" ] && last_run_log "$1" "$2" | grep -qi 'address already in use' \
    && [ "${GESTALT_CP_START_ATTEMPT:-1}" -lt 3 ]; then
    say "$2 lost a port race; retrying with new ports"
    stop_pids 10 "$1" kube-scheduler kube-controller-manager kube-apiserver etcd || true
    rm -f "$1/ports"
    START_OK=1 # the exec below takes over
    GESTALT_CP_START_ATTEMPT=$((${GESTALT_CP_START_ATTEMPT:-1} + 1)) exec "$0" start "$1"
  fi
  die "$2 exited during startup (log above: $1/logs/$2.log)"
}

check_alive() { # dir names...
  local dir=$1 n; shift
  for n in "$@"; do
    alive "$(pid_of "$dir" "$n")" || component_died "$dir" "$n"
  done
}

# Polls `cmd` every 0.3 s until it succeeds, while every one of `watch` is alive.
wait_until() { # dir what "watch names" cmd...
  local dir=$1 what=$2 watch=$3; shift 3
  local deadline=$(($(now) + TIMEOUT))
  # shellcheck disable=SC2086
  until "$@" >/dev/null 2>&1; do
    check_alive "$dir" $watch
    [ "$(now)" -lt "$deadline" ] || {
      # shellcheck disable=SC2086
      for n in $watch; do log_tail "$dir" "$n" 15; done
      die "timed out after ${TIMEOUT} s waiting for $what"
    }
    sleep 0.3
  done
}

api_get() { # dir path  (admin token)
  local dir=$1
  curl -fsS --max-time 5 --cacert "$dir/ca.crt" -H "Authorization: Bearer $(token_of "$dir" admin)" \
    "https://127.0.0.1:$(awk '{print $3}' "$dir/ports")$2"
}

apiserver_ready() { api_get "$1" /readyz >/dev/null; }

sa_ready() { # dir: default/default exists and has its token secret (ServiceAccount admission needs it in 1.20)
  api_get "$1" /api/v1/namespaces/default/serviceaccounts/default | jq -e '(.secrets // []) | length > 0' >/dev/null
}

etcd_ready() { curl -fsS --max-time 3 "http://127.0.0.1:$(awk '{print $1}' "$1/ports")/health" | grep -q true; }

cmd_start() {
  [ $# -eq 1 ] || die "usage: $0 start DIR"
  local dir t0
  t0=$(now)
  dir=$(abs_dir "$1")
  local c
  for c in "${COMPONENTS[@]}"; do
    [ -x "$BIN/$c" ] || die "$BIN/$c missing: run '$0 build' first"
  done
  [ -x "$ETCD" ] || die "$ETCD missing: install Debian's etcd-server (or run '$0 build', which does)"
  for c in openssl curl jq kubectl; do
    command -v "$c" >/dev/null 2>&1 || die "$c not found (needed by start)"
  done

  # Already up? Then there is nothing to do; half up: clean up first.
  local running=0 n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    owned "$(pid_of "$dir" "$n")" "$dir" && running=$((running + 1))
  done
  if [ $running = 4 ] && apiserver_ready "$dir" 2>/dev/null; then
    say "already running in $dir (source $dir/env)"
    return 0
  fi
  [ $running -gt 0 ] && stop_pids 10 "$dir" kube-scheduler kube-controller-manager kube-apiserver etcd

  START_DIR=$dir
  trap on_start_exit EXIT
  make_pki "$dir"

  # Ports: the ones this DIR used before if they are still free (etcd remembers its peer URL), else new ones.
  local etcd_port peer_port api_port
  if [ -s "$dir/ports" ]; then
    read -r etcd_port peer_port api_port <"$dir/ports"
    for n in "$etcd_port" "$peer_port" "$api_port"; do port_free "$n" || { rm -f "$dir/ports"; break; }; done
  fi
  if [ ! -s "$dir/ports" ]; then
    read -r etcd_port peer_port api_port < <(free_ports 3)
    echo "$etcd_port $peer_port $api_port" >"$dir/ports"
  fi
  local server=https://127.0.0.1:$api_port pki=$dir/pki

  launch "$dir" etcd "$ETCD" --name gestalt --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "gestalt=http://127.0.0.1:$peer_port" --logger=zap --log-outputs=stderr
  wait_until "$dir" "etcd on 127.0.0.1:$etcd_port" etcd etcd_ready "$dir"

  # Admission: the 1.20 defaults (NamespaceLifecycle, LimitRanger, ServiceAccount, TaintNodesByCondition,
  # Priority, DefaultTolerationSeconds, ... ResourceQuota). ServiceAccount admission needs each namespace's
  # `default` SA and its token Secret, which the controller-manager's SA + token controllers create (hence the
  # key pair below); nothing had to be disabled.
  launch "$dir" kube-apiserver "$BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$dir/tokens.csv" \
    --authorization-mode=RBAC \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-cluster-ip-range="$SERVICE_CIDR" --endpoint-reconciler-type=none \
    --allow-privileged=true --profiling=false
  wait_until "$dir" "kube-apiserver /readyz at $server" "etcd kube-apiserver" apiserver_ready "$dir"

  write_kubeconfig "$dir/kubeconfig" "$server" "$dir/ca.crt" "$(token_of "$dir" admin)" admin gestalt-cp
  write_kubeconfig "$dir/kubeconfig-limited" "$server" "$dir/ca.crt" "$(token_of "$dir" gestalt-limited)" \
    gestalt-limited gestalt-cp-limited
  write_kubeconfig "$dir/controller-manager.kubeconfig" "$server" "$dir/ca.crt" \
    "$(token_of "$dir" system:kube-controller-manager)" system:kube-controller-manager gestalt-cp
  write_kubeconfig "$dir/scheduler.kubeconfig" "$server" "$dir/ca.crt" \
    "$(token_of "$dir" system:kube-scheduler)" system:kube-scheduler gestalt-cp

  kubectl --kubeconfig "$dir/kubeconfig" --cache-dir "$dir/.kube-cache" apply -f "$HERE/control-plane/limited-rbac.yaml" \
    >"$dir/logs/rbac.log" 2>&1 || { cat "$dir/logs/rbac.log" >&2; die "could not create the gestalt-limited ClusterRole/binding"; }

  launch "$dir" kube-controller-manager "$BIN/kube-controller-manager" \
    --kubeconfig="$dir/controller-manager.kubeconfig" \
    --controllers='*,-nodeipam,-nodelifecycle,-csrsigning,-csrapproving,-bootstrapsigner,-tokencleaner' \
    --port=0 --secure-port=0 --leader-elect=false \
    --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" --profiling=false
  launch "$dir" kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig="$dir/scheduler.kubeconfig" --port=0 --secure-port=0 --leader-elect=false --profiling=false

  wait_until "$dir" "namespace default" "etcd kube-apiserver kube-controller-manager kube-scheduler" \
    api_get "$dir" /api/v1/namespaces/default
  wait_until "$dir" "service account default/default and its token (controller-manager)" \
    "etcd kube-apiserver kube-controller-manager kube-scheduler" sa_ready "$dir"
  sleep 1 # a component that is about to die of a bad flag or credential does so within a second
  check_alive "$dir" etcd kube-apiserver kube-controller-manager kube-scheduler

  {
    echo "# written by scripts/control-plane.sh start; source it"
    printf 'export KUBECONFIG=%q\n' "$dir/kubeconfig"
    printf 'export GESTALT_CP_KUBECONFIG_LIMITED=%q\n' "$dir/kubeconfig-limited"
    printf 'export GESTALT_CP_SERVER=%q\n' "$server"
    printf 'export GESTALT_CP_CA=%q\n' "$dir/ca.crt"
    printf 'export GESTALT_CP_ADMIN_TOKEN=%q\n' "$(token_of "$dir" admin)"
    printf 'export GESTALT_CP_DIR=%q\n' "$dir"
  } >"$dir/env"
  START_OK=1
  trap - EXIT
  say "up in $(($(now) - t0)) s: $server (etcd 127.0.0.1:$etcd_port); source $dir/env"
}

# ============================================ run: the rest ============================================

cmd_stop() {
  [ $# -eq 1 ] || die "usage: $0 stop DIR"
  [ -d "$1" ] || return 0
  local dir
  dir=$(cd "$1" && pwd)
  [ -f "$dir/pids" ] || return 0
  stop_pids 10 "$dir" kube-scheduler kube-controller-manager kube-apiserver etcd
}

cmd_restart_apiserver() {
  [ $# -eq 1 ] || die "usage: $0 restart-apiserver DIR"
  local dir t0
  dir=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
  [ -f "$dir/kube-apiserver.args" ] && [ -s "$dir/ports" ] || die "$dir was not started by '$0 start'"
  t0=$(now)
  owned "$(pid_of "$dir" etcd)" "$dir" || die "etcd is not running in $dir: use '$0 start $dir'"
  # kube-apiserver 1.20 stops listening at once on TERM but keeps open watch connections (the
  # controller-manager's, the scheduler's, a test's) until --request-timeout (60 s) runs out. Waiting for that
  # tests nothing, so after GESTALT_CP_RESTART_GRACE (2 s) it is KILLed: clients see their streams reset.
  stop_pids "${GESTALT_CP_RESTART_GRACE:-2}" "$dir" kube-apiserver
  relaunch "$dir" kube-apiserver
  wait_until "$dir" "kube-apiserver /readyz after restart" "etcd kube-apiserver" apiserver_ready "$dir"
  say "kube-apiserver restarted in $(($(now) - t0)) s"
}

cmd_status() {
  [ $# -eq 1 ] || die "usage: $0 status DIR"
  local dir n pid rss down=0
  dir=$(cd "$1" 2>/dev/null && pwd) || die "$1: no such directory"
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    pid=$(pid_of "$dir" "$n")
    if [ -n "$pid" ] && owned "$pid" "$dir"; then
      rss=$(awk '/^VmRSS:/ { printf "%d MB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || true)
      printf '%-24s running (pid %s, RSS %s)\n' "$n" "$pid" "$rss"
    else
      printf '%-24s not running\n' "$n"
      down=1
    fi
  done
  if [ -s "$dir/ports" ] && [ -f "$dir/tokens.csv" ] && apiserver_ready "$dir" 2>/dev/null; then
    printf '%-24s https://127.0.0.1:%s/readyz ok\n' apiserver "$(awk '{print $3}' "$dir/ports")"
  fi
  [ $down = 0 ] || return 3
}

case ${1:-} in
  build) shift; [ $# -eq 0 ] || die "usage: $0 build"; cmd_build ;;
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  restart-apiserver) shift; cmd_restart_apiserver "$@" ;;
  status) shift; cmd_status "$@" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2 ;;
esac
