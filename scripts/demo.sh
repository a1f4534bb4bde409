#!/usr/bin/env bash
# The main job: bring the example workload up on the local Docker engine and show its
# status and endpoints. Sets everything up first (virtualenv, engine, local image).
# Re-running converges the same instance; `ctrlplane down hello-web` removes it.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
bash scripts/docker-engine.sh
export PATH="$PWD/.venv/bin:$PATH"

ctrlplane validate -f examples/hello-web.yaml
ctrlplane up -f examples/hello-web.yaml

# Show that the published endpoint (on 127.0.0.1) answers.
url=$(ctrlplane -o json status hello-web | .venv/bin/python -c '
import json, sys
status = json.load(sys.stdin)["status"]
print(next(e["url"] for e in status["endpoints"] if e["public"]).replace("tcp://", "http://"))')
page=$(.venv/bin/python -c '
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())' "$url")
echo
echo "GET $url -> $page"
