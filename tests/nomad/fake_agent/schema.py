"""The documented Nomad job fields (API JSON), and how the fake agent reviews a job.

The field sets follow the Nomad HTTP API's job objects (``api.Job``, ``api.TaskGroup``,
``api.Task``, ``api.NetworkResource``, ``api.Port``, ``api.Service``,
``api.ServiceCheck``, ``api.Resources``, ``api.Template``, ``api.TaskLifecycle``, ...)
and the docker driver's ``config`` block: a documented superset of what the provider
writes. :func:`review_job` sorts what is wrong with a submitted job the way a real agent
treats it (seen on Nomad 1.1.2):

- **unknown fields** are accepted (Go's JSON decoding ignores them; an unknown docker
  ``config`` key fails the task at start, in the driver): the agent records them in
  :attr:`Review.unknown`, so a test can still fail a provider that sends one;
- **wrong JSON types** fail decoding: 400;
- **invalid values** fail validation: 500 with Nomad's nested multierror text
  (:mod:`.multierror`), e.g. a negative count, no datacenters, memory below 10 MB, a
  check interval below 1 s, duplicate task names, an invalid lifecycle hook or job type,
  a minimum healthy time not below the healthy deadline, volume rules (a known type with
  a source, CSI access and attachment modes, ``per_alloc`` not with canaries, mounts
  naming a group volume, docker ``mount`` blocks), script checks of native services;
- **accepted but broken** (a service's port label the network does not have) is
  recorded in :attr:`Review.lenient`.

:func:`job_problems` lists all of it as field-path messages, for the translation tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .multierror import Frames
from .versions import AgentVersion
from .volumes import claim_problems

__all__ = ["Review", "job_problems", "review_job"]

_S = 1_000_000_000


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


FIELDS: dict[str, frozenset[str]] = {
    "Job": _names(
        """
        ID Name Type Namespace Region Datacenters NodePool Priority AllAtOnce Constraints
        Affinities Spreads TaskGroups Update Multiregion Periodic ParameterizedJob
        Dispatched Payload Meta ConsulToken VaultToken Stop ParentID Status
        StatusDescription Stable Version SubmitTime CreateIndex ModifyIndex JobModifyIndex
        ConsulNamespace VaultNamespace NomadTokenID Reschedule Migrate UI VersionTag
        """
    ),
    "TaskGroup": _names(
        """
        Name Count Constraints Affinities Tasks Spreads Volumes RestartPolicy
        ReschedulePolicy EphemeralDisk Update Migrate Networks Meta Services ShutdownDelay
        StopAfterClientDisconnect MaxClientDisconnect Scaling Consul PreventRescheduleOnLost
        Disconnect
        """
    ),
    "Task": _names(
        """
        Name Driver User Lifecycle Config Constraints Affinities Env Services Resources
        RestartPolicy Meta KillTimeout LogConfig Artifacts Vault Templates DispatchPayload
        VolumeMounts CSIPluginConfig Leader ShutdownDelay KillSignal Kind ScalingPolicies
        Identity Identities Actions Consul Schedule
        """
    ),
    "Lifecycle": frozenset({"Hook", "Sidecar"}),
    "DockerAuth": frozenset({"username", "password", "email", "server_address"}),
    "Network": _names(
        """
        Mode Device CIDR IP DNS ReservedPorts DynamicPorts Hostname MBits
        """
    ),
    "Port": frozenset({"Label", "Value", "To", "HostNetwork", "IgnoreCollision"}),
    "Service": _names(
        """
        Name Tags CanaryTags EnableTagOverride PortLabel AddressMode Address Checks
        CheckRestart Connect Meta CanaryMeta TaggedAddresses TaskName OnUpdate Identity
        Provider Cluster Kind Weights
        """
    ),
    "Check": _names(
        """
        Name Type Command Args Path Protocol PortLabel Expose AddressMode Advertise Interval
        Timeout InitialStatus TLSServerName TLSSkipVerify Header Method Body CheckRestart
        GRPCService GRPCUseTLS TaskName SuccessBeforePassing FailuresBeforeCritical
        FailuresBeforeWarning OnUpdate Notes
        """
    ),
    "Resources": _names(
        """
        CPU Cores MemoryMB MemoryMaxMB DiskMB Networks Devices IOPS NUMA SecretsMB
        """
    ),
    "Template": _names(
        """
        SourcePath DestPath EmbeddedTmpl ChangeMode ChangeScript ChangeSignal Splay Perms
        Uid Gid LeftDelim RightDelim Envvars VaultGrace Wait ErrMissingKey Once
        """
    ),
    "RestartPolicy": frozenset({"Interval", "Attempts", "Delay", "Mode", "RenderTemplates"}),
    "ReschedulePolicy": frozenset(
        {"Attempts", "Interval", "Delay", "DelayFunction", "MaxDelay", "Unlimited"}
    ),
    "EphemeralDisk": frozenset({"Sticky", "Migrate", "SizeMB"}),
    "Update": _names(
        """
        Stagger MaxParallel HealthCheck MinHealthyTime HealthyDeadline ProgressDeadline
        Canary AutoRevert AutoPromote
        """
    ),
    "VolumeRequest": _names(
        """
        Name Type Source ReadOnly AccessMode AttachmentMode MountOptions PerAlloc Sticky
        """
    ),
    "VolumeMount": frozenset(
        {"Volume", "Destination", "ReadOnly", "PropagationMode", "SELinuxLabel"}
    ),
    "DockerMount": _names(
        """
        type target source readonly bind_options tmpfs_options volume_options
        """
    ),
    "TmpfsOptions": frozenset({"size", "mode"}),
    "DockerConfig": _names(
        """
        image args command entrypoint extra_hosts ports volumes mount mounts network_mode
        auth auth_soft_fail cap_add cap_drop dns_servers hostname init labels logging
        privileged work_dir force_pull image_pull_timeout ipc_mode pid_mode shm_size ulimit
        userns_mode security_opt sysctl tty interactive readonly_rootfs cpu_hard_limit
        healthchecks
        """
    ),
}

_ACCESS_MODES = frozenset(
    {
        "single-node-reader-only",
        "single-node-writer",
        "multi-node-reader-only",
        "multi-node-single-writer",
        "multi-node-multi-writer",
    }
)
_ATTACHMENT_MODES = frozenset({"file-system", "block-device"})
_PROPAGATION = frozenset({"private", "host-to-task", "bidirectional"})
_DNS = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_LABEL = re.compile(r"^[a-zA-Z0-9_]+$")
_JOB_TYPES = ("service", "batch", "system", "sysbatch")
_HOOKS = ("prestart", "poststart", "poststop")
_CURRENT = AgentVersion("1.7.7")


def go_duration(nanos: int) -> str:
    """A duration as Go prints it (``100ms``, ``20s``, ``20.000000001s``, ``1m30s``)."""
    if nanos == 0:
        return "0s"
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos < _S:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                whole, rest = divmod(nanos, size)
                frac = f"{rest:0{len(str(size)) - 1}d}".rstrip("0") if rest else ""
                return f"{sign}{whole}{'.' + frac if frac else ''}{unit}"
    hours, rest = divmod(nanos, 3600 * _S)
    minutes, rest = divmod(rest, 60 * _S)
    secs, frac_ns = divmod(rest, _S)
    frac = f"{frac_ns:09d}".rstrip("0") if frac_ns else ""
    text = f"{secs}{'.' + frac if frac else ''}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


@dataclass
class Review:
    """What is wrong with a submitted job, sorted as the agent treats it (module docs)."""

    unknown: list[str] = field(default_factory=list)
    decode: list[str] = field(default_factory=list)
    invalid: list[tuple[Frames, str]] = field(default_factory=list)
    lenient: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """Every finding as a field-path message."""
    docker_unknown: dict[str, list[str]] = field(default_factory=dict)
    """Task name -> unknown docker ``config`` keys (the driver fails that task)."""


class _Check:
    def __init__(self, version: AgentVersion) -> None:
        self.version = version
        self.review = Review()
        self._frames: list[str] = []

    @property
    def problems(self) -> list[str]:
        return self.review.problems

    @contextmanager
    def frame(self, *prefixes: str) -> Iterator[None]:
        """Report the enclosed validation errors under these Nomad prefixes."""
        self._frames.extend(prefixes)
        try:
            yield
        finally:
            del self._frames[len(self._frames) - len(prefixes) :]

    def invalid(self, where: str, nomad: str | None = None) -> None:
        """A validation error (500): ``where`` for the field-path list, ``nomad`` (default
        ``where``) as the agent words it, under the current frames."""
        self.review.problems.append(where)
        self.review.invalid.append((tuple(self._frames), nomad or where))

    def lenient(self, where: str) -> None:
        self.review.problems.append(where)
        self.review.lenient.append(where)

    def undecodable(self, where: str) -> None:
        self.review.problems.append(where)
        self.review.decode.append(where)

    def fields(self, where: str, kind: str, obj: object) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            self.undecodable(f"{where}: must be an object")
            return {}
        for key in obj:
            if key not in FIELDS[kind]:
                text = f'{where}: json: unknown field "{key}"'
                self.review.problems.append(text)
                self.review.unknown.append(text)
        return obj

    def int_(self, where: str, value: object) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool):
            self.undecodable(f"{where}: must be an integer, got {value!r}")
            return None
        return value

    def at_least(self, where: str, value: object, low: int, nomad: str | None = None) -> None:
        number = self.int_(where, value)
        if number is not None and number < low:
            self.invalid(f"{where}: must be >= {low}, got {number}", nomad)

    def str_(self, where: str, value: object) -> str:
        if not isinstance(value, str):
            self.undecodable(f"{where}: must be a string, got {value!r}")
            return ""
        return value

    def str_map(self, where: str, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.undecodable(f"{where}: must be a map of strings")


def _ports(c: _Check, where: str, ports: object) -> list[str]:
    labels: list[str] = []
    if ports is None:
        return labels
    if not isinstance(ports, list):
        c.undecodable(f"{where}: must be a list")
        return labels
    for i, port in enumerate(ports):
        p = c.fields(f"{where}[{i}]", "Port", port)
        label = c.str_(f"{where}[{i}].Label", p.get("Label"))
        if not _LABEL.match(label):
            c.invalid(f"{where}[{i}].Label: {label!r} is not a valid port label")
        for key in ("Value", "To"):
            if key in p:
                c.at_least(f"{where}[{i}].{key}", p[key], 0)
        labels.append(label)
    return labels


def _group_volumes(c: _Check, where: str, volumes: object, canary: int) -> set[str]:
    """Check a group's ``Volumes`` map; return the volume names."""
    if volumes is None:
        return set()
    if not isinstance(volumes, Mapping):
        c.undecodable(f"{where}: must be an object keyed by volume name")
        return set()
    for name, vol in volumes.items():
        w = f"{where}[{name}]"
        v = c.fields(w, "VolumeRequest", vol)
        kind = v.get("Type")
        if kind not in ("host", "csi"):
            c.invalid(f"{w}.Type: volume has unrecognized type {kind!r}")
        if not c.str_(f"{w}.Source", v.get("Source", "")):
            c.invalid(f"{w}.Source: volume has an empty source")
        for key in ("ReadOnly", "PerAlloc", "Sticky"):
            if key in v and not isinstance(v[key], bool):
                c.undecodable(f"{w}.{key}: must be a boolean")
        if kind == "csi":
            if v.get("AccessMode") not in _ACCESS_MODES:
                c.invalid(f"{w}.AccessMode: invalid access mode {v.get('AccessMode')!r}")
            if v.get("AttachmentMode") not in _ATTACHMENT_MODES:
                c.invalid(
                    f"{w}.AttachmentMode: invalid attachment mode {v.get('AttachmentMode')!r}"
                )
        if v.get("PerAlloc") and canary > 0:
            c.invalid(f"{w}: volume cannot be per_alloc when canaries are in use")
    return {str(k) for k in volumes}


