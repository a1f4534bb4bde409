"""Capabilities as data, with reasons, and the one preflight every method runs first.

A provider builds one :class:`Preflight` from the capabilities it declares (all of them,
or fewer: a provider object can be narrowed, e.g. by the conformance suite to prove that
an undeclared capability is refused before any work). Each public method calls the
matching check before any I/O:

- the capability the method needs (and the deploy strategy's), else
  :class:`~ctrlplane.errors.NotSupported` naming the provider and the capability;
- the request's validation (:func:`~ctrlplane.provider.validate_request` and friends),
  else :class:`~ctrlplane.errors.InvalidSpec` with every problem;
- the capabilities the request implies (``volumes`` for volumes, ``gpu`` for GPUs);
- the backend's own refusals for this request: :class:`Refusal` values computed by the
  backend's :class:`Limits` (pure functions: what it cannot do for *this* spec, and why).
  A refusal with a ``path`` is a spec problem (``InvalidSpec`` at that field); without,
  the capability it falls under is not supported for this request (``NotSupported`` with
  the reason).

Refusals that depend on facts only the backend knows (a server version, the live
workload's kind) are computed by the same pure functions once those facts are read, and
raised with :meth:`Preflight.refuse` before anything changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ctrlplane.errors import InvalidSpec, NotSupported, Problem
from ctrlplane.provider.capabilities import Capability, strategy_capability
from ctrlplane.provider.enums import DeployStrategy
from ctrlplane.provider.spec import (
    DeployRequest,
    ExecRequest,
    ProvisionRequest,
    ResourceSpec,
)
from ctrlplane.provider.validation import validate_deploy, validate_request, validate_scale

__all__ = ["Limits", "NoLimits", "Preflight", "Refusal", "check_command"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """What a backend cannot do for one request: the ``capability`` it falls under and
    ``reason`` (a sentence that says what to change). With ``path`` (a field path such as
    ``services[1].ports[0].host``) it is a problem of the spec, reported as
    :class:`~ctrlplane.errors.InvalidSpec`."""

    capability: Capability
    reason: str
    path: str = ""


class Limits(Protocol):
    """What a backend cannot do for a given (already validated) request. Pure: no I/O."""

    def provision(self, req: ProvisionRequest) -> Iterable[Refusal]:
        """Refusals of a provision request."""
        ...

    def deploy(self, req: DeployRequest) -> Iterable[Refusal]:
        """Refusals of a deploy request (before the live instance is read)."""
        ...

    def scale(self, spec: ResourceSpec) -> Iterable[Refusal]:
        """Refusals of a scale request."""
        ...


class NoLimits:
    """:class:`Limits` of a backend that refuses nothing beyond its capability table."""

    def provision(self, req: ProvisionRequest) -> Iterable[Refusal]:
        return ()

    def deploy(self, req: DeployRequest) -> Iterable[Refusal]:
        return ()

    def scale(self, spec: ResourceSpec) -> Iterable[Refusal]:
        return ()


def check_command(req: ExecRequest) -> None:
    """:class:`InvalidSpec` unless ``req.command`` is a non-empty list of strings (an
    argv, never a shell string)."""
    argv = req.command
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise InvalidSpec(
            [Problem("command", "must be a non-empty list of arguments, not a shell string")],
            subject="exec request",
        )


class Preflight:
    """The capability table of one provider object and the checks its methods run first.

    ``declared`` is what the provider supports (only what works and is tested);
    ``narrowed_to`` keeps a subset of it (a capability outside ``declared`` is a
    ``ValueError``: a provider cannot be widened); ``limits`` gives the backend's
    spec-dependent refusals.
    """

    def __init__(
        self,
        provider: str,
        declared: Iterable[Capability],
        *,
        limits: Limits | None = None,
        narrowed_to: Iterable[Capability] | None = None,
    ) -> None:
        supported = tuple(declared)
        if narrowed_to is not None:
            keep = {Capability(c) for c in narrowed_to}
            extra = keep - set(supported)
            if extra:
                names = ", ".join(sorted(c.value for c in extra))
                raise ValueError(f"provider {provider!r} cannot be widened to: {names}")
            supported = tuple(c for c in supported if c in keep)
        self.provider = provider
        self.declared: tuple[Capability, ...] = supported
        self.limits: Limits = limits if limits is not None else NoLimits()

    def has(self, capability: Capability | str) -> bool:
        """Whether ``capability`` is declared."""
        return str(capability) in {c.value for c in self.declared}

    def require(self, capability: Capability, detail: str = "") -> None:
        """:class:`NotSupported` unless ``capability`` is declared."""
        if not self.has(capability):
            raise NotSupported(self.provider, capability.value, detail=detail)

    def refuse(self, refusals: Iterable[Refusal], *, subject: str = "request") -> None:
        """Raise for ``refusals``: every spec problem together as :class:`InvalidSpec`
        (``subject`` names the input), else the first capability refusal as
        :class:`NotSupported`. Nothing to refuse: returns."""
        found = list(refusals)
        problems = [Problem(r.path, r.reason) for r in found if r.path]
        if problems:
            raise InvalidSpec(problems, subject=subject)
        if found:
            first = found[0]
            raise NotSupported(self.provider, first.capability.value, detail=first.reason)

    # one check per method, in the order the methods appear in the protocol

    def provision(self, req: ProvisionRequest) -> None:
        """``provision``: the capability, the request's validation, ``volumes``/``gpu``
        when the request has them, then the backend's refusals."""
        self.require(Capability.PROVISION)
        validate_request(req)
        if any(s.volumes for s in req.services):
            self.require(Capability.VOLUMES, "the request mounts volumes")
        if any(s.resources.gpu for s in req.services):
            self.require(Capability.GPU, "the request asks for a GPU")
        self.refuse(self.limits.provision(req), subject=f"provision request for {self.provider}")

    def deploy(self, req: DeployRequest) -> None:
        """``deploy``: ``deploy`` and the strategy's capability, the request's own
        validation (the live services are checked once read), the backend's refusals."""
        self.require(Capability.DEPLOY)
        self.strategy(req.strategy)
        validate_deploy(req)
        self.refuse(self.limits.deploy(req), subject="deploy request")

    def strategy(self, strategy: DeployStrategy | str) -> None:
        """:class:`NotSupported` unless the strategy's capability is declared."""
        needed = strategy_capability(strategy)
        self.require(needed, f"strategy {DeployStrategy(strategy or DeployStrategy.ROLLING)}")

    def rollback(self) -> None:
        """``rollback``: ``deploy`` and rolling (a rollback rolls the snapshot out)."""
        self.require(Capability.DEPLOY)
        self.strategy(DeployStrategy.ROLLING)

    def scale(self, spec: ResourceSpec) -> None:
        """``scale``: the capability, the spec's validation, ``gpu`` for a GPU, the
        backend's refusals."""
        self.require(Capability.SCALE)
        validate_scale(spec)
        if spec.gpu:
            self.require(Capability.GPU, "the scale request asks for a GPU")
        self.refuse(self.limits.scale(spec), subject="scale request")

    def logs(self) -> None:
        """``logs``: the capability."""
        self.require(Capability.LOGS)

    def exec(self, req: ExecRequest) -> None:
        """``exec``: the capability and an argv command."""
        self.require(Capability.EXEC)
        check_command(req)
