"""Allocations of the fake agent: tasks run as fake containers, in Nomad's lifecycle order.

An :class:`Alloc` runs one job version's task group: it renders templates (Variables),
creates one :class:`~ctrlplane.testing.records.FakeContainer` per task (image behaviour
from the agent's :class:`~ctrlplane.testing.FakeBackend`), runs prestart tasks (inits to
completion, sidecars started), then main tasks, then poststart sidecars; restarts crashed
long-lived tasks per their restart policy (``pending`` while it waits to restart); runs
the group's service checks that can run (Consul ones only when the agent has Consul,
native ones from 1.4); listens on 127.0.0.1 for each network port and answers HTTP
through the owning task's image.

Health for a deployment (``Update.HealthCheck``): ``checks`` (every check passing and
every long-lived task running for ``MinHealthyTime``, unhealthy at ``HealthyDeadline``),
``task_states`` (the tasks only), ``manual`` (set through the deployment's
allocation-health endpoint). Task events are the real agent's: ``Received``, ``Task
Setup``, ``Started``...; after a task failed its events end with ``Not Restarting``,
``Killing`` and ``Alloc Unhealthy`` (so the cause comes before them). A docker
``config`` key the driver does not know fails the task with ``Failed Validation``.

Volumes: each task ``VolumeMounts`` entry mounts the store of its group volume (the
node's, shared with every allocation mounting the same source; a task whose volume is
not on the node fails with Nomad's ``missing <source>`` hook error); each docker
``mount`` of type ``tmpfs`` is an empty store of that task, emptied whenever the task's
container is recreated (a restart), as docker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.spec import HealthCheckSpec, ServiceSpec
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.images import HttpRequest
from ctrlplane.testing.probes import probe_outcome
from ctrlplane.testing.records import ContainerFiles, FakeContainer
from ctrlplane.testing.runtime import start_container, stop_container

from .schema import FIELDS, go_duration
from .templates import TemplateError, allowed_paths, interpolate, render

__all__ = ["NODE_ID", "NODE_NAME", "Alloc", "TaskRun"]

JSON = dict[str, Any]
_S = 1e9
NODE_ID = "0f399e4f-e5d1-25fb-9224-c7cf8b4ce68c"
NODE_NAME = "fake-node"
_DESCRIPTIONS = {
    "pending": "No tasks have started",
    "running": "Tasks are running",
    "complete": "All tasks have completed",
    "failed": "Failed tasks",
}


def _ns(at: datetime | None) -> int:
    return int(at.timestamp() * 1e9) if at is not None else 0


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


@dataclass
class TaskRun:
    """One task of an allocation."""

    name: str
    phase: int  # 0 prestart, 1 prestart sidecar, 2 main, 3 poststart sidecar
    task: JSON
    container: FakeContainer | None = None
    state: str = "pending"
    failed: bool = False
    restarts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    events: list[JSON] = field(default_factory=list)
    watcher: asyncio.Task[None] | None = None
    tmpfs: list[dict[str, bytes]] = field(default_factory=list)
    """The task's tmpfs mounts (emptied when its container is recreated)."""

    def recreate(self) -> None:
        """A new container for the task: its tmpfs mounts start empty."""
        for store in self.tmpfs:
            store.clear()

    @property
    def long_lived(self) -> bool:
        return self.phase != 0

    def event(self, kind: str, message: str, **extra: Any) -> None:
        self.events.append(
            {
                "Type": kind,
                "Time": time.time_ns(),
                "DisplayMessage": message,
                "Details": {k: str(v) for k, v in extra.items()},
            }
        )

    last_restart: datetime | None = None

    def as_json(self) -> JSON:
        return {
            "State": self.state,
            "Failed": self.failed,
            "Restarts": self.restarts,
            "LastRestart": _iso(self.last_restart),
            "StartedAt": _iso(self.started_at),
            "FinishedAt": _iso(self.finished_at),
            "Events": list(self.events),
            "TaskHandle": None,
        }


def _order(run: TaskRun) -> int:
    return run.phase


def _phase(task: Mapping[str, Any]) -> int:
    lc = task.get("Lifecycle")
    if not lc:
        return 2
    if lc.get("Hook") == "prestart":
        return 1 if lc.get("Sidecar") else 0
    return 3


