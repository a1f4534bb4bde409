"""Compose files: the ``services:`` of a Compose file (``compose.yaml``) as one workload.

:func:`compose_to_workload` turns the mapping of a Compose file into workload data (the
shape :func:`ctrlplane.workload.parse_workload` takes) and lists every Compose key it
cannot honour, so nothing is dropped silently. A Compose file's services become the
services of ONE ctrlplane workload (one instance, sharing a network namespace per
replica), and the workload's **main** service is chosen by this rule:

1. the service named by the top-level ``x-ctrlplane: {main: NAME}``, if given;
2. else the first service (in file order) that no other service depends on and that is
   not run to completion (see below);
3. the other services are ``sidecar`` s, except a service another one depends on with
   ``condition: service_completed_successfully``, which is an ``init`` (run to
   completion before the others start).

What is read, per service: ``image`` (required: ctrlplane runs images and does not
``build``), ``entrypoint`` (-> ``command``) and ``command`` (-> ``args``; a string is
split like a shell would), ``environment`` (mapping or ``KEY=VALUE`` list; a bare
``KEY`` takes the value of the variable in the CLI's environment) and ``env_file``
(``KEY=VALUE`` files relative to the Compose file; ``environment`` wins), ``ports``
(short ``[HOST_IP:][HOST:]CONTAINER[/PROTO]`` and long syntax), ``volumes`` (named and
anonymous volumes, ``tmpfs`` mounts; bind mounts are refused) and ``tmpfs``,
``depends_on`` (list, or mapping with ``condition``), ``healthcheck`` (``test`` as
``CMD``/``CMD-SHELL``/string -> an exec probe; ``interval``, ``timeout``, ``retries``;
``disable``/``NONE`` -> none), ``deploy.replicas`` (or ``scale``) of the main service,
``deploy.resources.limits`` ``cpus``/``memory``, ``labels`` (-> annotations), and
``secrets`` (-> file secret references at ``/run/secrets/NAME``, whose values come from
the CLI's secret sources). Top level: ``name`` (else the Compose file's directory),
``services``, named ``volumes``; ``version`` and ``x-*`` extensions are accepted and
ignored. Every other key is reported as not honoured (:attr:`ComposeWorkload.ignored`).
Structural problems (a wrong type, an unknown dependency, a bind mount, a missing image)
are :class:`~ctrlplane.errors.InvalidSpec` naming the path (``services.web.ports[0]``).

No Compose JSON schema ships as a Python package, so the structure is checked here,
key by key, with errors naming the path.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctrlplane.errors import InvalidSpec, Problem

__all__ = ["ComposeWorkload", "compose_to_workload", "is_compose"]

_SERVICE_KEYS = {
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "ports",
    "volumes",
    "tmpfs",
    "depends_on",
    "healthcheck",
    "deploy",
    "scale",
    "labels",
    "secrets",
}
_TOP_KEYS = {"name", "services", "volumes", "version", "x-ctrlplane"}
_DEPLOY_KEYS = {"replicas", "resources"}
_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
_DNS = re.compile(r"[^a-z0-9-]+")
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_SHORT_PORT = re.compile(
    r"^(?:(?P<ip>\[[0-9a-fA-F:]+\]|[0-9.]+):)?(?:(?P<host>\d+):)?(?P<container>\d+)"
    r"(?:/(?P<proto>tcp|udp|sctp))?$"
)


@dataclass
class ComposeWorkload:
    """A Compose file read as workload data, and what of it could not be honoured."""

    data: dict[str, Any]
    main: str
    ignored: list[str] = field(default_factory=list)
    """One entry per Compose key not honoured: ``services.web.restart: ...why``."""


def is_compose(data: Mapping[str, Any]) -> bool:
    """Whether parsed YAML is a Compose file: its ``services`` is a mapping (a workload
    file's is a list)."""
    return isinstance(data.get("services"), Mapping)


def _dns_name(text: str) -> str:
    return _DNS.sub("-", text.lower()).strip("-")[:63] or "compose"


class _Reader:
    def __init__(self, base: Path, environ: Mapping[str, str]) -> None:
        self.base = base
        self.environ = environ
        self.problems: list[Problem] = []
        self.ignored: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def ignore(self, path: str, why: str) -> None:
        self.ignored.append(f"{path}: {why}")

    # -- scalars -------------------------------------------------------------------------

    def argv(self, value: Any, path: str) -> list[str] | None:
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                self.problem(path, f"cannot be split into arguments: {exc}")
                return None
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return [str(v) for v in value]
        if value is None:
            return []
        self.problem(path, "must be a string or a list of strings")
        return None

    def seconds(self, value: Any, path: str) -> float | None:
        from ctrlplane.durations import coerce_duration

        try:
            return coerce_duration(value, numbers_are_seconds=True).total_seconds()
        except (TypeError, ValueError):
            self.problem(path, f"{value!r} is not a duration (10s, 1m30s)")
            return None

    def megabytes(self, value: Any, path: str) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            return max(1, -(-value // (1024 * 1024)))
        match = _BYTES.match(str(value))
        if match is None:
            self.problem(path, f"{value!r} is not a size (512m, 1g, bytes)")
            return None
        number = float(match.group(1))
        factor = {"": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
        return max(1, round(number * factor[match.group(2).lower()]))

    # -- service parts -------------------------------------------------------------------

    def environment(self, svc: Mapping[str, Any], path: str) -> dict[str, str]:
        env: dict[str, str] = {}
        files = svc.get("env_file")
        if files is not None:
            env.update(self.env_files(files, f"{path}.env_file"))
        value = svc.get("environment")
        if value is None:
            return env
        items: list[tuple[str, Any]] = []
        if isinstance(value, Mapping):
            items = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            for i, entry in enumerate(value):
                if not isinstance(entry, str):
                    self.problem(f"{path}.environment[{i}]", "must be KEY=VALUE or KEY")
                    continue
                key, sep, val = entry.partition("=")
                items.append((key, val if sep else None))
        else:
            self.problem(f"{path}.environment", "must be a mapping or a list of KEY=VALUE")
            return env
        for key, val in items:
            if val is None:
                if key in self.environ:
                    env[key] = self.environ[key]
                else:
                    self.ignore(f"{path}.environment.{key}", "not set in the environment: left out")
                continue
            if isinstance(val, bool):
                env[key] = "true" if val else "false"
            else:
                env[key] = str(val)
        return env

    def env_files(self, value: Any, path: str) -> dict[str, str]:
        from ctrlplane.secrets import parse_dotenv

        entries = value if isinstance(value, list) else [value]
        env: dict[str, str] = {}
        for i, entry in enumerate(entries):
            required = True
            if isinstance(entry, Mapping):
                required = bool(entry.get("required", True))
                entry = entry.get("path")
            if not isinstance(entry, str):
                self.problem(f"{path}[{i}]", "must be a file path")
                continue
            file = self.base / entry
            try:
                env.update(parse_dotenv(file.read_text(encoding="utf-8"), source=str(file)))
            except OSError:
                if required:
                    self.problem(f"{path}[{i}]", f"{file} cannot be read")
            except ValueError as exc:
                self.problem(f"{path}[{i}]", str(exc))
        return env

    def ports(self, value: Any, path: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            self.problem(path, "must be a list")
            return []
        out: list[dict[str, Any]] = []
        for i, entry in enumerate(value):
            where = f"{path}[{i}]"
            if isinstance(entry, int) and not isinstance(entry, bool):
                out.append({"container": entry})
                continue
            if isinstance(entry, str):
                match = _SHORT_PORT.match(entry.strip())
                if match is None:
                    self.problem(
                        where,
                        f"{entry!r}: write [HOST_IP:][HOST:]CONTAINER[/PROTOCOL] "
                        "(port ranges are not supported)",
                    )
                    continue
                port: dict[str, Any] = {"container": int(match["container"])}
                if match["host"]:
                    port["host"] = int(match["host"])
                if match["proto"]:
                    port["protocol"] = match["proto"]
                if match["ip"]:
                    self.ignore(
                        where,
                        f"host address {match['ip']} not honoured: the "
                        "provider publishes on its own address",
                    )
                out.append(port)
                continue
            if isinstance(entry, Mapping):
                target = entry.get("target")
                if not isinstance(target, int):
                    self.problem(f"{where}.target", "must be a port number")
                    continue
                port = {"container": target}
                published = entry.get("published")
                if published not in (None, ""):
                    try:
                        port["host"] = int(published)
                    except (TypeError, ValueError):
                        self.problem(f"{where}.published", f"{published!r} is not a port number")
                if entry.get("protocol"):
                    port["protocol"] = entry["protocol"]
                for key in sorted(set(entry) - {"target", "published", "protocol"}):
                    self.ignore(f"{where}.{key}", "not honoured")
                out.append(port)
                continue
            self.problem(where, "must be a port string, number or mapping")
        return out

    def volumes(self, svc: Mapping[str, Any], path: str, service: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        value = svc.get("volumes") or []
        if not isinstance(value, list):
            self.problem(f"{path}.volumes", "must be a list")
            value = []
        anonymous = 0
        for i, entry in enumerate(value):
            where = f"{path}.volumes[{i}]"
            source: Any
            target: Any
            if isinstance(entry, str):
                parts = entry.split(":")
                if len(parts) == 1:
                    kind, source, target, read_only = "volume", "", parts[0], False
                else:
                    source, target = parts[0], parts[1]
                    read_only = len(parts) > 2 and "ro" in parts[2].split(",")
                    is_path = source.startswith((".", "/", "~"))
                    kind = "bind" if is_path else "volume"
            elif isinstance(entry, Mapping):
                kind = str(entry.get("type", "volume"))
                source, target = entry.get("source", ""), entry.get("target")
                read_only = bool(entry.get("read_only", False))
            else:
                self.problem(where, "must be a string or a mapping")
                continue
            if not isinstance(target, str) or not target.startswith("/"):
                self.problem(where, "needs an absolute container path")
                continue
            if kind == "bind":
                self.problem(
                    where,
                    f"bind mount of {source!r}: ctrlplane runs services on any backend and "
                    "mounts no host paths; use a named volume (or a config file)",
                )
                continue
            if kind == "tmpfs":
                out.append({"name": f"tmpfs-{len(out)}", "mount_path": target, "type": "tmpfs"})
                continue
            if kind != "volume":
                self.problem(where, f"volume type {kind!r} is not supported")
                continue
            if not source:
                anonymous += 1
                source = f"{service}-anon-{anonymous}"
            name = _dns_name(str(source))
            if name != source:
                self.ignore(where, f"volume {source!r} is named {name!r} (DNS-safe)")
            if read_only:
                self.ignore(where, "read-only mount not honoured: mounted read-write")
            out.append({"name": name, "mount_path": target})
        tmpfs = svc.get("tmpfs")
        if tmpfs is not None:
            for i, mount in enumerate(tmpfs if isinstance(tmpfs, list) else [tmpfs]):
                mount_path = str(mount).split(":", 1)[0]
                if not mount_path.startswith("/"):
                    self.problem(f"{path}.tmpfs[{i}]", "needs an absolute container path")
                    continue
                out.append({"name": f"tmpfs-{len(out)}", "mount_path": mount_path, "type": "tmpfs"})
        return out

    def depends_on(self, value: Any, path: str) -> dict[str, str]:
        """Dependency name -> condition."""
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return dict.fromkeys(value, "service_started")
        if not isinstance(value, Mapping):
            self.problem(path, "must be a list of services or a mapping of service: {condition}")
            return {}
        out: dict[str, str] = {}
        for name, spec in value.items():
            condition = "service_started"
            if isinstance(spec, Mapping):
                condition = str(spec.get("condition", condition))
                for key in sorted(set(spec) - {"condition"}):
                    self.ignore(f"{path}.{name}.{key}", "not honoured")
            if condition not in _CONDITIONS:
                self.problem(f"{path}.{name}.condition", f"must be one of {', '.join(_CONDITIONS)}")
                continue
            out[str(name)] = condition
        return out

    def healthcheck(self, value: Any, path: str) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            self.problem(path, "must be a mapping")
            return None
        if value.get("disable"):
            return None
        test = value.get("test")
        if isinstance(test, str):
            command = ["sh", "-c", test]
        elif isinstance(test, list) and test and all(isinstance(t, str) for t in test):
            if test[0] == "NONE":
                return None
            if test[0] == "CMD":
                command = list(test[1:])
            elif test[0] == "CMD-SHELL":
                command = ["sh", "-c", " ".join(test[1:])]
            else:
                self.problem(f"{path}.test", "a list must start with CMD, CMD-SHELL or NONE")
                return None
        else:
            self.problem(f"{path}.test", "must be a string or a list (CMD, CMD-SHELL, NONE)")
            return None
        if not command:
            self.problem(f"{path}.test", "names no command")
            return None
        check: dict[str, Any] = {"command": command}
        for key in ("interval", "timeout"):
            if key in value:
                seconds = self.seconds(value[key], f"{path}.{key}")
                if seconds is not None:
                    check[key] = seconds
        if "retries" in value:
            if isinstance(value["retries"], int) and value["retries"] >= 0:
                check["retries"] = value["retries"]
            else:
                self.problem(f"{path}.retries", "must be a whole number >= 0")
        for key in sorted(set(value) - {"test", "interval", "timeout", "retries", "disable"}):
            self.ignore(f"{path}.{key}", "not honoured (the provider's probe settings apply)")
        return check

    def deploy(self, svc: Mapping[str, Any], path: str) -> dict[str, Any]:
        resources: dict[str, Any] = {}
        replicas = svc.get("scale")
        deploy = svc.get("deploy") or {}
        if not isinstance(deploy, Mapping):
            self.problem(f"{path}.deploy", "must be a mapping")
            deploy = {}
        if "replicas" in deploy:
            replicas = deploy["replicas"]
        if replicas is not None:
            if isinstance(replicas, int) and replicas >= 0:
                resources["replicas"] = replicas
            else:
                self.problem(f"{path}.deploy.replicas", "must be a whole number >= 0")
        limits = (deploy.get("resources") or {}).get("limits") or {}
        if limits.get("cpus") is not None:
            try:
                resources["cpu_millis"] = round(float(limits["cpus"]) * 1000)
            except (TypeError, ValueError):
                self.problem(f"{path}.deploy.resources.limits.cpus", "must be a number (0.5)")
        if limits.get("memory") is not None:
            mb = self.megabytes(limits["memory"], f"{path}.deploy.resources.limits.memory")
            if mb is not None:
                resources["memory_mb"] = mb
        for key in sorted(set(limits) - {"cpus", "memory"}):
            self.ignore(f"{path}.deploy.resources.limits.{key}", "not honoured")
        for key in sorted(set(deploy.get("resources") or {}) - {"limits"}):
            self.ignore(f"{path}.deploy.resources.{key}", "not honoured (only limits are)")
        for key in sorted(set(deploy) - _DEPLOY_KEYS):
            self.ignore(f"{path}.deploy.{key}", "not honoured (the provider's settings apply)")
        return resources


def _choose_main(
    names: list[str], deps: Mapping[str, Mapping[str, str]], inits: set[str], chosen: str
) -> str:
    if chosen:
        return chosen
    needed = {d for wanted in deps.values() for d in wanted}
    for name in names:
        if name not in needed and name not in inits:
            return name
    return next((n for n in names if n not in inits), names[0])


def compose_to_workload(
    data: Mapping[str, Any],
    *,
    base: str | Path = ".",
    default_name: str = "",
    environ: Mapping[str, str] | None = None,
) -> ComposeWorkload:
    """Read Compose file ``data`` (parsed YAML) as workload data (see the module docs).

    ``base`` is the Compose file's directory (``env_file`` paths are relative to it),
    ``default_name`` the workload name when the file has no ``name``.
    """
    reader = _Reader(Path(base), os.environ if environ is None else environ)
    for key in data:
        if key not in _TOP_KEYS and not str(key).startswith("x-"):
            reader.ignore(str(key), "top-level key not honoured")
    services = data.get("services")
    if not isinstance(services, Mapping) or not services:
        raise InvalidSpec(
            [Problem("services", "must map service names to services")], subject="Compose file"
        )
    extension = data.get("x-ctrlplane") or {}
    chosen = str(extension.get("main", "")) if isinstance(extension, Mapping) else ""
    names = [str(n) for n in services]
    if chosen and chosen not in names:
        reader.problem("x-ctrlplane.main", f"names no service ({', '.join(names)})")
        chosen = ""
    deps: dict[str, dict[str, str]] = {}
    built: dict[str, dict[str, Any]] = {}
    for name in names:
        svc = services[name]
        path = f"services.{name}"
        if not isinstance(svc, Mapping):
            reader.problem(path, "must be a mapping")
            continue
        for key in sorted(set(svc) - _SERVICE_KEYS):
            if not str(key).startswith("x-"):
                reader.ignore(f"{path}.{key}", "not honoured")
        image = svc.get("image")
        if not isinstance(image, str) or not image:
            why = "ctrlplane runs images and does not build them: build and tag the image, "
            why += "then name it in image:" if "build" in svc else "it is required"
            reader.problem(f"{path}.image", why)
            image = ""
        out: dict[str, Any] = {"name": _dns_name(name), "image": image}
        if out["name"] != name:
            reader.problem(path, f"service name {name!r} must be DNS-safe (a-z, 0-9, '-')")
        entrypoint = reader.argv(svc.get("entrypoint"), f"{path}.entrypoint")
        command = reader.argv(svc.get("command"), f"{path}.command")
        if entrypoint:
            out["command"] = entrypoint
        if command:
            out["args"] = command
        env = reader.environment(svc, path)
        if env:
            out["env"] = env
        if "ports" in svc:
            out["ports"] = reader.ports(svc["ports"], f"{path}.ports")
        volumes = reader.volumes(svc, path, out["name"])
        if volumes:
            out["volumes"] = volumes
        if "depends_on" in svc:
            deps[name] = reader.depends_on(svc["depends_on"], f"{path}.depends_on")
        if "healthcheck" in svc:
            check = reader.healthcheck(svc["healthcheck"], f"{path}.healthcheck")
            if check is not None:
                out["health_check"] = check
        resources = reader.deploy(svc, path)
        if resources:
            out["resources"] = resources
        labels = svc.get("labels")
        if isinstance(labels, Mapping):
            out["annotations"] = {str(k): str(v) for k, v in labels.items()}
        elif isinstance(labels, list):
            pairs = [str(item).partition("=") for item in labels]
            out["annotations"] = {key: value for key, _, value in pairs}
        secrets = svc.get("secrets")
        if isinstance(secrets, list):
            refs = []
            for i, ref in enumerate(secrets):
                secret: Any = ref.get("source") if isinstance(ref, Mapping) else ref
                if not isinstance(secret, str):
                    reader.problem(f"{path}.secrets[{i}]", "must name a secret")
                    continue
                where = ref.get("target") if isinstance(ref, Mapping) else None
                where = str(where or secret)
                if not where.startswith("/"):
                    where = f"/run/secrets/{where}"
                refs.append({"key": secret, "type": "file", "target": where})
            out["secrets"] = refs
        built[name] = out
    for name, wanted in deps.items():
        for dep, condition in wanted.items():
            if dep not in services:
                reader.problem(f"services.{name}.depends_on.{dep}", "names no service")
            elif (
                condition == "service_healthy" and dep in built and "health_check" not in built[dep]
            ):
                reader.problem(
                    f"services.{name}.depends_on.{dep}",
                    f"condition service_healthy, but {dep} has no healthcheck",
                )
            elif condition == "service_started" and dep in built and "health_check" in built[dep]:
                reader.ignore(
                    f"services.{name}.depends_on.{dep}",
                    "service_started: ctrlplane waits until the dependency is healthy too",
                )
    if reader.problems:
        raise InvalidSpec(reader.problems, subject="Compose file")
    inits = {
        dep
        for wanted in deps.values()
        for dep, condition in wanted.items()
        if condition == "service_completed_successfully"
    }
    main = _choose_main(names, deps, inits, chosen)
    workload_services = []
    for name in names:
        out = built[name]
        if name in inits:
            out["role"] = "init"
        elif name != main:
            out["role"] = "sidecar"
        if deps.get(name):
            out["depends_on"] = [_dns_name(d) for d in deps[name]]
        replicas = out.get("resources", {}).get("replicas")
        if name != main and replicas not in (None, 1):
            reader.ignore(
                f"services.{name}.deploy.replicas",
                f"not honoured: the workload runs as many replicas as its main service {main}",
            )
            out["resources"].pop("replicas")
        workload_services.append(out)
    workload_name = data.get("name") or default_name or "compose"
    return ComposeWorkload(
        data={"name": _dns_name(str(workload_name)), "services": workload_services},
        main=main,
        ignored=reader.ignored,
    )
