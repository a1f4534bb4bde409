#!/usr/bin/env bash
# A local image registry (Debian's `docker-registry`, the distribution registry v2) on 127.0.0.1
# with htpasswd basic auth, holding the test image; used by tests/docker/test_registry_pulls.py.
#
# Idempotent: when our registry already answers with the stored credentials, it is reused (the
# push is repeated, which is quick). Otherwise `docker-registry` and `apache2-utils` (for a bcrypt
# htpasswd entry) are installed if missing (with one `apt-get update` first, unless the package
# index already knows them; a failed install from a stale index updates and retries), without letting the package start its system service on :5000 (any
# instance found running is stopped; when this script installed the package, it is disabled),
# and the registry is started as root in the background with its own config, storage, password
# and log under $STATE. Plain HTTP on 127.0.0.1 is fine: the engine treats 127.0.0.0/8
# registries as insecure-allowed. Waits a bounded time; exits non-zero
# with the log tail if the registry cannot start. Then pushes ctrlplane-example/busybox:latest
# (built by scripts/build-images.sh) as <address>/ctrlplane-test/busybox:latest, logging in with
# a throwaway DOCKER_CONFIG (root's docker config is not touched).
#
# Prints the settings on stdout, one KEY=VALUE a line:
#   CTRLPLANE_REGISTRY           host:port of the registry
#   CTRLPLANE_REGISTRY_USER      user name of the registry's only account
#   CTRLPLANE_REGISTRY_PASSWORD  its password (random, made at the first run, kept in $STATE)
#   CTRLPLANE_REGISTRY_IMAGE     the pushed test image
#   CTRLPLANE_REGISTRY_LOG       the registry's log (one line per request)
#   CTRLPLANE_REGISTRY_PID       the registry's process id
#
# Environment:
#   CTRLPLANE_REGISTRY_STATE  state directory (default /var/lib/ctrlplane-registry)
#   CTRLPLANE_REGISTRY_PORT   port on 127.0.0.1 (default: the first free one from 45500)
#   CTRLPLANE_REGISTRY_WAIT   seconds to wait for the registry to answer (default 30)
#   --stop                    stop our registry (if running) and exit
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${CTRLPLANE_REGISTRY_STATE:-/var/lib/ctrlplane-registry}
WAIT=${CTRLPLANE_REGISTRY_WAIT:-30}
USER_NAME=ctrlplane
SOURCE_IMAGE=ctrlplane-example/busybox:latest
REPO=ctrlplane-test/busybox:latest
CONFIG=$STATE/config.yml
PIDFILE=$STATE/registry.pid
LOG=$STATE/registry.log

say() { echo "local-registry: $*" >&2; }
die() { say "$*"; exit 1; }

apt_updated=0
apt_install() {
  # apt_install PACKAGE... : install the missing packages, updating the index once, never
  # letting the package start its system service (policy-rc.d 101 while installing).
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}"
  if [ "$apt_updated" -eq 0 ] && ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
  fi
  say "installing ${missing[*]}"
  local rc=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || rc=$?
  if [ "$rc" -ne 0 ] && [ "$apt_updated" -eq 0 ]; then  # a stale index: update, then retry
    say "apt-get update (the index was stale)"
    apt_updated=1
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || rc=$?
    if [ "$rc" -eq 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >&2 || rc=$?
    fi
  fi
  [ "$own_policy" -eq 1 ] && rm -f "$policy"
  [ "$rc" -eq 0 ] || return "$rc"
  # a package we just installed does not start the system registry (:5000) at boot either
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --quiet docker-registry >/dev/null 2>&1 || true
  fi
}

stop_system_instance() {
  # The package ships docker-registry.service (listening on :5000); make sure it is not running.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker-registry 2>/dev/null; then
    say "stopping the system docker-registry service"
    systemctl stop docker-registry >&2 || true
    systemctl disable docker-registry >&2 2>/dev/null || true
  fi
  if [ -x /etc/init.d/docker-registry ] && /etc/init.d/docker-registry status >/dev/null 2>&1; then
    /etc/init.d/docker-registry stop >&2 || true
  fi
}

