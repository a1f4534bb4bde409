"""Checking the AWS Signature Version 4 of a request, as AWS front ends do.

The fake knows the secret key of every access key it accepts; a request whose
``Authorization`` header is missing, names an unknown key, signs for another region or
service, or whose signature does not verify is refused (403, the codes AWS gives:
``MissingAuthenticationTokenException``, ``UnrecognizedClientException``,
``InvalidSignatureException``). So a client that reached the fake has signed its request
for the right region and service with the credentials of the standard chain.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import quote

from .errors import AwsError

__all__ = ["verify"]

_ALGORITHM = "AWS4-HMAC-SHA256"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _parts(header: str) -> dict[str, str]:
    fields = header[len(_ALGORITHM) :].strip()
    out: dict[str, str] = {}
    for item in fields.split(","):
        name, _, value = item.strip().partition("=")
        out[name] = value
    return out


def verify(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, str],
    region: str,
    service: str,
) -> str:
    """Check the request's signature; return the access key ID, else raise ``AwsError``."""
    header = headers.get("Authorization", "")
    if not header.startswith(_ALGORITHM + " "):
        raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    parts = _parts(header)
    credential = parts.get("Credential", "").split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        raise AwsError("IncompleteSignatureException", "malformed Credential", 403)
    key_id, day, signed_region, signed_service, _ = credential
    secret = keys.get(key_id)
    if secret is None:
        raise AwsError(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            403,
        )
    if signed_region != region:
        raise AwsError(
            "InvalidSignatureException",
            f"Credential should be scoped to a valid region, not '{signed_region}'.",
            403,
        )
    if signed_service != service:
        raise AwsError(
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{service}'.",
            403,
        )
    amz_date = headers.get("X-Amz-Date", "")
    signed = parts.get("SignedHeaders", "").split(";")
    lowered = {k.lower(): v for k, v in headers.items()}
    canonical_headers = "".join(
        f"{name}:{' '.join(lowered.get(name, '').split())}\n" for name in signed
    )
    canonical = "\n".join(
        [
            method,
            quote(path, safe="/~"),
            query,
            canonical_headers,
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{signed_region}/{signed_service}/aws4_request"
    to_sign = "\n".join(
        [_ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(("AWS4" + secret).encode(), day)
    for part in (signed_region, signed_service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("Signature", "")):
        raise AwsError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
            403,
        )
    return key_id
