#!/usr/bin/env bash
# Make a Docker engine reachable for the test suite, then build the local test images.
#
# Idempotent: when `docker info` already answers (on DOCKER_HOST or the default socket) nothing is
# installed or started. Otherwise Debian's `docker.io` and `busybox-static` are installed (one
# `apt-get update` at most), and `dockerd` is started as root in the background with its own data
# root and log file. Waits a bounded time for the engine; exits non-zero with the log tail if it
# cannot start. Finally runs scripts/build-images.sh (which rebuilds only when its recipe changed).
#
# Environment:
#   CTRLPLANE_DOCKERD_DATA_ROOT  data root of the started engine (default /var/lib/ctrlplane-docker)
#   CTRLPLANE_DOCKERD_LOG        log file of the started engine (default /var/log/ctrlplane-dockerd.log)
#   CTRLPLANE_DOCKERD_WAIT       seconds to wait for the engine to answer (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."

DATA_ROOT=${CTRLPLANE_DOCKERD_DATA_ROOT:-/var/lib/ctrlplane-docker}
LOG=${CTRLPLANE_DOCKERD_LOG:-/var/log/ctrlplane-dockerd.log}
WAIT=${CTRLPLANE_DOCKERD_WAIT:-60}
PIDFILE=/var/run/ctrlplane-dockerd.pid

engine_up() { docker info >/dev/null 2>&1; }

apt_updated=0
apt_install() {
  # apt_install PACKAGE... : install the packages that are missing, updating the index once.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker-engine: need root to install ${missing[*]}" >&2
    return 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    echo "docker-engine: apt-get update" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    apt_updated=1
  fi
  echo "docker-engine: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

start_engine() {
  apt_install docker.io
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "docker-engine: dockerd not found after installing docker.io" >&2
    return 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker-engine: no engine answers and dockerd must be started as root" >&2
    return 1
  fi
  if engine_up; then  # the package may have brought a CLI for an engine that was up
    return 0
  fi
  mkdir -p "$DATA_ROOT" "$(dirname "$LOG")"
  # a pid file left by a daemon that died (e.g. the machine restarted) blocks a new one
  if [ -f "$PIDFILE" ] && ! kill -0 "$(cat "$PIDFILE" 2>/dev/null)" 2>/dev/null; then
    rm -f "$PIDFILE"
  fi
  local started
  started=$(date +%s)
  echo "docker-engine: starting dockerd (data root $DATA_ROOT, log $LOG)" >&2
  # setsid: the daemon outlives this script and its process group.
  setsid dockerd --data-root "$DATA_ROOT" --pidfile "$PIDFILE" \
    --host unix:///var/run/docker.sock >>"$LOG" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 "$((WAIT * 4))"); do
    if engine_up; then
      echo "docker-engine: engine up after $(($(date +%s) - started)) s (pid $pid)" >&2
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      break
    fi
    sleep 0.25
  done
  echo "docker-engine: dockerd did not answer within ${WAIT}s; last log lines:" >&2
  tail -n 40 "$LOG" >&2 || true
  return 1
}

if ! engine_up; then
  # the CLI may also be missing; docker.io brings it
  start_engine
fi
apt_install busybox-static
bash scripts/build-images.sh
