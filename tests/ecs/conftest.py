"""The ECS tests' AWS environment: the fake's credentials, nothing of the developer's.

Every test of this directory runs with the access key the fake accepts in the standard
AWS variables (the provider finds it through the default credential chain), with the
instance metadata service disabled and no shared config or credentials file, so no
request leaves 127.0.0.1 and no developer setting leaks in. Makes the repository root
importable (``tests.ecs.fake_aws``) for the CLI tests run from other directories.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

ACCESS_KEY = "AKIACTRLPLANETEST001"
SECRET_KEY = "ctrlplane-fake-secret-key-0000000000000"

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/ctrlplane-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/ctrlplane-test-aws-credentials",
}
CLEARED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake's credentials in the standard variables (see the module docs)."""
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("CTRLPLANE_ECS_")]:
        monkeypatch.delenv(name, raising=False)
