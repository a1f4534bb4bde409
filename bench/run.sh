#!/usr/bin/env bash
# Run the benchmarks (B1-B8, see docs/performance.md) after installing what they need.
#
# Idempotent, quick when everything is there: the virtualenv with every extra and the dev
# tools (scripts/bootstrap.sh), a running Docker engine with the local example image
# (scripts/docker-engine.sh), and Debian's docker-compose for B1's compose contender
# (installed with apt when missing; one `apt-get update` at most). Then runs
# `.venv/bin/python -m bench` with the arguments given, e.g.
#
#   bash bench/run.sh                 # full sizes (45-60 minutes on 2 cores)
#   bash bench/run.sh --quick         # tiny sizes, once: proves the harness works
#   bash bench/run.sh --only B1,B6 --json /tmp/bench.json
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
bash scripts/docker-engine.sh

if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench: docker-compose is missing and installing it needs root (apt-get install -y docker-compose);" \
      "B1 runs without its compose contender" >&2
  else
    echo "bench: installing docker-compose (Debian's, for B1)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >&2
  fi
fi

exec .venv/bin/python -m bench "$@"
