"""Registry secrets in every accepted format, read the same by every backend."""

from __future__ import annotations

import pytest

from ctrlplane.errors import CtrlplaneError
from ctrlplane.registry_logins import RegistryLogin, parse_registry_secret, registry_host


@pytest.mark.parametrize(
    ("value", "image", "expected"),
    [
        (b'{"username": "u", "password": "p"}', "app:1", ("u", "p", "docker.io")),
        (
            b'{"username": "u", "password": "p", "serveraddress": "r.io"}',
            "r.io/app:1",
            ("u", "p", "r.io"),
        ),
        (b"u:p:q", "localhost:5000/app:1", ("u", "p:q", "localhost:5000")),
        (
            b'{"auths": {"https://index.docker.io/v1/": {"auth": "dTpw"}}}',
            "app:1",
            ("u", "p", "docker.io"),
        ),
        (
            b'{"auths": {"reg.io": {"username": "a", "password": "b"}}}',
            "reg.io/x:1",
            ("a", "b", "reg.io"),
        ),
    ],
)
def test_registry_secret_formats(value: bytes, image: str, expected: tuple[str, ...]) -> None:
    assert parse_registry_secret(value, image, "pull") == RegistryLogin(*expected)


@pytest.mark.parametrize(
    ("value", "image", "why"),
    [
        (b"hunter2-no-colon", "app:1", "must be JSON"),
        (b'{"auths": {"other.io": {"auth": "aHVudGVyMjp4"}}}', "reg.io/x", "no credentials"),
        (b'{"auths": {"reg.io": {"auth": "%%hunter2"}}}', "reg.io/x", "not base64"),
        (b'{"auths": {"reg.io": {"password": "hunter2"}}}', "reg.io/x", "no username"),
        (b'{"auths": {"reg.io": {"auth": "aHVudGVyMg=="}}}', "reg.io/x", "not base64"),
    ],
)
def test_unreadable_registry_secret_names_the_key_not_the_value(
    value: bytes, image: str, why: str
) -> None:
    with pytest.raises(CtrlplaneError) as caught:
        parse_registry_secret(value, image, "pull")
    assert "'pull'" in str(caught.value)
    assert why in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_registry_host() -> None:
    assert registry_host("r.example:5000/a/b:1") == "r.example:5000"
    assert registry_host("localhost/a") == "localhost"
    assert registry_host("library/busybox") == "docker.io"
    assert registry_host("busybox") == "docker.io"
