"""Importing the core never imports a backend's client library."""

from __future__ import annotations

import json
import subprocess
import sys

BACKEND_MODULES = ["aiodocker", "aiohttp", "lightkube", "httpx", "httpx_ws"]

PROBE = """
import json, sys
import ctrlplane, ctrlplane.provider, ctrlplane.secrets, ctrlplane.workload
import ctrlplane.errors, ctrlplane.ids, ctrlplane.durations
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {names})))
"""


def test_core_imports_no_backend_client() -> None:
    code = PROBE.format(names=repr(set(BACKEND_MODULES)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(out.stdout) == []


def test_the_probe_would_see_a_backend_import() -> None:
    # Guard against a probe that can never fail: importing a client shows up.
    code = "import httpx\n" + PROBE.format(names=repr(set(BACKEND_MODULES)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "httpx" in json.loads(out.stdout)


def test_public_names() -> None:
    import ctrlplane
    import ctrlplane.provider as provider

    assert isinstance(ctrlplane.__version__, str)
    assert ctrlplane.__version__
    for name in [
        "ProviderInfo",
        "Location",
        "ProvisionRequest",
        "ProvisionResult",
        "DeployRequest",
        "DeployResult",
        "ServiceSpec",
        "ServiceDeploySpec",
        "ServiceSnapshot",
        "ServiceRole",
        "WorkloadKind",
        "ResourceSpec",
        "ResourceUsage",
        "PortSpec",
        "VolumeSpec",
        "HealthCheckSpec",
        "Endpoint",
        "InstanceState",
        "InstanceStatus",
        "ServiceStatus",
        "LogOptions",
        "ExecRequest",
        "ExecResult",
        "SecretRef",
        "ConfigFile",
        "HealthStatus",
        "Capability",
        "has_capability",
        "Provider",
        "HealthChecker",
        "Registry",
        "validate_request",
    ]:
        assert name in provider.__all__, name
        assert getattr(provider, name) is not None


def test_the_provider_package_loads_its_names_on_first_use() -> None:
    import ctrlplane.provider as provider

    exported = {name for names in provider._EXPORTS.values() for name in names}
    assert exported == set(provider.__all__)
    for name in provider.__all__:
        assert getattr(provider, name) is not None
    assert set(provider.__all__) <= set(dir(provider))
    code = "import sys, ctrlplane.provider; print('pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False", "import ctrlplane.provider must not build the models"
