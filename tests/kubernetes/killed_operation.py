"""A provider operation run in its own process, to be killed mid-way (SIGKILL) by a test.

Usage: ``python killed_operation.py KUBECONFIG OPERATION REQUEST_JSON``, where OPERATION is
``provision`` (REQUEST_JSON a ProvisionRequest) or ``deploy`` (a DeployRequest). The
provider uses short leases (0.5 s), so the operation's Lease expires soon after it is killed.
"""

from __future__ import annotations

import asyncio
import sys

from ctrlplane.provider.kubernetes import KubernetesConfig, KubernetesProvider
from ctrlplane.provider.spec import DeployRequest, ProvisionRequest


async def main(kubeconfig: str, operation: str, body: str) -> None:
    config = KubernetesConfig(
        kubeconfig=kubeconfig,
        poll_interval=0.02,
        provision_timeout=60,
        progress_deadline=60,
        canary_observation=60,
        stability_window=0.1,
        lease_ttl=0.5,
        request_timeout=10,
    )
    provider = KubernetesProvider(config)
    if operation == "provision":
        await provider.provision(ProvisionRequest.model_validate_json(body))
    else:
        await provider.deploy(DeployRequest.model_validate_json(body))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
