"""Request builders and small helpers of the Docker suite."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

from ctrlplane.provider import Endpoint, ExecRequest, ProvisionRequest
from ctrlplane.provider.docker import DockerProvider

IMAGE = "ctrlplane-example/busybox:latest"

# busybox sh as PID 1 ignores SIGTERM: trap it so stops are quick.
TRAP = "trap 'exit 0' TERM; "


def loop_cmd(body: str = "sleep 1") -> list[str]:
    """A long-lived shell loop that exits on SIGTERM."""
    return ["sh", "-c", f"{TRAP}while true; do {body} & wait; done"]


def httpd_cmd(port: int = 8080, root: str = "/var/www") -> list[str]:
    """busybox httpd in the foreground, stopping on SIGTERM."""
    return ["sh", "-c", f"{TRAP}httpd -f -p {port} -h {root} & wait"]


def web(**extra: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "name": "web",
        "image": IMAGE,
        "command": httpd_cmd(),
        "ports": [{"container": 8080}],
    }
    svc.update(extra)
    return svc


def request(instance_id: str, *services: dict[str, Any], **extra: Any) -> ProvisionRequest:
    data: dict[str, Any] = {
        "instance_id": instance_id,
        "tenant_id": "tenant-test",
        "name": "test-workload",
        "services": list(services) or [web()],
    }
    data.update(extra)
    return ProvisionRequest.model_validate(data)


async def sh(
    p: DockerProvider, iid: str, script: str, *, service: str = "", replica: int | None = None
) -> tuple[int, str, str]:
    r = await p.exec(
        iid, ExecRequest(command=["sh", "-c", script], service=service, replica=replica)
    )
    return r.exit_code, r.stdout.decode(), r.stderr.decode()


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode()


async def http_get_async(url: str) -> tuple[int, str]:
    return await asyncio.to_thread(http_get, url)


def public_url(endpoints: list[Endpoint], service: str) -> str:
    for ep in endpoints:
        if ep.service_name == service and ep.public:
            return "http://" + ep.url.split("://", 1)[1]
    raise AssertionError(f"no public endpoint for {service}: {endpoints}")
