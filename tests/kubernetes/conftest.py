"""Fixtures of the Kubernetes tests: a strict fake API server on 127.0.0.1 (no real cluster
can run here), its kubeconfig, and provider configs tuned for fast tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ctrlplane.provider.kubernetes import KubernetesConfig
from ctrlplane.testing.conformance.fake_harness import conformance_http
from ctrlplane.testing.images import FakeImage

from .fake_apiserver import FakeCluster, running_fake

IMAGES = [FakeImage(name=f"conformance/app:{n}", http=conformance_http) for n in range(1, 5)]


def fast_config(kubeconfig: Path, **overrides: object) -> KubernetesConfig:
    """A config for the fake: short polls and deadlines."""
    values: dict[str, object] = {
        "kubeconfig": str(kubeconfig),
        "poll_interval": 0.02,
        "provision_timeout": 15,
        "deprovision_timeout": 15,
        "progress_deadline": 15,
        "request_timeout": 10,
        "canary_observation": 0.3,
        "blue_green_retire_delay": 0.2,
        "stability_window": 0.1,
        "lease_ttl": 3,
        "lock_wait": 20,
    }
    values.update(overrides)
    return KubernetesConfig.model_validate(values)


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeCluster]:
    """A started fake API server (a recent server version)."""
    async with running_fake(tmp_path, IMAGES, version=(1, 33)) as started:
        yield started
        assert not started.cluster.errors, started.cluster.errors
