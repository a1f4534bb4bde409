"""Make the repository root importable, so the CLI tests can use the fake Kubernetes API
server and the fake Nomad agent as ``tests.kubernetes`` and ``tests.nomad``.

(``pythonpath = ["."]`` in the pytest configuration would do the same for every test.)
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