def _docker_mounts(c: _Check, where: str, mounts: object) -> None:
    if not isinstance(mounts, list):
        c.undecodable(f"{where}: must be a list of mount blocks")
        return
    for i, mount in enumerate(mounts):
        w = f"{where}[{i}]"
        m = c.fields(w, "DockerMount", mount)
        kind = m.get("type", "volume")
        if kind not in ("bind", "volume", "tmpfs"):
            c.invalid(f"{w}.type: invalid mount type {kind!r}")
        if not c.str_(f"{w}.target", m.get("target", "")).startswith("/"):
            c.invalid(f"{w}.target: must be an absolute path in the container")
        if "readonly" in m and not isinstance(m["readonly"], bool):
            c.undecodable(f"{w}.readonly: must be a boolean")
        if "tmpfs_options" not in m:
            continue
        if kind != "tmpfs":
            c.invalid(f"{w}.tmpfs_options: only for mounts of type tmpfs")
        blocks = m["tmpfs_options"]
        blocks = blocks if isinstance(blocks, list) else [blocks]
        if len(blocks) != 1:
            c.invalid(f"{w}.tmpfs_options: at most one block")
        for opts in blocks:
            o = c.fields(f"{w}.tmpfs_options", "TmpfsOptions", opts)
            if "size" in o:
                c.at_least(f"{w}.tmpfs_options.size", o["size"], 0)


