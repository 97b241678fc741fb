#!/usr/bin/env bash
# stack.sh - Warbler's local stack: a real Kubernetes control plane on
# 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
# kwok as the node agent), plus the podinfo and Prometheus binaries that tests
# and the demo run as plain processes.
#
# Nothing comes from the internet except the Go module proxy and Debian's apt
# mirror. Binaries are built once into $WARBLER_CACHE/bin and reused.
#
#   hack/stack.sh build          build every missing binary (control plane,
#                                kwok, podinfo, influxd) and install
#                                Prometheus and Graphite
#   hack/stack.sh up [DIR]       build if needed, start the control plane,
#                                print "export KUBECONFIG=DIR/kubeconfig"
#   hack/stack.sh down [DIR]     stop what "up" started, in dependency order
#   hack/stack.sh env [DIR]      print the export lines for a running stack
#   hack/stack.sh status [DIR]   PID and RSS of each component
#   hack/stack.sh restart DIR NAME  stop one component and start it again
#                                with the same command line (chaos tests)
#   hack/stack.sh envtest        print KUBEBUILDER_ASSETS for envtest
#   hack/stack.sh bin NAME       print the path of a cached binary
#                                (etcd, kube-apiserver, kubectl, kwok, podinfo,
#                                prometheus, influxd, carbon-cache, gunicorn,
#                                zsh, fish, chromium, docker-registry),
#                                building or installing it first;
#                                kubectl-linux-ARCH is kubectl for amd64 or arm64
#
# Knobs (environment):
#   WARBLER_CACHE   cache root (default ~/.cache/warbler)
#   STACK_DIR       state dir of up/down/env/status (default /tmp/warbler-stack)
#   PORT_BASE       first of six ports: etcd client, etcd peer, apiserver,
#                   controller-manager, scheduler, kwok (default 22500; keep it below the
#                   ephemeral range, 32768 and up on Linux)
#   STACK_OWNER_PID when set, "up" also starts a watcher that stops the stack
#                   once that process is gone (tests use it so that a crashed
#                   test binary leaves nothing running)
#   KCM_ARGS SCHEDULER_ARGS  extra flags of kube-controller-manager and
#                   kube-scheduler, such as more workers for a benchmark
#                   ("--concurrent-service-endpoint-syncs 20")
#   K8S_VERSION ETCD_VERSION KWOK_VERSION PODINFO_VERSION INFLUXDB_VERSION
#                   pinned below
set -Eeuo pipefail

# The server matches the client-go minor the module pins (k8s.io/* v0.36.3).
K8S_VERSION=${K8S_VERSION:-1.36.3}
# etcd 3.6 is what upstream ships with Kubernetes 1.34 and later.
ETCD_VERSION=${ETCD_VERSION:-3.6.16}
KWOK_VERSION=${KWOK_VERSION:-0.8.0}
# InfluxDB 1.7 is the newest release whose Flux needs no Rust (1.8 and 2.x
# build libflux with cargo); it serves Flux on /api/v2/query, the API of the
# influxdb metric provider. Debian ships 1.6, which has no Flux.
INFLUXDB_VERSION=${INFLUXDB_VERSION:-1.7.11}
# podinfo's 6.x tags are not Go module versions (no /v6 path); this
# pseudo-version is the commit that reports version 6.9.2.
PODINFO_VERSION=${PODINFO_VERSION:-v1.8.1-0.20250910200901-e86405a8674e}

SELF=$(readlink -f "$0")
CACHE=${WARBLER_CACHE:-$HOME/.cache/warbler}
BIN=$CACHE/bin
SRC=$CACHE/src
HOST=127.0.0.1
PORT_BASE=${PORT_BASE:-22500}

say() { printf '[stack %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# run a chatty command with its output in a log file; show the tail on failure
logged() { # logfile command...
  local f=$1; shift
  "$@" >"$f" 2>&1 || { tail -n 30 "$f" >&2; die "$* failed (log: $f)"; }
}

# ------------------------------------------------------------------ build ---

# Fetch MODULE@VERSION and print one field of "go mod download -json"; the
# filtered proxy answers 403 for some versions, so say which one failed.
module_field() { # module@version field
  local out
  out=$(cd "$SRC" && go mod download -json "$1" 2>&1) ||
    die "the module proxy refused $1: $(printf '%s' "$out" | grep -m1 '"Error"' || echo "$out" | tail -1)"
  printf '%s\n' "$out" | sed -n "s/^[[:space:]]*\"$2\": \"\(.*\)\",\{0,1\}$/\1/p"
}

go_build() { # out dir pkg [ldflags]
  local out=$1 dir=$2 pkg=$3 ld=${4:--s -w}
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="$ld" -o "$out.tmp" "$pkg")
  mv "$out.tmp" "$out"
}

