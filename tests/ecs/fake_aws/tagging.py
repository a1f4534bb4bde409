"""A fake Resource Groups Tagging API: ``GetResources`` over the ECS fake's services.

One filtered call lists the services (``ResourceTypeFilters`` ``ecs:service``) whose tags
match every ``TagFilters`` entry (a key, and one of the values when values are given),
as the real API does for any tagged resource. ``INACTIVE`` services are not listed.
"""

from __future__ import annotations

from typing import Any

from .ecs.state import EcsState
from .errors import AwsError
from .wire import ServiceApi

__all__ = ["Tagging"]

JSON = dict[str, Any]


class Tagging:
    """The fake service's handlers (:attr:`api`)."""

    def __init__(self, ecs: EcsState) -> None:
        self.ecs = ecs
        self.api = ServiceApi(
            "resourcegroupstaggingapi",
            {"GetResources": self.get_resources},
            validation_code="InvalidParameterException",
        )

    def get_resources(self, body: JSON) -> JSON:
        types = body.get("ResourceTypeFilters") or []
        unknown = [t for t in types if t != "ecs:service"]
        if unknown:
            raise AwsError(
                "InvalidParameterException",
                f"the fake lists ecs:service resources only, not {unknown}",
            )
        filters = body.get("TagFilters") or []
        found: list[JSON] = []
        for service in self.ecs.services.values():
            if service.status == "INACTIVE":
                continue
            tags = {t["key"]: t["value"] for t in service.tags}
            if all(
                f["Key"] in tags and (not f.get("Values") or tags[f["Key"]] in f["Values"])
                for f in filters
            ):
                found.append(
                    {
                        "ResourceARN": service.arn,
                        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                    }
                )
        found.sort(key=lambda r: r["ResourceARN"])
        token = body.get("PaginationToken") or "0"
        if not token.isdigit():
            raise AwsError("PaginationTokenExpiredException", "the pagination token is not valid")
        start = int(token)
        size = int(body.get("ResourcesPerPage") or 50)
        out: JSON = {"ResourceTagMappingList": found[start : start + size], "PaginationToken": ""}
        if start + size < len(found):
            out["PaginationToken"] = str(start + size)
        return out