def _docker(c: _Check, where: str, name: str, config: object, labels: set[str]) -> None:
    """The docker driver's ``config``: an unknown key is accepted at registration and fails
    the task in the driver (recorded per task)."""
    if not isinstance(config, Mapping):
        c.undecodable(f"{where}.Config: must be an object")
        return
    unknown = [str(k) for k in config if k not in FIELDS["DockerConfig"]]
    for key in unknown:
        text = f'{where}.Config: json: unknown field "{key}"'
        c.review.problems.append(text)
        c.review.unknown.append(text)
    if unknown:
        c.review.docker_unknown[name] = unknown
    cfg = config
    if not isinstance(cfg.get("image"), str) or not cfg.get("image"):
        c.invalid(f"{where}.Config.image: required")
    for key in ("entrypoint", "args", "extra_hosts", "volumes", "ports"):
        value = cfg.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            c.undecodable(f"{where}.Config.{key}: must be a list of strings")
    if "auth" in cfg:
        auth = c.fields(f"{where}.Config.auth", "DockerAuth", cfg["auth"])
        for key, value in auth.items():
            c.str_(f"{where}.Config.auth.{key}", value)
    for port in cfg.get("ports") or []:
        if port not in labels:
            c.lenient(f"{where}.Config.ports: unknown port label {port!r}")
    if "mount" in cfg:
        _docker_mounts(c, f"{where}.Config.mount", cfg["mount"])


