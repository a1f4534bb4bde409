"""A fake AWS Systems Manager Parameter Store (the parameter operations only).

Semantics the real service has and the fake keeps: a name with a ``/`` must begin with
one and may have at most 15 levels; names may not begin with ``aws`` or ``ssm``; an
existing parameter is replaced only with ``Overwrite`` (``ParameterAlreadyExists``), and
``Tags`` cannot be given together with ``Overwrite``; values are at most 4 KB (standard
tier); ``GetParametersByPath`` lists one level unless ``Recursive``. ``SecureString``
values are returned only ``WithDecryption`` (else the fake shows a ciphertext stand-in).
The ECS fake reads values through :meth:`ParameterStore.value`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .account import Account, Clock
from .errors import AwsError
from .wire import ServiceApi

__all__ = ["ParameterStore"]

JSON = dict[str, Any]
_NAME = re.compile(r"[A-Za-z0-9_.\-/]+")
_MAX_VALUE = 4096


@dataclass
class _Parameter:
    name: str
    type: str
    value: str
    version: int
    modified: datetime
    key_id: str = ""
    tags: list[JSON] = field(default_factory=list)


class ParameterStore:
    """The fake service's state and handlers (:attr:`api`)."""

    def __init__(self, account: Account, clock: Clock) -> None:
        self.account = account
        self.clock = clock
        self.parameters: dict[str, _Parameter] = {}
        self.api = ServiceApi(
            "ssm",
            {
                "PutParameter": self.put,
                "GetParameter": self.get,
                "GetParametersByPath": self.by_path,
                "DeleteParameter": self.delete_one,
                "DeleteParameters": self.delete,
            },
        )

    def arn(self, name: str) -> str:
        return self.account.arn("ssm", "parameter/" + name.lstrip("/"))

    def _find(self, reference: str) -> _Parameter:
        name = reference
        prefix = self.account.arn("ssm", "parameter")
        if reference.startswith(prefix):
            name = reference[len(prefix) :]
            if name not in self.parameters and "/" + name.lstrip("/") in self.parameters:
                name = "/" + name.lstrip("/")
        found = self.parameters.get(name)
        if found is None:
            raise AwsError("ParameterNotFound", f"Parameter {reference} not found.")
        return found

    def value(self, reference: str) -> str:
        """The value a task's ``valueFrom`` (name or ARN) names; ``AwsError``."""
        return self._find(reference).value

    def names(self) -> list[str]:
        return sorted(self.parameters)

    @staticmethod
    def _check_name(name: str) -> None:
        bare = name.lstrip("/")
        problems = []
        if not _NAME.fullmatch(name):
            problems.append("only a-zA-Z0-9_.-/ are allowed")
        if "/" in name and not name.startswith("/"):
            problems.append("a hierarchical name must begin with /")
        if bare.lower().startswith(("aws", "ssm")):
            problems.append("a name cannot begin with aws or ssm")
        if bare.count("/") >= 15:
            problems.append("a name can have at most 15 levels")
        if problems:
            raise AwsError(
                "ValidationException", f"Parameter name {name!r}: " + "; ".join(problems)
            )

    def _shown(self, p: _Parameter, decrypt: bool) -> JSON:
        value = p.value
        if p.type == "SecureString" and not decrypt:
            value = f"AQICAH-fake-ciphertext-{p.version}"
        return {
            "Name": p.name,
            "Type": p.type,
            "Value": value,
            "Version": p.version,
            "LastModifiedDate": p.modified,
            "ARN": self.arn(p.name),
            "DataType": "text",
        }

    def put(self, body: JSON) -> JSON:
        name, value = body["Name"], body["Value"]
        self._check_name(name)
        overwrite = bool(body.get("Overwrite"))
        if overwrite and body.get("Tags"):
            raise AwsError(
                "ValidationException",
                "Invalid request: tags and overwrite can't be used together. To create a "
                "parameter with tags, please remove overwrite flag. To update tags for an "
                "existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
            )
        if len(value.encode()) > _MAX_VALUE:
            raise AwsError(
                "ValidationException",
                f"Standard tier parameters support a maximum parameter value of {_MAX_VALUE} "
                "characters.",
            )
        existing = self.parameters.get(name)
        if existing is not None and not overwrite:
            raise AwsError(
                "ParameterAlreadyExists",
                "The parameter already exists. To overwrite this value, set the overwrite "
                "option in the request to true.",
            )
        kind = body.get("Type") or (existing.type if existing else "")
        if not kind:
            raise AwsError(
                "ValidationException", "A parameter type is required when you create a parameter."
            )
        version = existing.version + 1 if existing else 1
        self.parameters[name] = _Parameter(
            name=name,
            type=kind,
            value=value,
            version=version,
            modified=self.clock.now(),
            key_id=body.get("KeyId", "alias/aws/ssm" if kind == "SecureString" else ""),
            tags=list(body.get("Tags") or (existing.tags if existing else [])),
        )
        return {"Version": version, "Tier": "Standard"}

    def get(self, body: JSON) -> JSON:
        return {
            "Parameter": self._shown(self._find(body["Name"]), bool(body.get("WithDecryption")))
        }

    def by_path(self, body: JSON) -> JSON:
        path = body["Path"]
        if not path.startswith("/"):
            raise AwsError(
                "ValidationException",
                "The parameter doesn't meet the parameter name requirements. The parameter "
                'name must begin with a forward slash "/".',
            )
        base = path.rstrip("/") + "/"
        recursive = bool(body.get("Recursive"))
        found = [
            p
            for name, p in sorted(self.parameters.items())
            if name.startswith(base) and (recursive or "/" not in name[len(base) :])
        ]
        start = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 10)
        out: JSON = {
            "Parameters": [
                self._shown(p, bool(body.get("WithDecryption")))
                for p in found[start : start + size]
            ]
        }
        if start + size < len(found):
            out["NextToken"] = str(start + size)
        return out

    def delete_one(self, body: JSON) -> JSON:
        found = self._find(body["Name"])
        del self.parameters[found.name]
        return {}

    def delete(self, body: JSON) -> JSON:
        deleted, invalid = [], []
        for name in body["Names"]:
            if name in self.parameters:
                del self.parameters[name]
                deleted.append(name)
            else:
                invalid.append(name)
        out: JSON = {}
        if deleted:
            out["DeletedParameters"] = deleted
        if invalid:
            out["InvalidParameters"] = invalid
        return out
