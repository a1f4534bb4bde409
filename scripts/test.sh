#!/usr/bin/env bash
# The whole test suite: lint, format check, strict typing, then pytest.
# Fails if any step fails (including pytest finding no tests).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh

echo "== ruff check" >&2
.venv/bin/ruff check src tests bench
echo "== ruff format --check" >&2
.venv/bin/ruff format --check src tests bench
echo "== mypy --strict src tests bench" >&2
.venv/bin/mypy
bash scripts/docker-engine.sh  # real Docker engine + local test images for tests/docker
echo "== pytest" >&2
# Four workers (most tests wait rather than compute): the real-engine tests in three
# lanes, each on one worker, the rest over all four (tests/conftest.py).
.venv/bin/pytest -n 4 --dist loadgroup --durations=30 "$@"