def _task(
    c: _Check, where: str, task: object, labels: set[str], volumes: frozenset[str] = frozenset()
) -> str:
    t = c.fields(where, "Task", task)
    name = c.str_(f"{where}.Name", t.get("Name"))
    with c.frame(f"Task {name} validation failed"):
        if not name:
            c.invalid(f"{where}.Name: missing task name", "Missing task name")
        if not c.str_(f"{where}.Driver", t.get("Driver")):
            c.invalid(f"{where}.Driver: missing driver", "Missing task driver")
        c.str_map(f"{where}.Env", t.get("Env"))
        c.str_map(f"{where}.Meta", t.get("Meta"))
        if t.get("Driver") == "docker":
            _docker(c, where, name, t.get("Config"), labels)
        for i, vm in enumerate(t.get("VolumeMounts") or []):
            w = f"{where}.VolumeMounts[{i}]"
            m = c.fields(w, "VolumeMount", vm)
            if m.get("Volume") not in volumes:
                c.invalid(f"{w}: references undefined volume {m.get('Volume')!r}")
            if not c.str_(f"{w}.Destination", m.get("Destination", "")):
                c.invalid(f"{w}.Destination: missing destination")
            if m.get("PropagationMode", "private") not in _PROPAGATION:
                c.invalid(f"{w}.PropagationMode: invalid {m.get('PropagationMode')!r}")
        lifecycle = t.get("Lifecycle")
        if lifecycle is not None:
            lc = c.fields(f"{where}.Lifecycle", "Lifecycle", lifecycle)
            if lc.get("Hook") not in _HOOKS:
                c.invalid(
                    f"{where}.Lifecycle.Hook: invalid hook {lc.get('Hook')!r}",
                    f"Lifecycle validation failed: invalid hook: {lc.get('Hook')}",
                )
        res = c.fields(f"{where}.Resources", "Resources", t.get("Resources") or {})
        with c.frame("", ""):
            if "CPU" in res:
                c.at_least(
                    f"{where}.Resources.CPU",
                    res["CPU"],
                    1,
                    f"minimum CPU value is 1; got {res['CPU']}",
                )
            if "MemoryMB" in res:
                c.at_least(
                    f"{where}.Resources.MemoryMB",
                    res["MemoryMB"],
                    10,
                    f"minimum MemoryMB value is 10; got {res['MemoryMB']}",
                )
        if "RestartPolicy" in t:
            rp = c.fields(f"{where}.RestartPolicy", "RestartPolicy", t["RestartPolicy"])
            if rp.get("Mode") not in (None, "fail", "delay"):
                c.invalid(
                    f"{where}.RestartPolicy.Mode: invalid {rp.get('Mode')!r}",
                    f'Unsupported restart mode: "{rp.get("Mode")}"',
                )
        for i, tmpl in enumerate(t.get("Templates") or []):
            tp = c.fields(f"{where}.Templates[{i}]", "Template", tmpl)
            dest = c.str_(f"{where}.Templates[{i}].DestPath", tp.get("DestPath"))
            with c.frame(f"Template {i + 1} validation failed"):
                if dest.startswith("/") or ".." in dest.split("/"):
                    c.invalid(
                        f"{where}.Templates[{i}].DestPath: escapes the task directory",
                        "destination escapes allocation directory",
                    )
                if "EmbeddedTmpl" not in tp and "SourcePath" not in tp:
                    c.invalid(
                        f"{where}.Templates[{i}]: needs EmbeddedTmpl or SourcePath",
                        "Must specify a source path",
                    )
        if "KillTimeout" in t:
            c.at_least(f"{where}.KillTimeout", t["KillTimeout"], 0)
    return name


