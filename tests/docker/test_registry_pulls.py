"""Image pulls against a REAL local registry (scripts/local-registry.sh, basic auth, 127.0.0.1).

Pull policies (always / if-not-present / never), credentials from ``DockerConfig.registry_auth``
and from a service's ``registry`` secret (all three accepted formats), and the failures: wrong
or missing credentials, an image the registry lacks, ``never`` without a local copy. Whether the
registry was contacted is read from its access log.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiodocker
import pytest

from ctrlplane.errors import ProvisionFailed
from ctrlplane.ids import new_id
from ctrlplane.provider.docker import DockerProvider
from ctrlplane.secrets import MappingResolver

from .conftest import LocalRegistry, fast_config
from .helpers import IMAGE, loop_cmd, request, web

REPO = "ctrlplane-test/busybox"
WRONG = "not-the-password-0451"


def repo_of(image: str) -> str:
    """``host:port/a/b:tag`` -> ``a/b``."""
    return image.split("/", 1)[1].rsplit(":", 1)[0]


async def logged(reg: LocalRegistry, mark: int, repository: str, needle: str) -> list[str]:
    """The access-log lines for ``repository`` after ``mark``, once one contains ``needle``
    (the registry writes a line just after answering, so wait a little for it)."""
    lines: list[str] = []
    for _ in range(50):
        lines = reg.requests_since(mark, repository)
        if any(needle in ln for ln in lines):
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {needle!r} request for {repository} in the registry log: {lines}")


def config_auth(reg: LocalRegistry, password: str) -> dict[str, Any]:
    return {reg.address: {"username": reg.username, "password": password}}


def secret_value(reg: LocalRegistry, password: str, fmt: str) -> str:
    """A ``registry`` secret in one of the formats the Docker provider accepts."""
    if fmt == "json":
        return json.dumps({"username": reg.username, "password": password})
    if fmt == "user:password":
        return f"{reg.username}:{password}"
    auth = base64.b64encode(f"{reg.username}:{password}".encode()).decode()
    return json.dumps({"auths": {f"http://{reg.address}": {"auth": auth}}})


def with_pull_secret(image: str) -> dict[str, Any]:
    return web(image=image, secrets=[{"key": "pull", "type": "registry"}])


@pytest.fixture
async def engine() -> AsyncIterator[aiodocker.Docker]:
    client = aiodocker.Docker()
    try:
        yield client
    finally:
        await client.close()


async def has_image(engine: aiodocker.Docker, ref: str) -> bool:
    try:
        await engine.images.inspect(ref)
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def untag(engine: aiodocker.Docker, ref: str) -> None:
    """Remove the local tag ``ref`` (the image stays under its other tags)."""
    try:
        await engine.images.delete(ref)
    except aiodocker.DockerError as exc:
        if exc.status != 404:
            raise
    assert not await has_image(engine, ref)


async def everything_of(engine: aiodocker.Docker, iid: str) -> str:
    """``docker inspect`` of every container, network and volume of the instance, as text."""
    flt = json.dumps({"label": [f"io.ctrlplane.instance={iid}"]})
    parts: list[Any] = []
    for c in await engine.containers.list(all=True, filters=flt):
        parts.append(await engine._query_json(f"containers/{c.id}/json"))
    parts.append(await engine._query_json("networks", params={"filters": flt}))
    parts.append(await engine._query_json("volumes", params={"filters": flt}))
    return json.dumps(parts)


async def test_always_pulls_with_config_credentials(
    local_registry: LocalRegistry, engine: aiodocker.Docker, make_id: Callable[[], str]
) -> None:
    reg = local_registry
    await untag(engine, reg.image)
    provider = DockerProvider(
        fast_config(pull_policy="always", registry_auth=config_auth(reg, reg.password))
    )
    iid = make_id()
    mark = reg.log_size()
    try:
        await provider.provision(request(iid, web(image=reg.image)))
        assert await has_image(engine, reg.image)
        st = await provider.status(iid)
        assert st.services["web"].state == "running"
    finally:
        await provider.deprovision(iid)
    await logged(reg, mark, REPO, '/manifests/latest HTTP/1.1" 200')
    # always: a second provision with the image present still asks the registry
    mark = reg.log_size()
    iid2 = make_id()
    try:
        await provider.provision(request(iid2, web(image=reg.image)))
    finally:
        await provider.deprovision(iid2)
    await logged(reg, mark, REPO, '/manifests/latest HTTP/1.1" 200')


@pytest.mark.parametrize("fmt", ["json", "user:password", "dockerconfigjson"])
async def test_registry_secret_authenticates_and_never_leaks(
    fmt: str,
    local_registry: LocalRegistry,
    engine: aiodocker.Docker,
    make_id: Callable[[], str],
) -> None:
    reg = local_registry
    await untag(engine, reg.image)
    value = secret_value(reg, reg.password, fmt)
    # the config holds wrong credentials for the same registry: the service's secret wins
    provider = DockerProvider(
        fast_config(pull_policy="always", registry_auth=config_auth(reg, WRONG)),
        secrets=MappingResolver({"pull": value}),
    )
    iid = make_id()
    mark = reg.log_size()
    try:
        result = await provider.provision(request(iid, with_pull_secret(reg.image)))
        assert await has_image(engine, reg.image)
        await logged(reg, mark, REPO, '/manifests/latest HTTP/1.1" 200')
        seen = [
            await everything_of(engine, iid),
            result.model_dump_json(),
            (await provider.status(iid)).model_dump_json(),
            json.dumps([r.model_dump(mode="json") for r in await provider.releases(iid)]),
            json.dumps([i.model_dump(mode="json") for i in await provider.list_instances()]),
        ]
        for text in seen:
            assert reg.password not in text
            assert value not in text
        assert "pull" in seen[0]  # the reference (key and type) is kept, the value is not
    finally:
        await provider.deprovision(iid)


@pytest.mark.parametrize("source", ["config", "secret", "none"])
async def test_bad_credentials_fail_clearly_and_leave_nothing(
    source: str,
    local_registry: LocalRegistry,
    engine: aiodocker.Docker,
    make_id: Callable[[], str],
) -> None:
    reg = local_registry
    await untag(engine, reg.image)
    if source == "config":
        provider = DockerProvider(
            fast_config(pull_policy="always", registry_auth=config_auth(reg, WRONG))
        )
        svc = web(image=reg.image)
    elif source == "secret":
        provider = DockerProvider(
            fast_config(pull_policy="always"),
            secrets=MappingResolver({"pull": secret_value(reg, WRONG, "json")}),
        )
        svc = with_pull_secret(reg.image)
    else:
        provider = DockerProvider(fast_config(pull_policy="if-not-present"))
        svc = web(image=reg.image)
    iid = make_id()
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(request(iid, svc))
    err = exc.value
    assert err.step == f"pull image {reg.image}"
    assert reg.image in str(err)
    assert "authentication failed" in err.reason
    assert f"registry {reg.address}" in err.reason
    if source == "none":
        assert "none were given" in err.reason
    else:
        assert "rejected the credentials" in err.reason
    for text in (str(err), repr(err), err.reason):
        assert WRONG not in text
        assert reg.password not in text
    assert not await has_image(engine, reg.image)
    # make_id asserts no container, network or volume is left


async def test_image_missing_from_registry_is_named(
    local_registry: LocalRegistry, make_id: Callable[[], str]
) -> None:
    reg = local_registry
    missing = f"{reg.address}/ctrlplane-test/{new_id('absent').lower()}:1"
    provider = DockerProvider(
        fast_config(pull_policy="if-not-present", registry_auth=config_auth(reg, reg.password))
    )
    iid = make_id()
    mark = reg.log_size()
    side = {"name": "side", "image": missing, "role": "sidecar", "command": loop_cmd()}
    with pytest.raises(ProvisionFailed) as exc:
        await provider.provision(request(iid, web(), side))
    assert exc.value.step == f"pull image {missing}"
    assert missing in str(exc.value)
    assert f"the image is not in registry {reg.address}" in exc.value.reason
    await logged(reg, mark, repo_of(missing), '/manifests/1 HTTP/1.1" 404 ')


async def test_never_fails_without_contacting_the_registry(
    local_registry: LocalRegistry, make_id: Callable[[], str]
) -> None:
    reg = local_registry
    absent = f"{reg.address}/ctrlplane-test/{new_id('never').lower()}:1"
    auth = config_auth(reg, reg.password)
    iid = make_id()
    mark = reg.log_size()
    never = DockerProvider(fast_config(pull_policy="never", registry_auth=auth))
    with pytest.raises(ProvisionFailed) as exc:
        await never.provision(request(iid, web(image=absent)))
    assert exc.value.step == f"pull image {absent}"
    assert absent in str(exc.value)
    assert "pull policy is never" in exc.value.reason
    assert reg.requests_since(mark, repo_of(absent)) == []
    # control: the log does show a request for that repository once a pull is attempted
    pulling = DockerProvider(fast_config(pull_policy="if-not-present", registry_auth=auth))
    with pytest.raises(ProvisionFailed):
        await pulling.provision(request(iid, web(image=absent)))
    await logged(reg, mark, repo_of(absent), "/manifests/1 ")


async def test_if_not_present_uses_the_local_copy(
    local_registry: LocalRegistry, engine: aiodocker.Docker, make_id: Callable[[], str]
) -> None:
    reg = local_registry
    name = new_id("local").lower()
    # only local: the registry does not have it, and nothing listens on 127.0.0.1:9
    local = f"{reg.address}/ctrlplane-test/{name}:1"
    offline = f"127.0.0.1:9/ctrlplane-test/{name}:1"
    for ref in (local, offline):
        repo, tag = ref.rsplit(":", 1)
        await engine.images.tag(IMAGE, repo=repo, tag=tag)
    # wrong credentials would fail any pull
    provider = DockerProvider(
        fast_config(pull_policy="if-not-present", registry_auth=config_auth(reg, WRONG))
    )
    mark = reg.log_size()
    try:
        for ref in (local, offline):
            iid = make_id()
            try:
                await provider.provision(request(iid, web(image=ref)))
                assert (await provider.status(iid)).services["web"].state == "running"
            finally:
                await provider.deprovision(iid)
        assert reg.requests_since(mark, repo_of(local)) == []
    finally:
        for ref in (local, offline):
            await untag(engine, ref)