# http_status PORT [AUTH]: the status code of GET /v2/ on 127.0.0.1:PORT (000: no answer).
http_status() {
  local port=$1 auth=${2:-} line
  line=$(
    exec 2>/dev/null
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
    {
      printf 'GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n' "$port"
      [ -n "$auth" ] && printf 'Authorization: Basic %s\r\n' "$auth"
      printf '\r\n'
    } >&3
    timeout 5 head -n 1 <&3 || true
  ) || true
  line=${line%$'\r'}
  case $line in HTTP/*) echo "$line" | cut -d' ' -f2 ;; *) echo 000 ;; esac
}

port_free() { ! (exec 2>/dev/null; exec 3<>"/dev/tcp/127.0.0.1/$1"); }

our_pid() {
  # The pid in $PIDFILE if that process is our registry (not a reused pid).
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "docker-registry serve $CONFIG" || return 1
  echo "$pid"
}

stop_ours() {
  local pid
  pid=$(our_pid) || { rm -f "$PIDFILE"; return 0; }
  say "stopping registry (pid $pid)"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
}

if [ "${1:-}" = "--stop" ]; then
  stop_ours
  exit 0
fi

docker image inspect "$SOURCE_IMAGE" >/dev/null 2>&1 \
  || die "the engine has no $SOURCE_IMAGE: run scripts/docker-engine.sh first"

mkdir -p "$STATE/data"
chmod 700 "$STATE"
if [ ! -s "$STATE/password" ]; then
  (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$STATE/password")
fi
PASSWORD=$(cat "$STATE/password")
BASIC=$(printf '%s:%s' "$USER_NAME" "$PASSWORD" | base64 | tr -d '\n')

ADDRESS=$(cat "$STATE/address" 2>/dev/null || true)
PORT=${ADDRESS##*:}
if pid=$(our_pid) && [ -n "$PORT" ] && [ "$(http_status "$PORT" "$BASIC")" = 200 ]; then
  say "registry already up on $ADDRESS (pid $pid)"
else
  stop_ours
  apt_install docker-registry apache2-utils || die "could not install docker-registry apache2-utils"
  stop_system_instance
  command -v docker-registry >/dev/null 2>&1 || die "docker-registry missing after installing it"
  command -v htpasswd >/dev/null 2>&1 || die "htpasswd missing after installing apache2-utils"

  if [ -n "${CTRLPLANE_REGISTRY_PORT:-}" ]; then
    PORT=$CTRLPLANE_REGISTRY_PORT
    port_free "$PORT" || die "port 127.0.0.1:$PORT is in use (CTRLPLANE_REGISTRY_PORT)"
  else
    PORT=""
    for p in $(seq 45500 45599); do
      if port_free "$p"; then PORT=$p; break; fi
    done
    [ -n "$PORT" ] || die "no free port in 127.0.0.1:45500-45599"
  fi
  ADDRESS=127.0.0.1:$PORT

  # bcrypt entry (-B), the only hash the registry accepts
  htpasswd -Bbn "$USER_NAME" "$PASSWORD" | sed '/^$/d' >"$STATE/htpasswd"
  chmod 600 "$STATE/htpasswd"
  cat >"$CONFIG" <<EOF
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $STATE/data
  delete:
    enabled: true
http:
  addr: $ADDRESS
  secret: $(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
auth:
  htpasswd:
    realm: ctrlplane-test-registry
    path: $STATE/htpasswd
EOF
  chmod 600 "$CONFIG"
  echo "$ADDRESS" >"$STATE/address"
  : >"$LOG"
  started=$(date +%s%N)
  say "starting docker-registry on $ADDRESS (state $STATE)"
  # setsid: the registry outlives this script and its process group.
  setsid docker-registry serve "$CONFIG" >>"$LOG" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  up=0
  for _ in $(seq 1 "$((WAIT * 10))"); do
    if [ "$(http_status "$PORT" "$BASIC")" = 200 ]; then up=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ "$up" -ne 1 ]; then
    say "registry did not answer on $ADDRESS within ${WAIT}s; last log lines:"
    tail -n 30 "$LOG" >&2 || true
    stop_ours
    exit 1
  fi
  [ "$(http_status "$PORT")" = 401 ] || die "registry on $ADDRESS answers without credentials"
  say "registry up after $((($(date +%s%N) - started) / 1000000)) ms (pid $pid)"
fi

# Push the test image (a no-op upload when the registry has it already).
IMAGE=$ADDRESS/$REPO
docker_config=$(mktemp -d)
trap 'rm -rf "$docker_config"' EXIT
printf '%s' "$PASSWORD" | DOCKER_CONFIG=$docker_config \
  docker login -u "$USER_NAME" --password-stdin "$ADDRESS" >/dev/null 2>&1 \
  || die "docker login to $ADDRESS failed; last log lines: $(tail -n 5 "$LOG")"
docker tag "$SOURCE_IMAGE" "$IMAGE"
DOCKER_CONFIG=$docker_config docker push "$IMAGE" >/dev/null \
  || die "docker push $IMAGE failed"
DOCKER_CONFIG=$docker_config docker logout "$ADDRESS" >/dev/null 2>&1 || true

echo "CTRLPLANE_REGISTRY=$ADDRESS"
echo "CTRLPLANE_REGISTRY_USER=$USER_NAME"
echo "CTRLPLANE_REGISTRY_PASSWORD=$PASSWORD"
echo "CTRLPLANE_REGISTRY_IMAGE=$IMAGE"
echo "CTRLPLANE_REGISTRY_LOG=$LOG"
echo "CTRLPLANE_REGISTRY_PID=$(our_pid)"