def _check_block(
    c: _Check, where: str, check: object, provider: str, label: object, labels: set[str]
) -> None:
    ch = c.fields(where, "Check", check)
    name = str(ch.get("Name", ""))
    kind = ch.get("Type")
    if kind not in ("http", "tcp", "script", "grpc"):
        c.invalid(f"{where}.Type: invalid check type {kind!r}", f"Check {name} invalid: {kind}")
    if kind == "script":
        if provider == "nomad":
            c.invalid(
                f"{where}: script checks are only supported with Consul",
                f"Check {name} invalid: script checks are not supported by the nomad provider",
            )
        if not ch.get("Command"):
            c.invalid(
                f"{where}.Command: required for script checks",
                f"Check {name} invalid: script type must have a valid script path",
            )
    if kind == "http" and not str(ch.get("Path", "")).startswith("/"):
        c.invalid(
            f"{where}.Path: http checks need an absolute path",
            f"Check {name} invalid: http type must have a valid http path",
        )
    if kind in ("http", "tcp") and not (ch.get("PortLabel") or label):
        c.invalid(f"{where}: http and tcp checks need a port")
    if ch.get("PortLabel") and ch["PortLabel"] not in labels:
        c.lenient(f"{where}.PortLabel: unknown port label {ch['PortLabel']!r}")
    for key, word in (("Interval", "interval"), ("Timeout", "timeout")):
        value = c.int_(f"{where}.{key}", ch.get(key))
        if value is not None and value < _S:
            c.invalid(
                f"{where}.{key}: must be >= {_S}, got {value}",
                f"Check {name} invalid: {word} ({go_duration(value)}) cannot be lower than 1s",
            )


