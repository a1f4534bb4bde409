"""Reading an instance's state back: ``status`` (per-service states, endpoints and
metadata, assembled by :func:`~.podstate.instance_status`), the endpoints (cluster DNS,
plus node ports and load balancers read from the Service and the nodes), and
``list_instances`` (one summary per controller of the namespace)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.core_v1 import Node, Service

from ctrlplane.provider.kubernetes.config import ServiceType
from ctrlplane.provider.kubernetes.errors import is_not_found, translated
from ctrlplane.provider.kubernetes.observe.status import (
    endpoints,
    instance_status,
    public_addresses,
    summaries,
)
from ctrlplane.provider.kubernetes.render.naming import (
    LABEL_MANAGED_BY,
    LABEL_TENANT,
    MANAGER,
    base_name,
)
from ctrlplane.provider.kubernetes.session import ClusterSession, Instance
from ctrlplane.provider.native import JSON
from ctrlplane.provider.results import Endpoint, InstanceStatus, InstanceSummary
from ctrlplane.provider.spec import ProvisionRequest

__all__ = ["list_summaries", "metadata", "read_status", "service_endpoints"]


async def read_status(session: ClusterSession, instance_id: str) -> InstanceStatus:
    """The body of :meth:`~.provider.KubernetesProvider.status`."""
    async with session._client() as client:
        inst = await session._load(client, instance_id)
        pods = await session._pods(client, instance_id)
        eps = await service_endpoints(session, client, inst.req, pods)
    return instance_status(inst.req, inst.workload, pods, eps, metadata(session, inst))


async def list_summaries(
    session: ClusterSession, tenant_id: str | None = None
) -> list[InstanceSummary]:
    """The body of :meth:`~.provider.KubernetesProvider.list_instances` (its contract)."""
    labels: dict[str, Any] = {LABEL_MANAGED_BY: MANAGER}
    if tenant_id is not None:
        labels[LABEL_TENANT] = tenant_id
    found: list[JSON] = []
    async with session._client() as client:
        kinds: tuple[Any, ...] = (Deployment, StatefulSet)
        ns = session.config.namespace
        for kind in kinds:
            with translated(f"list {kind.__name__}s"):
                found += [
                    cast(JSON, cast(Any, o).to_dict())
                    async for o in client.list(kind, namespace=ns, labels=labels)
                ]
    return summaries(found)


async def service_endpoints(
    session: ClusterSession, client: AsyncClient, req: ProvisionRequest, pods: Sequence[JSON]
) -> list[Endpoint]:
    """Cluster DNS endpoints, plus node-port and load-balancer ones for those Service types."""
    config = session.config
    host = f"{base_name(req.instance_id)}.{config.namespace}.svc.{config.cluster_domain}"
    if session.config.service_type is ServiceType.CLUSTER_IP or not any(
        s.ports for s in req.services
    ):
        return endpoints(req, host)
    ns = session.config.namespace
    try:
        with translated(f"read Service of {req.instance_id}"):
            service = cast(
                JSON,
                (await client.get(Service, base_name(req.instance_id), namespace=ns)).to_dict(),
            )
    except Exception as exc:
        if is_not_found(exc.__cause__ or exc):
            return endpoints(req, host)
        raise
    nodes: list[JSON] = []
    for name in sorted({str(p["spec"].get("nodeName")) for p in pods if p["spec"].get("nodeName")}):
        with translated(f"read node {name}"):
            nodes.append(cast(JSON, cast(Any, await client.get(Node, name)).to_dict()))
    return endpoints(req, host, public_addresses(service, nodes))


def metadata(session: ClusterSession, inst: Instance) -> dict[str, str]:
    """What a result's ``metadata`` says of ``inst``: namespace, controller kind, release."""
    return {
        "namespace": session.config.namespace,
        "kind": str(inst.workload.get("kind", "")),
        "release_id": inst.release_id,
    }
