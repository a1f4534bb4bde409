"""The documented Nomad job fields (API JSON) and a strict validator for the fake agent.

The field sets follow the Nomad HTTP API's job objects (``api.Job``, ``api.TaskGroup``,
``api.Task``, ``api.NetworkResource``, ``api.Port``, ``api.Service``,
``api.ServiceCheck``, ``api.Resources``, ``api.Template``, ``api.TaskLifecycle``, ...)
and the docker driver's ``config`` block. They are a documented superset of what the
provider writes, so a typo or an invented field is a 400, as a strict agent answers.
Semantic rules Nomad enforces on registration are checked too (check interval and
timeout of at least 1 s, memory of at least 10 MB, unique task names, port labels that
exist, script checks only with the Consul provider, deadlines in order, group volumes of
a known type with a source, CSI access and attachment modes, ``per_alloc`` not with
canaries, volume mounts naming a group volume, docker ``mount`` blocks, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .volumes import claim_problems

__all__ = ["job_problems"]

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


class _Check:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fields(self, where: str, kind: str, obj: object) -> Mapping[str, Any]:
        if not isinstance(obj, Mapping):
            self.problems.append(f"{where}: must be an object")
            return {}
        for key in obj:
            if key not in FIELDS[kind]:
                self.problems.append(f'{where}: json: unknown field "{key}"')
        return obj

    def int_(self, where: str, value: object, *, low: int | None = None) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            self.problems.append(f"{where}: must be an integer, got {value!r}")
            return 0
        if low is not None and value < low:
            self.problems.append(f"{where}: must be >= {low}, got {value}")
        return value

    def str_(self, where: str, value: object) -> str:
        if not isinstance(value, str):
            self.problems.append(f"{where}: must be a string, got {value!r}")
            return ""
        return value

    def str_map(self, where: str, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            self.problems.append(f"{where}: must be a map of strings")


def _ports(c: _Check, where: str, ports: object) -> list[str]:
    labels: list[str] = []
    if ports is None:
        return labels
    if not isinstance(ports, list):
        c.problems.append(f"{where}: must be a list")
        return labels
    for i, port in enumerate(ports):
        p = c.fields(f"{where}[{i}]", "Port", port)
        label = c.str_(f"{where}[{i}].Label", p.get("Label"))
        if not _LABEL.match(label):
            c.problems.append(f"{where}[{i}].Label: {label!r} is not a valid port label")
        for key in ("Value", "To"):
            if key in p:
                c.int_(f"{where}[{i}].{key}", p[key], low=0)
        labels.append(label)
    return labels


def _group_volumes(c: _Check, where: str, volumes: object, canary: int) -> set[str]:
    """Check a group's ``Volumes`` map; return the volume names."""
    if volumes is None:
        return set()
    if not isinstance(volumes, Mapping):
        c.problems.append(f"{where}: must be an object keyed by volume name")
        return set()
    for name, vol in volumes.items():
        w = f"{where}[{name}]"
        v = c.fields(w, "VolumeRequest", vol)
        kind = v.get("Type")
        if kind not in ("host", "csi"):
            c.problems.append(f"{w}.Type: volume has unrecognized type {kind!r}")
        if not c.str_(f"{w}.Source", v.get("Source", "")):
            c.problems.append(f"{w}.Source: volume has an empty source")
        for key in ("ReadOnly", "PerAlloc", "Sticky"):
            if key in v and not isinstance(v[key], bool):
                c.problems.append(f"{w}.{key}: must be a boolean")
        if kind == "csi":
            if v.get("AccessMode") not in _ACCESS_MODES:
                c.problems.append(f"{w}.AccessMode: invalid access mode {v.get('AccessMode')!r}")
            if v.get("AttachmentMode") not in _ATTACHMENT_MODES:
                c.problems.append(
                    f"{w}.AttachmentMode: invalid attachment mode {v.get('AttachmentMode')!r}"
                )
        if v.get("PerAlloc") and canary > 0:
            c.problems.append(f"{w}: volume cannot be per_alloc when canaries are in use")
    return {str(k) for k in volumes}