# k8s.io/kubernetes and go.etcd.io/etcd/server/v3 carry replace directives,
# which "go install pkg@version" refuses. A scratch module that requires them
# (and, for Kubernetes, maps every staging module to its published tag) builds.
k8s_module() {
  local dir=$SRC/k8s-$K8S_VERSION gomod minor=${K8S_VERSION#*.}
  [ -f "$dir/.ok" ] && { echo "$dir"; return; }
  mkdir -p "$dir"
  gomod=$(module_field "k8s.io/kubernetes@v$K8S_VERSION" GoMod)
  {
    printf 'module local/k8s\n\ngo 1.24.0\n\n'
    grep '^godebug ' "$gomod" || true
    printf '\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
    sed -n '/^replace (/,/^)/s#^[[:space:]]*\(k8s\.io/[^ ]*\) => \./staging/.*#\1#p' "$gomod" |
      while read -r m; do printf '\t%s => %s v0.%s\n' "$m" "$m" "$minor"; done
    printf ')\n'
  } >"$dir/go.mod"
  say "resolving k8s.io/kubernetes v$K8S_VERSION (about 500 MB into the module cache)"
  (cd "$dir" && logged "$dir/get.log" go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-controller-manager@v$K8S_VERSION" \
    "k8s.io/kubernetes/cmd/kube-scheduler@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION")
  touch "$dir/.ok"
  echo "$dir"
}

build_k8s() { # component [out] (GOARCH from the environment)
  local c=$1 out=${2:-$BIN/$1-$K8S_VERSION} dir ld p minor
  [ -x "$out" ] && return 0
  dir=$(k8s_module)
  minor=${K8S_VERSION#*.}; minor=${minor%%.*}
  # The version stamps Kubernetes' own build sets; without them /version
  # reports v0.0.0-master and Helm rejects charts that declare kubeVersion.
  ld="-s -w"
  for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  local t=$SECONDS
  say "building $c v$K8S_VERSION${GOARCH:+ for linux/$GOARCH}$([ "$c" = kube-apiserver ] && echo ' (the slow one: several CPU-minutes; the others reuse its packages)')"
  go_build "$out" "$dir" "k8s.io/kubernetes/cmd/$c" "$ld"
  say "built $c in $((SECONDS - t))s"
}

build_etcd() {
  local out=$BIN/etcd-$ETCD_VERSION dir=$SRC/etcd-$ETCD_VERSION t=$SECONDS
  [ -x "$out" ] && return 0
  mkdir -p "$dir"
  if [ ! -f "$dir/.ok" ]; then
    printf 'module local/etcd\n\ngo 1.24.0\n' >"$dir/go.mod"
    (cd "$dir" && logged "$dir/get.log" go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION")
    touch "$dir/.ok"
  fi
  say "building etcd v$ETCD_VERSION"
  go_build "$out" "$dir" go.etcd.io/etcd/server/v3
  say "built etcd in $((SECONDS - t))s"
}

go_install() { # name module/cmd@version
  local out=$1 pkg=$2 tmp t=$SECONDS
  [ -x "$out" ] && return 0
  tmp=$(mktemp -d)
  say "building $pkg"
  (cd "$tmp" && CGO_ENABLED=0 GOBIN=$tmp go install -trimpath -ldflags="-s -w" "$pkg")
  mv "$tmp/$(basename "${pkg%@*}")" "$out"
  rm -rf "$tmp"
  say "built $(basename "$out") in $((SECONDS - t))s"
}

build_kwok() { go_install "$BIN/kwok-$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"; }
build_podinfo() { go_install "$BIN/podinfo-$PODINFO_VERSION" "github.com/stefanprodan/podinfo/cmd/podinfo@$PODINFO_VERSION"; }

# debian_install installs, in one apt-get run, the Debian packages of the
# list that are missing. The package lists are refreshed only when apt does
# not know a package yet, and apt waits for a lock another install holds
# instead of failing.
debian_install() { # package...
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || die "${missing[*]} missing and installing needs root: apt-get install ${missing[*]}"
  say "installing ${missing[*]} from Debian"
  export DEBIAN_FRONTEND=noninteractive
  local apt=(apt-get -o DPkg::Lock::Timeout=600)
  if ! "${apt[@]}" install -y --no-install-recommends "${missing[@]}" >>"$CACHE/apt.log" 2>&1; then
    logged "$CACHE/apt.log" "${apt[@]}" update
    logged "$CACHE/apt.log" "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
  fi
}

# What tests and the demo need from Debian: Prometheus (recommends would
# pull in node-exporter & co.); zsh and fish for the tests of kubectl
# canary's completion scripts (bash is there already); Graphite
# (carbon-cache and graphite-web under gunicorn) for the graphite metric
# provider's tests.
DEBIAN_PACKAGES=(prometheus zsh fish graphite-carbon graphite-web gunicorn)

# influxd from the module proxy, built from a scratch module like etcd.
build_influxd() {
  local out=$BIN/influxd-$INFLUXDB_VERSION dir=$SRC/influxdb-$INFLUXDB_VERSION t=$SECONDS
  [ -x "$out" ] && return 0
  mkdir -p "$dir"
  if [ ! -f "$dir/.ok" ]; then
    printf 'module local/influxdb\n\ngo 1.24.0\n' >"$dir/go.mod"
    (cd "$dir" && logged "$dir/get.log" go get "github.com/influxdata/influxdb/cmd/influxd@v$INFLUXDB_VERSION")
    touch "$dir/.ok"
  fi
  say "building influxd v$INFLUXDB_VERSION"
  go_build "$out" "$dir" github.com/influxdata/influxdb/cmd/influxd
  say "built influxd in $((SECONDS - t))s"
}

# kubectl: the one on PATH when it is a real client; otherwise build ours.
kubectl_bin() {
  if [ -n "${KUBECTL:-}" ]; then echo "$KUBECTL"; return; fi
  local out=$BIN/kubectl-$K8S_VERSION
  [ -x "$out" ] || build_k8s kubectl >&2
  echo "$out"
}

# Debian's docker-registry (the CNCF distribution registry) for the test of
# `make push`: unpacked from its package, not installed, so that no service
# starts and no user is added.
build_registry() {
  local out=$BIN/docker-registry tmp
  [ -x "$out" ] && return 0
  tmp=$(mktemp -d)
  say "unpacking docker-registry from Debian"
  (cd "$tmp" && { apt-get download docker-registry >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get download docker-registry >/dev/null; }; }) || die "apt-get download docker-registry failed"
  dpkg-deb -x "$tmp"/docker-registry_*.deb "$tmp/root"
  mv "$tmp/root/usr/bin/docker-registry" "$out"
  rm -rf "$tmp"
}

# kubectl for linux/ARCH, which the loadtester image carries (hack/images):
# the stack's own kubectl on this machine's architecture, else a cross build.
kubectl_for() { # arch
  local arch=$1 out
  case $arch in amd64 | arm64) ;; *) die "kubectl-linux-$arch: valid architectures are amd64 and arm64" ;; esac
  if [ "$arch" = "$(go env GOHOSTARCH)" ]; then
    build_k8s kubectl >&2
    echo "$BIN/kubectl-$K8S_VERSION"
    return
  fi
  out=$BIN/kubectl-$K8S_VERSION-linux-$arch
  [ -x "$out" ] || GOOS=linux GOARCH=$arch build_k8s kubectl "$out" >&2
  echo "$out"
}

cmd_build() {
  command -v go >/dev/null || die "go is not installed"
  mkdir -p "$BIN" "$SRC"
  build_etcd
  build_kwok
  build_podinfo
  build_k8s kube-apiserver
  build_k8s kube-controller-manager
  build_k8s kube-scheduler
  build_k8s kubectl
  debian_install "${DEBIAN_PACKAGES[@]}"
  build_influxd
}

# ------------------------------------------------------------------- pki ----

make_pki() { # dir
  local d=$1/pki
  [ -f "$d/.ok" ] && return 0
  command -v openssl >/dev/null || die "openssl is needed (apt-get install openssl)"
  mkdir -p "$d"
  (
    cd "$d"
    sign() { # name subject ext-lines ca
      openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      printf '%b' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$4.crt" -CAkey "$4.key" -CAcreateserial -days 3650 \
        -extfile "$1.ext" -out "$1.crt" 2>/dev/null
    }
    ca() { openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$2" -keyout "$1.key" -out "$1.crt" 2>/dev/null; }
    client='basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n'
    ca ca warbler-stack-ca
    sign apiserver /CN=kube-apiserver "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n" ca
    # one system:masters client shared by kubectl, the controllers and kwok
    sign admin "/O=system:masters/CN=warbler-stack-admin" "$client" ca
    # the aggregation-layer CA keeps kcm and the scheduler from logging a
    # missing requestheader bundle forever
    ca front-proxy-ca warbler-stack-front-proxy-ca
    sign front-proxy-client /CN=front-proxy-client "$client" front-proxy-ca
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    rm -f ./*.csr ./*.ext ./*.srl
    touch .ok
  )
}

write_kubeconfig() { # dir port
  cat >"$1/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: warbler-stack
  cluster:
    server: https://$HOST:$2
    certificate-authority: $1/pki/ca.crt
users:
- name: admin
  user:
    client-certificate: $1/pki/admin.crt
    client-key: $1/pki/admin.key
contexts:
- name: warbler-stack
  context: {cluster: warbler-stack, user: admin, namespace: default}
current-context: warbler-stack
EOF
  chmod 600 "$1/kubeconfig"
}

# ------------------------------------------------------------------ kwok ----

# The standalone kwok binary ships no Stages (kwokctl adds them). We pass the
# upstream node and pod Stages from the module cache, plus two of our own:
# upstream "pod-complete" only finishes Job pods, but helm test hooks are bare
# pods with restartPolicy Never. Those end Succeeded after a second, or Failed
# with exit code N when annotated warbler.dev/exit-code: "N".
write_kwok_config() { # dir
  local kdir f
  kdir=$(module_field "sigs.k8s.io/kwok@v$KWOK_VERSION" Dir)
  [ -d "$kdir/kustomize/stage" ] || die "kwok stages missing from $kdir"
  {
    cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
# a document of its own loses kwok's defaults: every parallelism is given
options:
  podPlayStageParallelism: 16
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
---
EOF
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
      pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      cat "$kdir/kustomize/stage/$f"
      echo "---"
    done
    bare_pod_stage warbler-bare-pod-succeed DoesNotExist 0 Completed Succeeded
    echo "---"
    # the exit code is read before "range" rebinds the dot to each container
    bare_pod_stage warbler-bare-pod-fail Exists '{{ $code }}' Error Failed \
      '{{ $code := index .metadata.annotations "warbler.dev/exit-code" }}'

  } >"$1/kwok.yaml"
}

bare_pod_stage() { # name annotation-operator exit-code reason phase [prelude]
  cat <<EOF
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: $1
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Running]}
    - {key: .spec.restartPolicy, operator: In, values: [Never, OnFailure]}
    - {key: .metadata.ownerReferences, operator: DoesNotExist}
    - {key: '.metadata.annotations["warbler.dev/exit-code"]', operator: $2}
  delay: {durationMilliseconds: 1000}
  next:
    statusTemplate: |
      {{ \$now := Now }}
      ${6:-}
      conditions:
      - {type: Ready, status: "False", reason: Pod$4, lastTransitionTime: {{ \$now | Quote }}}
      - {type: ContainersReady, status: "False", reason: Pod$4, lastTransitionTime: {{ \$now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: $3
            reason: $4
            startedAt: {{ \$now | Quote }}
            finishedAt: {{ \$now | Quote }}
      {{ end }}
      phase: $5
EOF
}

# ------------------------------------------------------------------- run ----

# alive: the pid exists and is not a zombie (kill -0 succeeds on zombies)
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# launch starts a component and keeps its command line in DIR/cmds, so
# that "restart" can start it again the same way.
launch() { # name command...
  local name=$1; shift
  mkdir -p "$DIR/cmds"
  printf '%q ' "$@" >"$DIR/cmds/$name"
  nohup "$@" >>"$DIR/logs/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$DIR/pids"
}

# dead prints the first component that is no longer running.
dead() {
  local name pid
  while read -r name pid; do
    alive "$pid" || { echo "$name"; return 0; }
  done <"$DIR/pids"
  return 1
}

# fail_up ends a start-up that failed. The callers (make demo, test
# binaries) delete DIR with the stack, so the logs are first copied to a
# folder of their own, which the message names.
fail_up() { # message; "LOGS" in it becomes the folder the logs are kept in
  KEPT=$(mktemp -d "${TMPDIR:-/tmp}/warbler-stack-failed-XXXXXX")
  cp -r "$DIR/logs/." "$KEPT/" 2>/dev/null || true
  die "${1//LOGS/$KEPT}"
}

await() { # what seconds command...
  local what=$1 limit=$2 t=$SECONDS name; shift 2
  until "$@" >/dev/null 2>&1; do
    if name=$(dead); then fail_up "$name exited during start-up; read LOGS/$name.log"; fi
    [ $((SECONDS - t)) -lt "$limit" ] || fail_up "$what not ready after ${limit}s; the logs are in LOGS"
    sleep 0.2
  done
}

kc() { "$KUBECTL_BIN" --kubeconfig "$DIR/kubeconfig" "$@"; }

ports() {
  ETCD_PORT=$PORT_BASE
  ETCD_PEER_PORT=$((PORT_BASE + 1))
  API_PORT=$((PORT_BASE + 2))
  KCM_PORT=$((PORT_BASE + 3))
  SCHED_PORT=$((PORT_BASE + 4))
  KWOK_PORT=$((PORT_BASE + 5))
}

print_env() {
  echo "export KUBECONFIG=$DIR/kubeconfig"
}

cmd_up() {
  cmd_build
  KUBECTL_BIN=$(kubectl_bin)
  ports
  if [ -s "$DIR/pids" ]; then
    if ! dead >/dev/null && kc get --raw /readyz >/dev/null 2>&1; then
      say "already running in $DIR"
      print_env
      return 0
    fi
    die "$DIR holds a stack that is not healthy; run: $0 down $DIR"
  fi
  local p name t=$SECONDS
  for p in $ETCD_PORT $ETCD_PEER_PORT $API_PORT $KCM_PORT $SCHED_PORT $KWOK_PORT; do
    ! port_busy "$p" || die "port $HOST:$p is in use (choose another PORT_BASE)"
  done
  rm -rf "$DIR/etcd" "$DIR/logs" "$DIR/cmds"
  mkdir -p "$DIR/logs"
  make_pki "$DIR"
  write_kubeconfig "$DIR" "$API_PORT"
  write_kwok_config "$DIR"
  echo "$PORT_BASE" >"$DIR/port-base"
  : >"$DIR/pids"
  KEPT=""
  trap 'say "start-up failed; stopping what started${KEPT:+ (logs kept in $KEPT)}"; cmd_down' EXIT
  local pki=$DIR/pki

  launch etcd "$BIN/etcd-$ETCD_VERSION" --name warbler --data-dir "$DIR/etcd" \
    --listen-client-urls "http://$HOST:$ETCD_PORT" --advertise-client-urls "http://$HOST:$ETCD_PORT" \
    --listen-peer-urls "http://$HOST:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://$HOST:$ETCD_PEER_PORT" \
    --initial-cluster "warbler=http://$HOST:$ETCD_PEER_PORT" --logger zap --log-level warn --unsafe-no-fsync
  await etcd 30 curl -fsS "http://$HOST:$ETCD_PORT/health"

  # --shutdown-send-retry-after bounds the apiserver's exit to ~2 s even with
  # watches open; --enable-priority-and-fairness=false keeps benchmarks from
  # being throttled by APF's default seats. The audit log rotates at 200 MB
  # and keeps 20 files: the lifecycle benchmark counts requests in all of
  # them (2,000 canaries write more than one file).
  launch kube-apiserver "$BIN/kube-apiserver-$K8S_VERSION" \
    --etcd-servers "http://$HOST:$ETCD_PORT" --bind-address $HOST --advertise-address $HOST \
    --secure-port "$API_PORT" --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --service-cluster-ip-range 10.0.0.0/16 --authorization-mode Node,RBAC --allow-privileged=true \
    --requestheader-client-ca-file "$pki/front-proxy-ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$pki/front-proxy-client.crt" --proxy-client-key-file "$pki/front-proxy-client.key" \
    --enable-priority-and-fairness=false --shutdown-send-retry-after=true \
    --audit-policy-file "$(audit_policy)" --audit-log-path "$DIR/logs/audit.log" \
    --audit-log-format json --audit-log-maxsize 200 --audit-log-maxbackup 20 --v 1

  # kube-controller-manager and the scheduler give up when the API server
  # does not answer soon enough, which a busy machine made happen: they
  # start once it is ready.
  await kube-apiserver 120 curl -fsS --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    "https://$HOST:$API_PORT/readyz"

  # 20 deployment and replicaset workers (default 5) and 16 kwok pod-stage
  # workers (default 4): with 500 canaries released at once the defaults,
  # not the controller under test, were the queue every step waited in.
  launch kube-controller-manager "$BIN/kube-controller-manager-$K8S_VERSION" \
    --kubeconfig "$DIR/kubeconfig" --authentication-kubeconfig "$DIR/kubeconfig" \
    --authorization-kubeconfig "$DIR/kubeconfig" --bind-address $HOST --secure-port "$KCM_PORT" \
    --leader-elect=false --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
    --use-service-account-credentials=false --flex-volume-plugin-dir "$DIR/flexvolume" \
    --concurrent-deployment-syncs 20 --concurrent-replicaset-syncs 20 \
    --kube-api-qps 500 --kube-api-burst 1000 --v 1 ${KCM_ARGS:-}

  launch kube-scheduler "$BIN/kube-scheduler-$K8S_VERSION" \
    --kubeconfig "$DIR/kubeconfig" --authentication-kubeconfig "$DIR/kubeconfig" \
    --authorization-kubeconfig "$DIR/kubeconfig" --bind-address $HOST --secure-port "$SCHED_PORT" \
    --leader-elect=false --kube-api-qps 500 --kube-api-burst 1000 --v 1 ${SCHEDULER_ARGS:-}

  launch kwok "$BIN/kwok-$KWOK_VERSION" --kubeconfig "$DIR/kubeconfig" --config "$DIR/kwok.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip $HOST --node-name warbler-kwok --node-port "$KWOK_PORT" --server-address "$HOST:$KWOK_PORT" \
    --tls-cert-file "$pki/admin.crt" --tls-private-key-file "$pki/admin.key" \
    --node-lease-duration-seconds 40 --cidr 10.244.0.0/16

  kc apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-1
  annotations: {kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: "0"}
  labels: {type: kwok, kubernetes.io/os: linux, kubernetes.io/arch: amd64, kubernetes.io/hostname: kwok-node-1}
status:
  allocatable: {cpu: "64", memory: 512Gi, pods: "5000"}
  capacity: {cpu: "64", memory: 512Gi, pods: "5000"}
EOF
  await "node Ready" 60 kc wait --for=condition=Ready node/kwok-node-1 --timeout=1s
  await "default ServiceAccount" 60 kc get serviceaccount default -n default
  if name=$(dead); then fail_up "$name exited during start-up; read LOGS/$name.log"; fi
  trap - EXIT
  if [ -n "${STACK_OWNER_PID:-}" ]; then
    # setsid: the watcher must outlive the shell that ran "up"
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" down "$3"' \
      watcher "$STACK_OWNER_PID" "$SELF" "$DIR" >>"$DIR/logs/watcher.log" 2>&1 </dev/null &
  fi
  say "control plane ready in $((SECONDS - t))s (state in $DIR)"
  print_env
}

# Request-level audit of metadata only: the lifecycle benchmark counts API
# requests per tick from it, and it costs little on a test cluster.
audit_policy() {
  local f=$DIR/audit-policy.yaml
  cat >"$f" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: ["system:kube-scheduler", "system:kube-controller-manager", "system:apiserver"]
- level: None
  resources: [{group: coordination.k8s.io, resources: [leases]}, {group: "", resources: [events, nodes, nodes/status]}]
- level: Metadata
EOF
  echo "$f"
}

stop() { # names...
  local want=" $* " name pid i busy
  [ -f "$DIR/pids" ] || return 0
  while read -r name pid; do
    case $want in *" $name "*) alive "$pid" && kill "$pid" 2>/dev/null ;; esac
  done <"$DIR/pids"
  for i in $(seq 150); do
    busy=0
    while read -r name pid; do
      case $want in *" $name "*) alive "$pid" && busy=1 ;; esac
    done <"$DIR/pids"
    [ $busy = 0 ] && return 0
    sleep 0.1
  done
  while read -r name pid; do
    case $want in *" $name "*) alive "$pid" && kill -9 "$pid" 2>/dev/null && say "$name ignored SIGTERM; killed" ;; esac
  done <"$DIR/pids"
  return 0
}

cmd_down() {
  set +eE
  trap - ERR
  [ -f "$DIR/pids" ] || return 0
  # clients first; the apiserver still writes to etcd while it shuts down
  stop kwok kube-scheduler kube-controller-manager
  stop kube-apiserver
  stop etcd
  rm -f "$DIR/pids"
  say "stopped the stack in $DIR"
}

# restart stops one component and starts it again with the command line it
# was launched with (its log continues in the same file).
cmd_restart() { # name
  local want=$1 name pid
  [ -f "$DIR/cmds/$want" ] || die "no component '$want' in $DIR"
  stop "$want"
  grep -v "^$want " "$DIR/pids" >"$DIR/pids.new" || true
  mv "$DIR/pids.new" "$DIR/pids"
  eval "launch $want $(cat "$DIR/cmds/$want")"
  pid=$(awk -v n="$want" '$1 == n {print $2}' "$DIR/pids")
  say "restarted $want (pid $pid)"
}

cmd_status() {
  local name pid
  [ -f "$DIR/pids" ] || { echo "no stack in $DIR"; return 1; }
  printf '%-24s %8s %8s\n' COMPONENT PID RSS_MiB
  while read -r name pid; do
    if alive "$pid"; then
      printf '%-24s %8s %8s\n' "$name" "$pid" "$(awk '/^VmRSS/ {printf "%d", $2/1024}' "/proc/$pid/status")"
    else
      printf '%-24s %8s %8s\n' "$name" "$pid" dead
    fi
  done <"$DIR/pids"
}

cmd_envtest() {
  cmd_build >&2
  local d=$BIN/envtest-$K8S_VERSION
  mkdir -p "$d"
  ln -sf "$BIN/etcd-$ETCD_VERSION" "$d/etcd"
  ln -sf "$BIN/kube-apiserver-$K8S_VERSION" "$d/kube-apiserver"
  ln -sf "$(kubectl_bin)" "$d/kubectl"
  echo "export KUBEBUILDER_ASSETS=$d"
}

cmd_bin() { # name
  mkdir -p "$BIN" "$SRC"
  case ${1:-} in
    etcd) build_etcd; echo "$BIN/etcd-$ETCD_VERSION" ;;
    kube-apiserver | kube-controller-manager | kube-scheduler) build_k8s "$1"; echo "$BIN/$1-$K8S_VERSION" ;;
    kubectl) kubectl_bin ;;
    kubectl-linux-*) kubectl_for "${1#kubectl-linux-}" ;;
    docker-registry) build_registry; echo "$BIN/docker-registry" ;;
    kwok) build_kwok; echo "$BIN/kwok-$KWOK_VERSION" ;;
    podinfo) build_podinfo; echo "$BIN/podinfo-$PODINFO_VERSION" ;;
    prometheus | zsh | fish) debian_install "$1"; command -v "$1" ;;
    influxd) build_influxd; echo "$BIN/influxd-$INFLUXDB_VERSION" ;;
    carbon-cache | gunicorn) debian_install graphite-carbon graphite-web gunicorn; command -v "$1" ;;
    # Chromium's headless shell, for the dashboard's browser tests: on
    # first use only (neither "build" nor "up" needs it).
    chromium) debian_install chromium-headless-shell; command -v chromium-headless-shell ;;
    *) die "unknown binary '${1:-}'; valid: etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok podinfo prometheus influxd carbon-cache gunicorn zsh fish chromium kubectl-linux-ARCH docker-registry" ;;
  esac
}

sub=${1:-}
DIR=${2:-${STACK_DIR:-/tmp/warbler-stack}}
case $sub in
  up | down | env | status | restart) mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd) ;;
esac
case $sub in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) [ -f "$DIR/kubeconfig" ] || die "no stack in $DIR"; print_env ;;
  status) cmd_status ;;
  restart) cmd_restart "${3:?usage: $0 restart DIR NAME}" ;;
  envtest) cmd_envtest ;;
  bin) cmd_bin "${2:-}" ;;
  *) echo "usage: $0 {build|up|down|env|status|envtest|bin NAME} [DIR] | $0 restart DIR NAME" >&2; exit 2 ;;
esac