class Alloc:
    """One allocation: index ``index`` of job version ``job`` (its ``Job`` object)."""

    def __init__(
        self,
        backend: FakeBackend,
        job: JSON,
        index: int,
        *,
        namespace: str,
        variables: Callable[[str], Mapping[str, str] | None],
        time_scale: float,
        on_change: Callable[[], None],
        registry_auth: Callable[[str], tuple[str, str] | None] = lambda ref: None,
        volume_store: Callable[[JSON, int], dict[str, bytes] | None] = lambda req, i: None,
        runs_check: Callable[[JSON], bool] = lambda svc: True,
    ) -> None:
        self.backend = backend
        self.job = job
        self.namespace = namespace
        self.index = index
        self.id = str(uuid.uuid4())
        self.group: JSON = job["TaskGroups"][0]
        self.name = f"{job['ID']}.{self.group['Name']}[{index}]"
        self.client_status = "pending"
        self.desired_status = "run"
        self.healthy: bool | None = None
        self.deployment_id = ""
        self.canary = False
        self.create_time = time.time_ns()
        self.modify_time = self.create_time
        self.checks: dict[str, JSON] = {}
        self.ports: list[JSON] = []
        self._servers: list[asyncio.Server] = []
        self._variables = variables
        self._registry_auth = registry_auth
        self._volume_store = volume_store
        self._runs_check = runs_check
        self.create_index = 0
        self.eval_id = ""
        self.healthy_set_by: str = ""
        self._scale = time_scale
        self._born, self._born_mono = time.time(), time.monotonic()
        self._on_change = on_change
        self._runner: asyncio.Task[None] | None = None
        self._checker: asyncio.Task[None] | None = None
        self.tasks = {
            str(t["Name"]): TaskRun(str(t["Name"]), _phase(t), t) for t in self.group["Tasks"]
        }
        self._owners = self._port_owners()

    # -- bookkeeping ------------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self.job.get("Version", 0))

    @property
    def terminal(self) -> bool:
        return self.client_status in ("complete", "failed", "lost")

    def _changed(self) -> None:
        self.modify_time = time.time_ns()
        self._on_change()

    def _port_owners(self) -> dict[str, str]:
        """Port label -> the task that serves it: the task a service of that port names,
        else the task whose command starts an HTTP server on the port's container port
        (``httpd ... -p <port>``, as the conformance suite's busybox scripts do). The
        tasks of a group share its network, so on a real node whichever process binds
        the port serves it."""
        owners: dict[str, str] = {}
        for svc in self.group.get("Services") or []:
            if svc.get("PortLabel") and svc.get("TaskName"):
                owners[svc["PortLabel"]] = svc["TaskName"]
        for net in self.group.get("Networks") or []:
            for port in (net.get("DynamicPorts") or []) + (net.get("ReservedPorts") or []):
                label = str(port.get("Label"))
                number = str(port.get("To") or port.get("Value") or "")
                if label in owners or not number:
                    continue
                for task in self.group.get("Tasks") or []:
                    cfg = task.get("Config") or {}
                    line = " ".join([*(cfg.get("entrypoint") or []), str(cfg.get("command", ""))])
                    line += " " + " ".join(cfg.get("args") or [])
                    if re.search(rf"httpd\b[^;&|]*-p\s+{number}\b", line):
                        owners[label] = str(task["Name"])
        return owners

    def _port_to(self, label: str) -> int:
        for net in self.group.get("Networks") or []:
            for port in (net.get("DynamicPorts") or []) + (net.get("ReservedPorts") or []):
                if port.get("Label") == label:
                    return int(port.get("To") or port.get("Value") or 0)
        return 0

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        """Begin running (in the background)."""
        self._runner = asyncio.create_task(self._run())

    async def _listen(self) -> None:
        for net in self.group.get("Networks") or []:
            for kind in ("DynamicPorts", "ReservedPorts"):
                for port in net.get(kind) or []:
                    label = str(port["Label"])
                    wanted = int(port.get("Value") or 0) if kind == "ReservedPorts" else 0
                    server = await asyncio.start_server(
                        functools.partial(self._serve, label), "127.0.0.1", wanted
                    )
                    self._servers.append(server)
                    value = server.sockets[0].getsockname()[1]
                    self.ports.append(
                        {
                            "Label": label,
                            "Value": value,
                            "To": int(port.get("To") or 0),
                            "HostIP": "127.0.0.1",
                        }
                    )

    async def _serve(
        self, label: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            parts = line.decode("latin-1").split()
            task = self._owners.get(label)
            run = self.tasks.get(task or "")
            c = run.container if run is not None else None
            if c is None or not c.running or c.image.http is None or len(parts) < 2:
                return  # nothing listens: the connection just closes
            status, body = c.image.http(
                HttpRequest(
                    parts[1], self._port_to(label), c.service, self.index, dict(c.env), c.files.read
                )
            )
            head = (
                f"HTTP/1.0 {status} X\r\nContent-Length: {len(body)}\r\n"
                "Content-Type: text/plain\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode() + body)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _spec(self, run: TaskRun) -> ServiceSpec:
        cfg = run.task.get("Config") or {}
        args = ([cfg["command"]] if cfg.get("command") else []) + list(cfg.get("args") or [])
        role = {0: ServiceRole.INIT, 2: ServiceRole.MAIN}.get(run.phase, ServiceRole.SIDECAR)
        return ServiceSpec(
            name=run.name,
            image=str(cfg.get("image", "")),
            role=role,
            command=list(cfg.get("entrypoint") or []),
            args=args,
        )

    def _prepare(self, run: TaskRun) -> FakeContainer | None:
        """Render templates and create the container; ``None`` (task failed) on error."""
        cfg = run.task.get("Config") or {}
        run.event("Received", "Task received by client")
        run.event("Task Setup", "Building Task Directory")
        unknown = [k for k in cfg if k not in FIELDS["DockerConfig"]]
        if run.task.get("Driver") == "docker" and unknown:
            labels = "\n".join(
                f'\t* Invalid label "{k}": No argument or block type is named "{k}".'
                for k in unknown
            )
            run.event(
                "Failed Validation",
                f"{len(unknown) + 1} errors occurred:\n\t* failed to parse config: \n{labels}",
            )
            return None
        image = self.backend.image(str(cfg.get("image", "")))
        if image is None:
            run.event(
                "Driver Failure",
                f"Failed to pull `{cfg.get('image')}`: Error response from daemon: "
                "pull access denied, repository does not exist",
            )
            return None
        env = {str(k): str(v) for k, v in (run.task.get("Env") or {}).items()}
        rendered: dict[str, bytes] = {}

        allowed = allowed_paths(str(self.job["ID"]), str(self.group["Name"]), run.name)
        try:
            for tmpl in run.task.get("Templates") or []:
                text = render(tmpl, self._variables, allowed)
                rendered[str(tmpl["DestPath"])] = text.encode()
                if tmpl.get("Envvars"):
                    for line in text.splitlines():
                        key, sep, val = line.partition("=")
                        if sep:
                            env[key.strip()] = val
        except TemplateError as exc:
            run.event("Template", f"Template failed: {exc}")
            return None
        if not self._pull_allowed(run, cfg, env):
            return None
        files = ContainerFiles(own=dict(image.files))
        for bind in cfg.get("volumes") or []:
            source, _, rest = str(bind).partition(":")
            target = rest.split(":")[0]
            if source in rendered:
                files.own[target] = rendered[source]
        if not self._mount_volumes(run, files):
            return None
        ports = [self._port_to(label) for label, task in self._owners.items() if task == run.name]
        return FakeContainer(
            service=run.name,
            replica=self.index,
            role=self._spec(run).role,
            image=image,
            env=env,
            files=files,
            ports=ports,
            image_ref=str(cfg.get("image", "")),
        )

    def _mount_volumes(self, run: TaskRun, files: ContainerFiles) -> bool:
        """Mount the task's group volumes and tmpfs mounts; ``False`` (task failed) when a
        volume is not on the node."""
        group_volumes = self.group.get("Volumes") or {}
        for vm in run.task.get("VolumeMounts") or []:
            req = group_volumes[vm["Volume"]]
            store = self._volume_store(req, self.index)
            if store is None:
                source = str(req.get("Source", ""))
                wanted = f"{source}[{self.index}]" if req.get("PerAlloc") else source
                kind = "CSI volume" if req.get("Type") == "csi" else "host volume"
                run.event(
                    "Task hook failed",
                    f"volumes: {kind} validation error: 1 error occurred:\n\t* missing {wanted}",
                )
                return False
            files.mounts.append((str(vm["Destination"]).rstrip("/"), store))
        for mount in (run.task.get("Config") or {}).get("mount") or []:
            if mount.get("type") == "tmpfs":
                store = {}
                run.tmpfs.append(store)
                files.mounts.append((str(mount["target"]).rstrip("/"), store))
        files.mounts.sort(key=lambda m: -len(m[0]))  # the deepest mount point wins
        return True

    def _pull_allowed(self, run: TaskRun, cfg: Mapping[str, Any], env: Mapping[str, str]) -> bool:
        """Whether the image may be pulled: a private image (``registry_auth``) needs the
        task's ``auth`` block, interpolated with the task environment (template env vars
        included, as Nomad does), to carry its username and password."""
        ref = str(cfg.get("image", ""))
        wanted = self._registry_auth(ref)
        if wanted is None:
            return True
        auth = cfg.get("auth") or {}
        given = (
            interpolate(str(auth.get("username", "")), env),
            interpolate(str(auth.get("password", "")), env),
        )
        if given == wanted:
            return True
        run.event(
            "Driver Failure",
            f"Failed to pull `{ref}`: Error response from daemon: unauthorized: "
            "authentication required",
        )
        return False

    async def _start_task(self, run: TaskRun) -> None:
        c = run.container
        assert c is not None
        spec = self._spec(run)
        await start_container(self.backend, c, spec)
        run.state = "running"
        run.started_at = c.started_at or datetime.now(UTC)
        run.event("Started", "Task started by client")
        if run.phase == 0:
            run.state = "dead"
            run.finished_at = datetime.now(UTC)
            code = c.exit_code if c.exit_code is not None else 0
            run.event("Terminated", f"Exit Code: {code}", exit_code=code)
            if code != 0:
                run.failed = True
                run.event("Not Restarting", "Error was unrecoverable")
        else:
            run.watcher = asyncio.create_task(self._watch(run, spec))
        self._changed()

    async def _watch(self, run: TaskRun, spec: ServiceSpec) -> None:
        policy = run.task.get("RestartPolicy") or {}
        attempts = int(policy.get("Attempts", 2))
        delay = float(policy.get("Delay", 0)) / _S * self._scale
        interval = go_duration(int(policy.get("Interval", 0)))
        while True:
            c = run.container
            assert c is not None
            while c.running:  # noqa: ASYNC110 - the fake container has no exit event
                await asyncio.sleep(0.02)
            if self.desired_status != "run" or run.state != "running":
                return
            code = c.exit_code if c.exit_code is not None else 0
            run.event("Terminated", f"Exit Code: {code}", exit_code=code)
            if run.restarts >= attempts:
                run.state, run.failed = "dead", True
                run.finished_at = datetime.now(UTC)
                mode = policy.get("Mode", "fail")
                run.event(
                    "Not Restarting",
                    f"Exceeded allowed attempts {attempts} in interval {interval} and mode "
                    f'is "{mode}"',
                )
                self._changed()
                await self._fail(run)
                return
            run.state = "pending"
            run.event("Restarting", f"Task restarting in {go_duration(int(delay * _S))}")
            self._changed()
            await asyncio.sleep(delay)
            if self.desired_status != "run":
                return
            run.restarts += 1
            run.last_restart = datetime.now(UTC)
            c.restarts = run.restarts
            run.recreate()
            await start_container(self.backend, c, spec)
            run.state = "running"
            run.started_at = c.started_at
            run.event("Started", "Task started by client")
            self._changed()

    async def _fail(self, failed: TaskRun | None) -> None:
        """The allocation failed because ``failed`` did: its siblings are killed, and the
        events of the failed task end with ``Killing`` and ``Alloc Unhealthy``."""
        self.client_status = "failed"
        self.healthy = False
        for run in self.tasks.values():
            if failed is not None and run is not failed and run.state != "dead":
                run.event("Sibling Task Failed", f"Task's sibling {failed.name!r} failed")
        if failed is not None:
            failed.event("Killing", "Sent interrupt. Waiting 5s before force killing")
        await self._kill(keep_status=True)
        if self.deployment_id:
            for run in self.tasks.values():
                run.event("Alloc Unhealthy", "Unhealthy because of failed task")
        self._changed()

    async def _run(self) -> None:
        await self._listen()
        runs = sorted(self.tasks.values(), key=lambda r: r.phase)
        for run in runs:
            run.container = self._prepare(run)
            if run.container is None:
                run.state, run.failed = "dead", True
                run.finished_at = datetime.now(UTC)
                run.event("Not Restarting", "Error was unrecoverable")
                await self._fail(run)
                return
        self.client_status = "running"
        self._changed()
        for phases in ((0, 1), (2,), (3,)):
            batch = [r for r in runs if r.phase in phases]
            await asyncio.gather(*(self._start_task(r) for r in batch))
            failed = [r for r in batch if r.failed]
            if failed:
                await self._fail(failed[0])
                return
            if self.desired_status != "run":
                return
        self._checker = asyncio.create_task(self._check_loop())

    # -- checks and health --------------------------------------------------------------

    def _check_list(self) -> list[tuple[JSON, JSON]]:
        """The group's checks that something runs: Consul's when the agent has Consul,
        native ones on versions that have native checks."""
        return [
            (svc, check)
            for svc in self.group.get("Services") or []
            if self._runs_check(svc)
            for check in svc.get("Checks") or []
        ]

    def _declared_checks(self) -> int:
        return sum(len(svc.get("Checks") or []) for svc in self.group.get("Services") or [])

    async def _probe(self, svc: JSON, check: JSON) -> JSON:
        task = check.get("TaskName") or svc.get("TaskName") or ""
        run = self.tasks.get(task)
        label = check.get("PortLabel") or svc.get("PortLabel") or ""
        kind = check.get("Type")
        hc = HealthCheckSpec(
            path=str(check.get("Path", "")) if kind == "http" else "",
            port=self._port_to(label) if kind != "script" else 0,
            command=[check["Command"], *(check.get("Args") or [])] if kind == "script" else [],
        )
        if run is None or run.container is None:
            ok, output, code = False, "task not found", None
        else:
            outcome = await probe_outcome(self.backend, run.container, hc)
            ok, output, code = outcome.healthy, outcome.observed, outcome.status_code
        return {
            "ID": f"{self.id}-{check['Name']}",
            "Check": check["Name"],
            "Group": f"{self.job['ID']}.{self.group['Name']}",
            "Mode": "healthiness",
            "Output": output,
            "Service": svc.get("Name", ""),
            "Status": "success" if ok else "failure",
            "StatusCode": code or 0,
            "Task": task,
            "Timestamp": self._check_clock(),
        }

    def _check_clock(self) -> int:
        """Unix seconds on the allocation's scaled clock: checks run ``time_scale`` times
        faster than real, so each run of a 1 s check gets its own second, as on an agent."""
        return int(self._born + (time.monotonic() - self._born_mono) / self._scale)

    def nomad_checks(self) -> dict[str, JSON]:
        """The latest results of the checks of ``nomad``-provider services: what
        ``/v1/client/allocation/:id/checks`` reports. Consul checks live in Consul, so
        Nomad's API does not show them (they still gate the deployment's health)."""
        mine = {
            f"{self.id}-{check['Name']}"
            for svc, check in self._check_list()
            if svc.get("Provider", "consul") == "nomad"
        }
        return {k: v for k, v in self.checks.items() if k in mine}

    async def _check_loop(self) -> None:
        update = self.job.get("Update") or {}
        mode = update.get("HealthCheck", "checks")
        min_healthy = float(update.get("MinHealthyTime", 0)) / _S * self._scale
        deadline = time.monotonic() + float(update.get("HealthyDeadline", 300 * _S)) / _S * (
            self._scale
        )
        healthy_since: float | None = None
        checks = self._check_list()
        intervals = [float(c.get("Interval", _S)) / _S * self._scale for _, c in checks]
        tick = min(intervals, default=0.05)
        while self.desired_status == "run" and not self.terminal:
            for svc, check in checks:
                result = await self._probe(svc, check)
                self.checks[result["ID"]] = result
            passing = len(self.checks) == self._declared_checks() and all(
                r["Status"] == "success" for r in self.checks.values()
            )
            if mode == "task_states":
                passing = True
            running = all(r.state == "running" for r in self.tasks.values() if r.long_lived)
            now = time.monotonic()
            if self.healthy is None and mode != "manual":
                if passing and running:
                    healthy_since = healthy_since or now
                    if now - healthy_since >= min_healthy:
                        self.healthy = True
                        self._changed()
                else:
                    healthy_since = None
                    if now >= deadline:
                        self.healthy = False
                        self._changed()
            await asyncio.sleep(tick)

    def set_health(self, healthy: bool) -> None:
        """Health reported through the deployment (``HealthCheck = "manual"``)."""
        self.healthy = healthy
        if not healthy:
            for run in self.tasks.values():
                run.event("Alloc Unhealthy", "Unhealthy because of manual health set")
        self._changed()

    # -- operations -----------------------------------------------------------------------

    async def restart(self, task: str | None = None) -> list[str]:
        """Restart ``task`` (or every task, as ``{}`` asks) in place; the errors of the
        tasks that are not running (a finished init, a dead task): ``Task not running``."""
        names = [task] if task else [r.name for r in sorted(self.tasks.values(), key=_order)]
        errors: list[str] = []
        for name in names:
            run = self.tasks.get(name)
            c = run.container if run is not None else None
            if run is None:
                errors.append(f'task "{name}" not found')
                continue
            if c is None or run.state != "running" or not c.running or self.terminal:
                errors.append("Task not running")
                continue
            if run.watcher is not None:
                run.watcher.cancel()
            run.state = "pending"
            run.event("Restart Signaled", "User requested running tasks to restart")
            stop_container(self.backend, c)
            run.event("Terminated", "Exit Code: 0", exit_code=0)
            run.event("Restarting", "Task restarting in 0s")
            run.restarts += 1
            run.last_restart = datetime.now(UTC)
            c.restarts = run.restarts
            run.recreate()
            spec = self._spec(run)
            await start_container(self.backend, c, spec)
            run.started_at = c.started_at
            run.state = "running"
            run.event("Started", "Task started by client")
            if run.long_lived:
                run.watcher = asyncio.create_task(self._watch(run, spec))
        self._changed()
        return errors

    async def _kill(self, *, keep_status: bool = False) -> None:
        for task in (self._checker,):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        for run in sorted(self.tasks.values(), key=lambda r: -r.phase):
            if run.watcher is not None and run.watcher is not asyncio.current_task():
                run.watcher.cancel()
            c = run.container
            if c is not None and c.running:
                stop_container(self.backend, c)
                run.event("Killed", "Task successfully killed")
            if run.state != "dead":
                run.state = "dead"
                run.finished_at = datetime.now(UTC)
        for server in self._servers:
            server.close()
        self._servers.clear()
        if not keep_status and not self.terminal:
            self.client_status = "complete"

    async def stop(self) -> None:
        """Stop the allocation (desired ``stop``; tasks killed; ``complete``)."""
        self.desired_status = "stop"
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
        await self._kill()
        self._changed()

    def running_containers(self) -> list[FakeContainer]:
        """Containers of running long-lived tasks."""
        return [
            r.container
            for r in self.tasks.values()
            if r.long_lived and r.container is not None and r.container.running
        ]

    # -- API shapes ---------------------------------------------------------------------

    def _deployment_status(self) -> JSON | None:
        """``null`` until the allocation's health is known (a canary is marked at once)."""
        if self.healthy is None and not self.canary:
            return None
        return {
            "Healthy": self.healthy,
            "Canary": self.canary,
            "Timestamp": _iso(datetime.fromtimestamp(self.modify_time / _S, UTC)),
            "ModifyIndex": self.create_index,
        }

    def stub(self) -> JSON:
        """``AllocListStub`` (the keys a 1.1.2 agent sends)."""
        return {
            "ID": self.id,
            "EvalID": self.eval_id,
            "Name": self.name,
            "Namespace": self.namespace,
            "NodeID": NODE_ID,
            "NodeName": NODE_NAME,
            "JobID": self.job["ID"],
            "JobType": self.job.get("Type", "service"),
            "JobVersion": self.version,
            "TaskGroup": self.group["Name"],
            "AllocatedResources": None,
            "DesiredStatus": self.desired_status,
            "DesiredDescription": (
                "" if self.desired_status == "run" else "alloc not needed due to job update"
            ),
            "DesiredTransition": {"Migrate": None, "Reschedule": None, "ForceReschedule": None},
            "ClientStatus": self.client_status,
            "ClientDescription": _DESCRIPTIONS.get(self.client_status, ""),
            "DeploymentStatus": self._deployment_status(),
            "TaskStates": {name: run.as_json() for name, run in self.tasks.items()},
            "FollowupEvalID": "",
            "RescheduleTracker": None,
            "PreemptedAllocations": None,
            "PreemptedByAllocation": "",
            "CreateIndex": self.create_index,
            "ModifyIndex": self.create_index,
            "CreateTime": self.create_time,
            "ModifyTime": self.modify_time,
        }

    def reserved_ports(self) -> list[tuple[str, int]]:
        """(label, host port) of every port the allocation reserves on the node."""
        return [
            (str(port["Label"]), int(port.get("Value") or 0))
            for net in self.group.get("Networks") or []
            for port in net.get("ReservedPorts") or []
        ]

    def full(self) -> JSON:
        """``Allocation`` (with the job version it runs and its allocated ports)."""
        out = self.stub()
        out["Job"] = self.job
        out["DeploymentID"] = self.deployment_id
        mode = (self.group.get("Networks") or [{}])[0].get("Mode", "host")
        out["AllocatedResources"] = {
            "Shared": {
                "Networks": [
                    {
                        "Mode": mode,
                        "Device": "",
                        "CIDR": "",
                        "IP": "127.0.0.1",
                        "MBits": 0,
                        "DNS": None,
                        "ReservedPorts": None,
                        "DynamicPorts": None,
                    }
                ],
                "DiskMB": int((self.group.get("EphemeralDisk") or {}).get("SizeMB", 300)),
                "Ports": list(self.ports) or None,
            },
            "Tasks": {
                name: {
                    "Cpu": {"CpuShares": int((run.task.get("Resources") or {}).get("CPU", 100))},
                    "Memory": {
                        "MemoryMB": int((run.task.get("Resources") or {}).get("MemoryMB", 300))
                    },
                }
                for name, run in self.tasks.items()
            },
        }
        return out

    def stats(self) -> JSON:
        """``AllocResourceUsage``."""
        tasks: JSON = {}
        total_rss = 0
        total_cpu = 0.0
        for name, run in self.tasks.items():
            c = run.container
            running = c is not None and c.running
            rss = c.image.memory_mb * 1024 * 1024 if running and c is not None else 0
            cpu = c.image.cpu_percent if running and c is not None else 0.0
            total_rss += rss
            total_cpu += cpu
            tasks[name] = {
                "ResourceUsage": {
                    "MemoryStats": {"RSS": rss, "Usage": rss, "MaxUsage": rss, "Measured": ["RSS"]},
                    "CpuStats": {"Percent": cpu, "TotalTicks": cpu * 10, "Measured": ["Percent"]},
                },
                "Timestamp": time.time_ns(),
            }
        return {
            "ResourceUsage": {
                "MemoryStats": {"RSS": total_rss, "Usage": total_rss, "Measured": ["RSS"]},
                "CpuStats": {"Percent": total_cpu, "Measured": ["Percent"]},
            },
            "Tasks": tasks,
            "Timestamp": time.time_ns(),
        }

    def log_bytes(self, task: str, stream: str) -> bytes | None:
        """The content of ``alloc/logs/<task>.<stream>.0`` (``None``: no such task)."""
        run = self.tasks.get(task)
        if run is None:
            return None
        c = run.container
        if c is None:
            return b""
        self.backend.catch_up(c)
        return "".join(r.line + "\n" for r in c.logs if r.stream == stream).encode()

    def task_done(self, task: str) -> bool:
        """Whether ``task`` will write no more output."""
        run = self.tasks.get(task)
        return run is None or run.state == "dead" or self.terminal
