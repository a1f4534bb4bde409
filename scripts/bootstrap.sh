#!/usr/bin/env bash
# Set up the project's virtualenv (.venv) with every extra and the dev tools.
# Idempotent and quick when nothing changed: it reinstalls only when pyproject.toml did.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: ctrlplane needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi

stamp=.venv/.ctrlplane-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

echo "bootstrap: installing ctrlplane and its dev tools into .venv" >&2
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# pip >= 25.1 understands dependency groups (--group dev).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade 'pip>=25.1'
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[all]' --group dev
echo "$want" > "$stamp"
