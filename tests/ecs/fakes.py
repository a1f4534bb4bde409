"""Test helpers around the fake AWS: a started fake with the harness's images, raw
signed calls (for requests botocore itself would refuse), and waiting on its state."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .conftest import ACCESS_KEY, SECRET_KEY
from .fake_aws import FakeAws
from .fake_aws.wire import load_model
from .harness import EcsHarness

__all__ = ["eventually", "raw_call", "running_fake"]


@asynccontextmanager
async def running_fake(**config: Any) -> AsyncIterator[EcsHarness]:
    """A harness (images, the test cluster, the lease table) with its fake started."""
    harness = EcsHarness(**config)
    await harness.setup()
    try:
        yield harness
    finally:
        await harness.teardown()


async def raw_call(
    fake: FakeAws,
    service: str,
    operation: str,
    body: object,
    *,
    key: str = ACCESS_KEY,
    secret: str = SECRET_KEY,
    region: str = "us-east-1",
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as ``service``'s ``operation``, signed as botocore signs; the status
    and the decoded answer."""
    model = load_model(service)
    meta = model.metadata
    data = json.dumps(body).encode()
    request = AWSRequest(
        method="POST",
        url=fake.endpoint_url + "/",
        data=data,
        headers={
            "X-Amz-Target": f"{meta['targetPrefix']}.{operation}",
            "Content-Type": f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}",
        },
    )
    signing = meta.get("signingName") or meta["endpointPrefix"]
    SigV4Auth(Credentials(key, secret), signing, region).add_auth(request)
    assert request.url is not None
    async with httpx.AsyncClient() as client:
        resp = await client.post(request.url, content=data, headers=dict(request.headers))
    return resp.status_code, resp.json()


async def eventually(check: Callable[[], Any], what: str, limit: float = 10.0) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + limit
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