def _service(
    c: _Check, where: str, index: int, svc: object, labels: set[str], tasks: set[str]
) -> None:
    s = c.fields(where, "Service", svc)
    name = c.str_(f"{where}.Name", s.get("Name"))
    with c.frame(f"Service[{index}] {name} validation failed"):
        if not _DNS.match(name):
            c.invalid(
                f"{where}.Name: {name!r} is not a valid RFC 1123 service name",
                f"Service name must be valid per RFC 1123 and can contain only alphanumeric "
                f'characters or dashes: "{name}"',
            )
        provider = s.get("Provider", "consul")
        if "Provider" in s and not c.version.native_services:
            text = f'{where}: json: unknown field "Provider"'
            c.review.problems.append(text)
            c.review.unknown.append(text)
            provider = "consul"
        if provider not in ("consul", "nomad"):
            c.invalid(f"{where}.Provider: invalid {provider!r}")
        label = s.get("PortLabel")
        if label and label not in labels:
            c.lenient(f"{where}.PortLabel: port label {label!r} is not in the network")
        task = s.get("TaskName")
        if task and task not in tasks:
            c.invalid(f"{where}.TaskName: no task {task!r} in the group")
        checks = s.get("Checks") or []
        if provider == "nomad" and checks and not c.version.native_checks:
            c.invalid(
                f"{where}.Checks: native service checks need Nomad 1.4",
                "Checks are not supported for services of the nomad provider",
            )
        for i, check in enumerate(checks):
            _check_block(c, f"{where}.Checks[{i}]", check, provider, label, labels)


def _update(c: _Check, update: Mapping[str, Any]) -> None:
    with c.frame(""):
        healthy = update.get("HealthyDeadline", 0)
        progress = update.get("ProgressDeadline", 0)
        if progress and healthy and healthy >= progress:
            c.invalid(
                "Job.Update: ProgressDeadline must be longer than HealthyDeadline",
                "Healthy deadline must be less than progress deadline: "
                f"{go_duration(healthy)} > {go_duration(progress)}",
            )
        minimum = update.get("MinHealthyTime", 0)
        if minimum and healthy and minimum >= healthy:
            c.invalid(
                "Job.Update: MinHealthyTime must be shorter than HealthyDeadline",
                "Minimum healthy time must be less than healthy deadline: "
                f"{go_duration(minimum)} > {go_duration(healthy)}",
            )
        if update.get("HealthCheck") not in (None, "checks", "task_states", "manual"):
            c.invalid(
                f"Job.Update.HealthCheck: invalid {update.get('HealthCheck')!r}",
                f'Invalid health check given: "{update.get("HealthCheck")}"',
            )