def _docker_mounts(c: _Check, where: str, mounts: object) -> None:
    if not isinstance(mounts, list):
        c.problems.append(f"{where}: must be a list of mount blocks")
        return
    for i, mount in enumerate(mounts):
        w = f"{where}[{i}]"
        m = c.fields(w, "DockerMount", mount)
        kind = m.get("type", "volume")
        if kind not in ("bind", "volume", "tmpfs"):
            c.problems.append(f"{w}.type: invalid mount type {kind!r}")
        if not c.str_(f"{w}.target", m.get("target", "")).startswith("/"):
            c.problems.append(f"{w}.target: must be an absolute path in the container")
        if "readonly" in m and not isinstance(m["readonly"], bool):
            c.problems.append(f"{w}.readonly: must be a boolean")
        if "tmpfs_options" not in m:
            continue
        if kind != "tmpfs":
            c.problems.append(f"{w}.tmpfs_options: only for mounts of type tmpfs")
        blocks = m["tmpfs_options"]
        blocks = blocks if isinstance(blocks, list) else [blocks]
        if len(blocks) != 1:
            c.problems.append(f"{w}.tmpfs_options: at most one block")
        for opts in blocks:
            o = c.fields(f"{w}.tmpfs_options", "TmpfsOptions", opts)
            if "size" in o:
                c.int_(f"{w}.tmpfs_options.size", o["size"], low=0)


def _task(
    c: _Check, where: str, task: object, labels: set[str], volumes: frozenset[str] = frozenset()
) -> str:
    t = c.fields(where, "Task", task)
    name = c.str_(f"{where}.Name", t.get("Name"))
    if not name:
        c.problems.append(f"{where}.Name: missing task name")
    if not c.str_(f"{where}.Driver", t.get("Driver")):
        c.problems.append(f"{where}.Driver: missing driver")
    c.str_map(f"{where}.Env", t.get("Env"))
    c.str_map(f"{where}.Meta", t.get("Meta"))
    if t.get("Driver") == "docker":
        cfg = c.fields(f"{where}.Config", "DockerConfig", t.get("Config"))
        if not isinstance(cfg.get("image"), str) or not cfg.get("image"):
            c.problems.append(f"{where}.Config.image: required")
        for key in ("entrypoint", "args", "extra_hosts", "volumes", "ports"):
            value = cfg.get(key)
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                c.problems.append(f"{where}.Config.{key}: must be a list of strings")
        if "auth" in cfg:
            auth = c.fields(f"{where}.Config.auth", "DockerAuth", cfg["auth"])
            for key, value in auth.items():
                c.str_(f"{where}.Config.auth.{key}", value)
        for port in cfg.get("ports") or []:
            if port not in labels:
                c.problems.append(f"{where}.Config.ports: unknown port label {port!r}")
        if "mount" in cfg:
            _docker_mounts(c, f"{where}.Config.mount", cfg["mount"])
    for i, vm in enumerate(t.get("VolumeMounts") or []):
        w = f"{where}.VolumeMounts[{i}]"
        m = c.fields(w, "VolumeMount", vm)
        if m.get("Volume") not in volumes:
            c.problems.append(f"{w}: references undefined volume {m.get('Volume')!r}")
        if not c.str_(f"{w}.Destination", m.get("Destination", "")):
            c.problems.append(f"{w}.Destination: missing destination")
        if m.get("PropagationMode", "private") not in _PROPAGATION:
            c.problems.append(f"{w}.PropagationMode: invalid {m.get('PropagationMode')!r}")
    lifecycle = t.get("Lifecycle")
    if lifecycle is not None:
        lc = c.fields(f"{where}.Lifecycle", "Lifecycle", lifecycle)
        if lc.get("Hook") not in ("prestart", "poststart", "poststop"):
            c.problems.append(f"{where}.Lifecycle.Hook: invalid hook {lc.get('Hook')!r}")
    res = c.fields(f"{where}.Resources", "Resources", t.get("Resources") or {})
    if "CPU" in res:
        c.int_(f"{where}.Resources.CPU", res["CPU"], low=1)
    if "MemoryMB" in res:
        c.int_(f"{where}.Resources.MemoryMB", res["MemoryMB"], low=10)
    if "RestartPolicy" in t:
        rp = c.fields(f"{where}.RestartPolicy", "RestartPolicy", t["RestartPolicy"])
        if rp.get("Mode") not in (None, "fail", "delay"):
            c.problems.append(f"{where}.RestartPolicy.Mode: invalid {rp.get('Mode')!r}")
    for i, tmpl in enumerate(t.get("Templates") or []):
        tp = c.fields(f"{where}.Templates[{i}]", "Template", tmpl)
        dest = c.str_(f"{where}.Templates[{i}].DestPath", tp.get("DestPath"))
        if dest.startswith("/") or ".." in dest.split("/"):
            c.problems.append(f"{where}.Templates[{i}].DestPath: escapes the task directory")
        if "EmbeddedTmpl" not in tp and "SourcePath" not in tp:
            c.problems.append(f"{where}.Templates[{i}]: needs EmbeddedTmpl or SourcePath")
    if "KillTimeout" in t:
        c.int_(f"{where}.KillTimeout", t["KillTimeout"], low=0)
    return name


