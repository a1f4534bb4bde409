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
echo
ctrlplane status hello-web
