"""A fake AWS Secrets Manager: secrets with versions, looked up by name or ARN.

Semantics the real service has and the fake keeps: ``SecretString`` and ``SecretBinary``
are exclusive; a name is unique (``ResourceExistsException``); a secret scheduled for
deletion cannot be read or re-created (``InvalidRequestException``) unless it was deleted
with ``ForceDeleteWithoutRecovery``; ARNs end in ``-`` and six random characters; the
``name`` filter of ``ListSecrets`` matches name prefixes. The ECS fake reads values through
:meth:`SecretsManager.value` when a task's ``secrets`` or registry credentials name one.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .account import Account, Clock
from .errors import AwsError
from .wire import ServiceApi

__all__ = ["SecretsManager"]

JSON = dict[str, Any]
_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]+")


@dataclass
class _Secret:
    arn: str
    name: str
    created: datetime
    value: str | bytes = ""
    version: str = ""
    kms_key: str = ""
    tags: list[JSON] = field(default_factory=list)
    deleted: datetime | None = None


def _not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "Secrets Manager can't find the specified secret.")


class SecretsManager:
    """The fake service's state and handlers (:attr:`api`)."""

    def __init__(self, account: Account, clock: Clock) -> None:
        self.account = account
        self.clock = clock
        self.secrets: dict[str, _Secret] = {}
        self.api = ServiceApi(
            "secretsmanager",
            {
                "CreateSecret": self.create,
                "PutSecretValue": self.put,
                "GetSecretValue": self.get,
                "DescribeSecret": self.describe,
                "DeleteSecret": self.delete,
                "ListSecrets": self.list,
            },
            validation_code="InvalidParameterException",
        )

    # lookups

    def _find(self, secret_id: str, *, deleted_ok: bool = False) -> _Secret:
        for s in self.secrets.values():
            if secret_id in (s.name, s.arn) or secret_id == s.arn[:-7]:
                if s.deleted is not None and not deleted_ok:
                    raise AwsError(
                        "InvalidRequestException",
                        "You can't perform this operation on the secret because it was "
                        "marked for deletion.",
                    )
                return s
        raise _not_found()

    def value(self, reference: str) -> str | bytes:
        """The current value a task's ``valueFrom`` (name or ARN) names; ``AwsError``."""
        return self._find(reference).value

    def names(self) -> list[str]:
        """Every secret's name (for leftover checks)."""
        return sorted(self.secrets)

    # handlers

    def _value_of(self, body: JSON) -> str | bytes:
        if "SecretString" in body and "SecretBinary" in body:
            raise AwsError(
                "InvalidParameterException",
                "You can't specify both a binary secret value and a string secret value.",
            )
        if "SecretBinary" in body:
            return base64.b64decode(body["SecretBinary"])
        return str(body.get("SecretString", ""))

    def create(self, body: JSON) -> JSON:
        name = body["Name"]
        if not _NAME.fullmatch(name):
            raise AwsError(
                "InvalidParameterException",
                "Invalid name. Must be a valid name containing alphanumeric characters, or "
                "any of the following: -/_+=.@!",
            )
        existing = self.secrets.get(name)
        if existing is not None:
            if existing.deleted is not None:
                raise AwsError(
                    "InvalidRequestException",
                    "You can't create this secret because a secret with this name is "
                    "already scheduled for deletion.",
                )
            raise AwsError(
                "ResourceExistsException",
                f"The operation failed because the secret {name} already exists.",
            )
        suffix = "".join(secrets.choice(string.ascii_letters) for _ in range(6))
        arn = self.account.arn("secretsmanager", f"secret:{name}-{suffix}")
        secret = _Secret(
            arn=arn,
            name=name,
            created=self.clock.now(),
            value=self._value_of(body),
            version=body.get("ClientRequestToken") or str(uuid.uuid4()),
            kms_key=body.get("KmsKeyId", ""),
            tags=list(body.get("Tags") or []),
        )
        self.secrets[name] = secret
        return {"ARN": arn, "Name": name, "VersionId": secret.version}

    def put(self, body: JSON) -> JSON:
        secret = self._find(body["SecretId"])
        if "SecretString" not in body and "SecretBinary" not in body:
            raise AwsError(
                "InvalidRequestException",
                "You must provide either SecretString or SecretBinary.",
            )
        secret.value = self._value_of(body)
        secret.version = body.get("ClientRequestToken") or str(uuid.uuid4())
        return {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": secret.version,
            "VersionStages": ["AWSCURRENT"],
        }

    def get(self, body: JSON) -> JSON:
        secret = self._find(body["SecretId"])
        out: JSON = {
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": secret.version,
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": secret.created,
        }
        if isinstance(secret.value, bytes):
            out["SecretBinary"] = secret.value
        else:
            out["SecretString"] = secret.value
        return out

    def _entry(self, secret: _Secret) -> JSON:
        out: JSON = {
            "ARN": secret.arn,
            "Name": secret.name,
            "CreatedDate": secret.created,
            "Tags": secret.tags,
        }
        if secret.kms_key:
            out["KmsKeyId"] = secret.kms_key
        if secret.deleted is not None:
            out["DeletedDate"] = secret.deleted
        return out

    def describe(self, body: JSON) -> JSON:
        secret = self._find(body["SecretId"], deleted_ok=True)
        return {**self._entry(secret), "VersionIdsToStages": {secret.version: ["AWSCURRENT"]}}

    def delete(self, body: JSON) -> JSON:
        force = bool(body.get("ForceDeleteWithoutRecovery"))
        if force and "RecoveryWindowInDays" in body:
            raise AwsError(
                "InvalidParameterException",
                "You can't use ForceDeleteWithoutRecovery in conjunction with "
                "RecoveryWindowInDays.",
            )
        secret = self._find(body["SecretId"], deleted_ok=True)
        now = self.clock.now()
        if force:
            del self.secrets[secret.name]
        else:
            secret.deleted = now
        return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": now}

    def list(self, body: JSON) -> JSON:
        prefixes: list[str] = []
        for f in body.get("Filters") or []:
            if f.get("Key") != "name":
                raise AwsError(
                    "InvalidParameterException",
                    f"the fake Secrets Manager filters by name only, not {f.get('Key')!r}",
                )
            prefixes += f.get("Values") or []
        found = [
            s
            for s in self.secrets.values()
            if (s.deleted is None or body.get("IncludePlannedDeletion"))
            and (not prefixes or any(s.name.startswith(p) for p in prefixes))
        ]
        found.sort(key=lambda s: s.name)
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 100)
        page = found[start : start + size]
        out: JSON = {"SecretList": [self._entry(s) for s in page]}
        if start + size < len(found):
            out["NextToken"] = str(start + size)
        return out