def _service(c: _Check, where: str, svc: object, labels: set[str], tasks: set[str]) -> None:
    s = c.fields(where, "Service", svc)
    name = c.str_(f"{where}.Name", s.get("Name"))
    if not _DNS.match(name):
        c.problems.append(f"{where}.Name: {name!r} is not a valid RFC 1123 service name")
    provider = s.get("Provider", "consul")
    if provider not in ("consul", "nomad"):
        c.problems.append(f"{where}.Provider: invalid {provider!r}")
    label = s.get("PortLabel")
    if label and label not in labels:
        c.problems.append(f"{where}.PortLabel: port label {label!r} is not in the network")
    task = s.get("TaskName")
    if task and task not in tasks:
        c.problems.append(f"{where}.TaskName: no task {task!r} in the group")
    for i, check in enumerate(s.get("Checks") or []):
        cw = f"{where}.Checks[{i}]"
        ch = c.fields(cw, "Check", check)
        kind = ch.get("Type")
        if kind not in ("http", "tcp", "script", "grpc"):
            c.problems.append(f"{cw}.Type: invalid check type {kind!r}")
        if kind == "script":
            if provider == "nomad":
                c.problems.append(f"{cw}: script checks are only supported with Consul")
            if not ch.get("Command"):
                c.problems.append(f"{cw}.Command: required for script checks")
        if kind == "http" and not str(ch.get("Path", "")).startswith("/"):
            c.problems.append(f"{cw}.Path: http checks need an absolute path")
        if kind in ("http", "tcp") and not (ch.get("PortLabel") or label):
            c.problems.append(f"{cw}: http and tcp checks need a port")
        if ch.get("PortLabel") and ch["PortLabel"] not in labels:
            c.problems.append(f"{cw}.PortLabel: unknown port label {ch['PortLabel']!r}")
        interval = c.int_(f"{cw}.Interval", ch.get("Interval"), low=_S)
        timeout = c.int_(f"{cw}.Timeout", ch.get("Timeout"), low=_S)
        del interval, timeout


