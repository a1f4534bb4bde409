"""The AWS ECS backend: :class:`EcsProvider` on an ECS cluster, through ``aiobotocore``.

Install with ``pip install 'ctrlplane[ecs]'``; importing this package without
``aiobotocore`` raises :class:`~ctrlplane.errors.MissingExtra` naming that command.

Quick use::

    from ctrlplane.provider.ecs import EcsConfig, EcsProvider

    provider = EcsProvider(EcsConfig(region="eu-west-1", cluster="apps",
                                     subnets=["subnet-0abc"], security_groups=["sg-0abc"],
                                     execution_role_arn="arn:aws:iam::123456789012:role/ecsTaskExecutionRole"))
    result = await provider.provision(request)

Configuration is :class:`EcsConfig` (``CTRLPLANE_ECS_<FIELD>``, and AWS's own
``AWS_REGION``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``); credentials come from the standard
AWS chain.

The floor plan (``docs/architecture.md``): :mod:`.provider` is the facade; the pure
translation from specs to ECS requests is :mod:`.render`, the pure reading of ECS's
answers :mod:`.observe`, what the backend cannot do :mod:`.limits`; the AWS client (the
only user of aiobotocore) :mod:`.client`; the operations are plain async functions of a
:mod:`.context` in :mod:`.provisioning`, :mod:`.lifecycle`, :mod:`.inspection`,
:mod:`.deploys` (with :mod:`.strategies` and :mod:`.waits`), :mod:`.logs`, over the
small reads and writes of :mod:`.instances`, :mod:`.secrets`, :mod:`.removal` and
:mod:`.repair`; the operation lease is :mod:`.leases`. See ``docs/ecs.md``.
"""

from __future__ import annotations

# The client is the only module that imports aiobotocore: importing it first raises
# MissingExtra (naming the pip install) when it is missing.
from ctrlplane.provider.ecs import client as _client  # noqa: F401
from ctrlplane.provider.ecs.config import CpuArchitecture, EcsConfig, LaunchType, SecretStore
from ctrlplane.provider.ecs.provider import EcsProvider

__all__ = ["CpuArchitecture", "EcsConfig", "EcsProvider", "LaunchType", "SecretStore"]