def _group(c: _Check, gw: str, group: object, job: Mapping[str, Any], kind: str) -> None:
    g = c.fields(gw, "TaskGroup", group)
    name = str(g.get("Name", ""))
    with c.frame(f"Task group {name} validation failed"):
        count = c.int_(f"{gw}.Count", g.get("Count", 1))
        if count is not None and count < 0:
            c.invalid(
                f"{gw}.Count: must be >= 0, got {count}", "Task group count can't be negative"
            )
        labels: list[str] = []
        for ni, net in enumerate(g.get("Networks") or []):
            n = c.fields(f"{gw}.Networks[{ni}]", "Network", net)
            if n.get("Mode", "host") not in ("host", "bridge", "none") and not str(
                n.get("Mode")
            ).startswith("cni/"):
                c.invalid(f"{gw}.Networks[{ni}].Mode: invalid {n.get('Mode')!r}")
            labels += _ports(c, f"{gw}.Networks[{ni}].DynamicPorts", n.get("DynamicPorts"))
            labels += _ports(c, f"{gw}.Networks[{ni}].ReservedPorts", n.get("ReservedPorts"))
        if len(labels) != len(set(labels)):
            c.invalid(f"{gw}.Networks: duplicate port labels")
        for key in ("RestartPolicy", "ReschedulePolicy", "EphemeralDisk", "Update"):
            if key in g:
                c.fields(f"{gw}.{key}", key, g[key])
        job_update = job.get("Update") if isinstance(job.get("Update"), Mapping) else None
        group_update = g.get("Update") if isinstance(g.get("Update"), Mapping) else None
        update = {**(job_update or {}), **(group_update or {})}
        if (job_update is not None or group_update is not None) and kind not in (
            "service",
            "system",
        ):
            c.invalid(
                f"{gw}.Update: job type {kind!r} has no update block",
                f'Job type "{kind}" does not allow update block',
            )
        elif update:
            _update(c, update)
        canary = int(update["Canary"]) if isinstance(update.get("Canary"), int) else 0
        for problem in claim_problems(g):
            c.invalid(problem)
        volumes = frozenset(_group_volumes(c, f"{gw}.Volumes", g.get("Volumes"), canary))
        tasks = g.get("Tasks")
        if not isinstance(tasks, list) or not tasks:
            c.invalid(f"{gw}.Tasks: at least one task is required", "Missing tasks for task group")
            return
        names = [
            _task(c, f"{gw}.Tasks[{ti}]", t, set(labels), volumes) for ti, t in enumerate(tasks)
        ]
        for ti, task_name in enumerate(names):
            if task_name in names[:ti]:
                first = names.index(task_name)
                c.invalid(
                    f"{gw}.Tasks: duplicate task names",
                    f"Task {ti + 1} redefines '{task_name}' from task {first + 1}",
                )
        hooks = [t.get("Lifecycle") for t in tasks if isinstance(t, Mapping)]
        valid_hooks = all(h is None or (h or {}).get("Hook") in _HOOKS for h in hooks)
        if valid_hooks and all(hooks):
            c.invalid(
                f"{gw}.Tasks: a group needs at least one main (non-lifecycle) task",
                "Task group must have at least one main task",
            )
        with c.frame("Task group service validation failed"):
            for si, svc in enumerate(g.get("Services") or []):
                _service(c, f"{gw}.Services[{si}]", si, svc, set(labels), set(names))


def review_job(job: object, *, namespace: str, version: AgentVersion = _CURRENT) -> Review:
    """What is wrong with a submitted ``Job`` object, as an agent of ``version`` sees it."""
    c = _Check(version)
    j = c.fields("Job", "Job", job)
    if not j:
        if not c.problems:
            c.undecodable("Job: missing")
        return c.review
    jid = c.str_("Job.ID", j.get("ID"))
    if not jid:
        c.invalid("Job.ID: missing job ID", "Missing job ID")
    elif " " in jid:
        c.invalid("Job.ID: job ID contains a space", "Job ID contains a space")
    kind = str(j.get("Type", "service"))
    if kind not in _JOB_TYPES:
        c.invalid(f"Job.Type: invalid {kind!r}", f'Invalid job type: "{kind}"')
    if j.get("Namespace", namespace) != namespace:
        c.invalid(
            f"Job.Namespace: {j.get('Namespace')!r} does not match the request's {namespace!r}"
        )
    dcs = j.get("Datacenters")
    if not isinstance(dcs, list) or not all(isinstance(d, str) for d in dcs):
        c.undecodable("Job.Datacenters: must be a list of strings")
    elif not dcs:
        c.invalid("Job.Datacenters: must be a non-empty list", "Missing job datacenters")
    c.str_map("Job.Meta", j.get("Meta"))
    if "Update" in j:
        c.fields("Job.Update", "Update", j["Update"])
    groups = j.get("TaskGroups")
    if not isinstance(groups, list) or not groups:
        c.invalid("Job.TaskGroups: at least one group is required", "Missing job task groups")
        return c.review
    for gi, group in enumerate(groups):
        _group(c, f"Job.TaskGroups[{gi}]", group, j, kind)
    return c.review


def job_problems(job: object, *, namespace: str) -> list[str]:
    """Every problem of a submitted ``Job`` object as a field-path message (unknown
    fields, wrong types, invalid values): empty when the job is exactly as documented."""
    return review_job(job, namespace=namespace).problems