def job_problems(job: object, *, namespace: str) -> list[str]:
    """Every problem of a submitted ``Job`` object (empty when the agent accepts it)."""
    c = _Check()
    j = c.fields("Job", "Job", job)
    if not j:
        return c.problems or ["Job: missing"]
    jid = c.str_("Job.ID", j.get("ID"))
    if not jid or " " in jid:
        c.problems.append("Job.ID: missing or invalid job ID")
    if j.get("Type", "service") not in ("service", "batch", "system", "sysbatch"):
        c.problems.append(f"Job.Type: invalid {j.get('Type')!r}")
    if j.get("Namespace", namespace) != namespace:
        c.problems.append(
            f"Job.Namespace: {j.get('Namespace')!r} does not match the request's {namespace!r}"
        )
    dcs = j.get("Datacenters")
    if not isinstance(dcs, list) or not dcs or not all(isinstance(d, str) for d in dcs):
        c.problems.append("Job.Datacenters: must be a non-empty list of strings")
    c.str_map("Job.Meta", j.get("Meta"))
    if "Update" in j:
        u = c.fields("Job.Update", "Update", j["Update"])
        if u.get("HealthCheck") not in (None, "checks", "task_states", "manual"):
            c.problems.append(f"Job.Update.HealthCheck: invalid {u.get('HealthCheck')!r}")
        healthy = u.get("HealthyDeadline", 0)
        progress = u.get("ProgressDeadline", 0)
        if progress and healthy and healthy >= progress:
            c.problems.append("Job.Update: ProgressDeadline must be longer than HealthyDeadline")
        if u.get("MinHealthyTime", 0) and healthy and u["MinHealthyTime"] >= healthy:
            c.problems.append("Job.Update: MinHealthyTime must be shorter than HealthyDeadline")
    groups = j.get("TaskGroups")
    if not isinstance(groups, list) or not groups:
        c.problems.append("Job.TaskGroups: at least one group is required")
        return c.problems
    for gi, group in enumerate(groups):
        gw = f"Job.TaskGroups[{gi}]"
        g = c.fields(gw, "TaskGroup", group)
        c.int_(f"{gw}.Count", g.get("Count", 1), low=0)
        labels: list[str] = []
        for ni, net in enumerate(g.get("Networks") or []):
            n = c.fields(f"{gw}.Networks[{ni}]", "Network", net)
            if n.get("Mode", "host") not in ("host", "bridge", "none") and not str(
                n.get("Mode")
            ).startswith("cni/"):
                c.problems.append(f"{gw}.Networks[{ni}].Mode: invalid {n.get('Mode')!r}")
            labels += _ports(c, f"{gw}.Networks[{ni}].DynamicPorts", n.get("DynamicPorts"))
            labels += _ports(c, f"{gw}.Networks[{ni}].ReservedPorts", n.get("ReservedPorts"))
        if len(labels) != len(set(labels)):
            c.problems.append(f"{gw}.Networks: duplicate port labels")
        for key, kind in (
            ("RestartPolicy", "RestartPolicy"),
            ("ReschedulePolicy", "ReschedulePolicy"),
            ("EphemeralDisk", "EphemeralDisk"),
            ("Update", "Update"),
        ):
            if key in g:
                c.fields(f"{gw}.{key}", kind, g[key])
        update = {
            **(j["Update"] if isinstance(j.get("Update"), Mapping) else {}),
            **(g["Update"] if isinstance(g.get("Update"), Mapping) else {}),
        }
        canary = update.get("Canary") if isinstance(update.get("Canary"), int) else 0
        c.problems += claim_problems(g)
        volumes = frozenset(_group_volumes(c, f"{gw}.Volumes", g.get("Volumes"), canary))
        tasks = g.get("Tasks")
        if not isinstance(tasks, list) or not tasks:
            c.problems.append(f"{gw}.Tasks: at least one task is required")
            continue
        names = [
            _task(c, f"{gw}.Tasks[{ti}]", t, set(labels), volumes) for ti, t in enumerate(tasks)
        ]
        if len(names) != len(set(names)):
            c.problems.append(f"{gw}.Tasks: duplicate task names")
        if all(isinstance(t, Mapping) and t.get("Lifecycle") for t in tasks):
            c.problems.append(f"{gw}.Tasks: a group needs at least one main (non-lifecycle) task")
        for si, svc in enumerate(g.get("Services") or []):
            _service(c, f"{gw}.Services[{si}]", svc, set(labels), set(names))
    return c.problems
