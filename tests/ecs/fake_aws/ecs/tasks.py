"""The life of one task, as the ECS agent and Fargate run it.

``PROVISIONING`` (the task's network interface is attached; it gets its address) ->
``PENDING`` (images are pulled, secrets and registry credentials fetched with the
execution role, log streams prepared; any failure stops the task with ``TaskFailedToStart``
and the reason ECS gives) -> containers start as their ``dependsOn`` conditions allow
(``START``: the dependency started; ``COMPLETE``: it exited; ``SUCCESS``: it exited 0;
``HEALTHY``: its health check passed), each running its ``entryPoint`` + ``command`` in
the fake shell with its environment and secrets -> ``RUNNING`` once every essential
container runs. An essential container that exits stops the task
(``EssentialContainerExited``); a dependency that can no longer be met (a ``SUCCESS``
dependency that exited non-zero, a ``HEALTHY`` one that stopped or stayed unhealthy past
the container's ``startTimeout``) stops it too (``TaskFailedToStart``).

Stopping: ``DEACTIVATING`` -> ``STOPPING`` (every container is sent SIGTERM: its process
ends) -> ``DEPROVISIONING`` (ports closed, address released) -> ``STOPPED``. Each step
takes a little simulated time (scaled by the fake's clock).

Output: the ``awslogs`` driver sends each container's lines to its log stream
``<awslogs-stream-prefix>/<container>/<task id>`` (stdout and stderr alike, as the real
driver does), on every scheduler tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Collection
from typing import Any

from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.spec import ServiceSpec
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.images import HttpRequest
from ctrlplane.testing.records import ContainerFiles, FakeContainer
from ctrlplane.testing.runtime import start_container, stop_container

from ..account import Account, Clock
from ..errors import AwsError
from ..logs import Logs
from ..secretsmanager import SecretsManager
from ..ssm import ParameterStore
from .health import probe, watch
from .model import Cluster, ContainerRun, Task, TaskDefinition
from .network import Addresses, Listener

__all__ = ["Agent"]

JSON = dict[str, Any]
PROVISION_SECONDS = 1.0
PULL_SECONDS = 1.0
STOP_STEP_SECONDS = 0.3
START_TIMEOUT = 180.0
_runtime_ids = itertools.count(1)


class Agent:
    """Runs tasks: the ECS agent, Fargate's microVMs and the awslogs driver in one."""

    def __init__(
        self,
        *,
        account: Account,
        clock: Clock,
        backend: FakeBackend,
        logs: Logs,
        secrets: SecretsManager,
        parameters: ParameterStore,
        roles: Collection[str],
    ) -> None:
        self.account = account
        self.clock = clock
        self.backend = backend
        self.logs = logs
        self.secrets = secrets
        self.parameters = parameters
        self.roles = set(roles)
        self.addresses = Addresses()
        self.listeners: dict[str, list[Listener]] = {}

    # creating

    def create(
        self,
        cluster: Cluster,
        definition: TaskDefinition,
        *,
        group: str,
        started_by: str,
        launch_type: str,
        subnet: str,
        service: str = "",
        deployment: str = "",
        tags: list[JSON] | None = None,
    ) -> Task:
        task_id = uuid.uuid4().hex
        runs = [
            ContainerRun(
                definition=c,
                arn=self.account.arn("ecs", f"container/{cluster.name}/{task_id}/{uuid.uuid4()}"),
            )
            for c in definition.containers
        ]
        task = Task(
            arn=self.account.arn("ecs", f"task/{cluster.name}/{task_id}"),
            id=task_id,
            cluster=cluster,
            definition=definition,
            group=group,
            started_by=started_by,
            launch_type=launch_type,
            created_at=self.clock.now(),
            containers=runs,
            service=service,
            deployment=deployment,
            subnet=subnet,
            tags=list(tags or []),
        )
        task.next_at = self._after(PROVISION_SECONDS)
        task.volumes = {v["name"]: {} for v in definition.body.get("volumes") or []}
        return task

    def _after(self, seconds: float) -> float:
        return asyncio.get_running_loop().time() + self.clock.scaled(seconds)

    def _due(self, task: Task) -> bool:
        return asyncio.get_running_loop().time() >= task.next_at

    # the lifecycle, one tick at a time

    async def advance(self, task: Task) -> None:
        """Make the transitions ``task`` is due for (see the module docs)."""
        if task.last_status == "STOPPED":
            return
        if task.desired_status == "STOPPED":
            await self._stopping(task)
            return
        if task.last_status == "PROVISIONING":
            if self._due(task):
                task.ip = self.addresses.take()
                task.last_status = "PENDING"
                task.pull_started_at = self.clock.now()
                task.next_at = self._after(PULL_SECONDS)
                task.version += 1
            return
        if task.pull_stopped_at is None:
            if self._due(task):
                problem = self._prepare(task)
                task.pull_stopped_at = self.clock.now()
                if problem:
                    self.stop(task, "TaskFailedToStart", problem, failed=True)
            return
        self._reap(task)
        if task.desired_status == "STOPPED":
            return
        await self._start_ready(task)
        if task.last_status == "PENDING" and all(
            c.last_status == "RUNNING" for c in task.containers if c.essential
        ):
            task.last_status = "RUNNING"
            task.started_at = self.clock.now()
            task.version += 1

    def _prepare(self, task: Task) -> str:
        """Pull images, fetch secrets, prepare logging: the reason it fails, or ``""``."""
        body = task.definition.body
        needs_role = any(
            c.get("secrets")
            or c.get("repositoryCredentials")
            or (c.get("logConfiguration") or {}).get("logDriver") == "awslogs"
            for c in task.definition.containers
        )
        role = body.get("executionRoleArn", "")
        if needs_role and role.rsplit("/", 1)[-1] not in self.roles:
            return (
                "ResourceInitializationError: unable to pull secrets or registry auth: "
                f"ECS was unable to assume the role '{role}' that was provided for this task."
            )
        for run in task.containers:
            d = run.definition
            if self.backend.image(d["image"]) is None:
                run.reason = (
                    "CannotPullContainerError: pull image manifest has been retried 1 time(s): "
                    f"failed to resolve ref {d['image']}: not found"
                )
                return run.reason
            creds = (d.get("repositoryCredentials") or {}).get("credentialsParameter")
            for reference in [creds] if creds else []:
                try:
                    self.secrets.value(reference)
                except AwsError as exc:
                    return (
                        "ResourceInitializationError: unable to pull secrets or registry auth: "
                        f"unable to retrieve secret from asm: {exc.code}: {exc.message}"
                    )
            for secret in d.get("secrets") or []:
                try:
                    task.secret_values.append(self._secret(secret["valueFrom"]))
                except AwsError as exc:
                    store = "asm" if ":secretsmanager:" in secret["valueFrom"] else "ssm"
                    return (
                        "ResourceInitializationError: unable to pull secrets or registry auth: "
                        f"execution resource retrieval failed: unable to retrieve secret from "
                        f"{store}: {exc.code}: {exc.message}"
                    )
            log = d.get("logConfiguration") or {}
            if log.get("logDriver") == "awslogs":
                options = log.get("options") or {}
                group = options["awslogs-group"]
                if options.get("awslogs-create-group") == "true":
                    self.logs.ensure_group(group)
                if not self.logs.has_group(group):
                    run.reason = (
                        "CannotStartContainerError: Error response from daemon: failed to "
                        "initialize logging driver: failed to create Cloudwatch log stream: "
                        "ResourceNotFoundException: The specified log group does not exist."
                    )
                    return run.reason
        return ""

    def _secret(self, reference: str) -> str:
        if reference.startswith("arn:aws:secretsmanager:"):
            value = self.secrets.value(reference)
        else:
            value = self.parameters.value(reference)
        return value.decode(errors="replace") if isinstance(value, bytes) else value

    def _condition(self, task: Task, dep: JSON) -> str:
        """``met``, ``wait`` or ``never`` for one ``dependsOn`` entry."""
        target = task.run(dep["containerName"])
        condition = dep["condition"]
        started = target.process is not None
        if condition == "START":
            if started:
                return "met"
            return "never" if target.last_status == "STOPPED" else "wait"
        if condition in ("COMPLETE", "SUCCESS"):
            if target.last_status != "STOPPED":
                return "wait"
            if not started:
                return "never"
            ok = condition == "COMPLETE" or target.exit_code == 0
            return "met" if ok else "never"
        if target.health == "HEALTHY":
            return "met"
        return "never" if target.last_status == "STOPPED" else "wait"

    async def _start_ready(self, task: Task) -> None:
        for run in task.containers:
            if run.last_status != "PENDING":
                continue
            states = [self._condition(task, d) for d in run.definition.get("dependsOn") or []]
            if "never" in states:
                blocked = next(
                    d
                    for d, s in zip(run.definition["dependsOn"], states, strict=True)
                    if s == "never"
                )
                target = task.run(blocked["containerName"])
                run.last_status = "STOPPED"
                run.reason = (
                    f"CannotStartContainerError: dependency {target.name} did not meet the "
                    f"{blocked['condition']} condition (last status {target.last_status}, exit "
                    f"code {target.exit_code})"
                )
                self.stop(task, "TaskFailedToStart", run.reason, failed=True)
                return
            if "wait" in states:
                limit = run.definition.get("startTimeout") or START_TIMEOUT
                since = task.pull_stopped_at
                assert since is not None
                waited = (self.clock.now() - since).total_seconds()
                if waited > self.clock.scaled(limit):
                    run.last_status = "STOPPED"
                    run.reason = (
                        "CannotStartContainerError: dependencies not resolved within startTimeout"
                    )
                    self.stop(task, "TaskFailedToStart", run.reason, failed=True)
                    return
                continue
            await self._start(task, run)

    async def _start(self, task: Task, run: ContainerRun) -> None:
        d = run.definition
        image = self.backend.image(d["image"])
        assert image is not None
        env = {e["name"]: e["value"] for e in d.get("environment") or []}
        for secret in d.get("secrets") or []:
            env[secret["name"]] = self._secret(secret["valueFrom"])
        files = ContainerFiles(own=dict(image.files))
        mounts = sorted(d.get("mountPoints") or [], key=lambda m: -len(m["containerPath"]))
        for mp in mounts:
            files.mounts.append((mp["containerPath"].rstrip("/"), task.volumes[mp["sourceVolume"]]))
        ports = [pm["containerPort"] for pm in d.get("portMappings") or []]
        process = FakeContainer(
            service=run.name,
            replica=0,
            role=ServiceRole.MAIN,
            image=image,
            env=env,
            files=files,
            ports=ports,
            image_ref=d["image"],
        )
        argv = [*(d.get("entryPoint") or []), *(d.get("command") or [])]
        spec = ServiceSpec(name=run.name, image=d["image"], command=argv)
        run.process = process
        run.runtime_id = f"{task.id}-{next(_runtime_ids)}"
        run.last_status = "RUNNING"
        task.version += 1
        await start_container(self.backend, process, spec, time_scale=self.clock.time_scale)
        if image.listens and ports:
            await self._listen(task, run, ports)
        hc = d.get("healthCheck")
        if hc and hc["command"][0] != "NONE":
            run.checker = asyncio.create_task(self._check(task, run, hc))

    async def _check(self, task: Task, run: ContainerRun, hc: JSON) -> None:
        process = run.process
        assert process is not None

        async def once() -> int:
            return await probe(
                hc["command"], process, lambda port, path: self.fetch(task, port, path)
            )

        def report(verdict: str) -> None:
            if run.health != verdict:
                run.health = verdict
                task.version += 1

        await watch(hc, once, report, self.clock.scaled)

    async def _listen(self, task: Task, run: ContainerRun, ports: list[int]) -> None:
        for port in ports:

            def answer(path: str, port: int = port) -> tuple[int, bytes]:
                found = self.fetch(task, port, path)
                return found if found is not None else (503, b"not running\n")

            listener = Listener(task.ip, port, answer)
            if await listener.open():
                self.listeners.setdefault(task.arn, []).append(listener)

    def fetch(self, task: Task, port: int, path: str) -> tuple[int, bytes] | None:
        """GET ``path`` on the task's ``port`` from inside the task; ``None`` if refused."""
        for run in task.containers:
            c = run.process
            if c is None or not c.running or port not in c.ports or c.image.http is None:
                continue
            return c.image.http(HttpRequest(path, port, run.name, 0, dict(c.env), c.files.read))
        return None

    def _reap(self, task: Task) -> None:
        """Notice containers whose process ended; an essential one stops the task."""
        for run in task.containers:
            c = run.process
            if run.last_status != "RUNNING" or c is None or c.running:
                continue
            run.last_status = "STOPPED"
            run.exit_code = c.exit_code
            run.health = "UNKNOWN" if run.definition.get("healthCheck") else run.health
            if run.checker is not None:
                run.checker.cancel()
            task.version += 1
            if run.essential and task.desired_status != "STOPPED":
                self.stop(
                    task,
                    "EssentialContainerExited",
                    "Essential container in task exited",
                    failed=True,
                )

    # stopping

    def stop(self, task: Task, code: str, reason: str, *, failed: bool = False) -> None:
        """Ask ``task`` to stop (it goes through the stop steps on the next ticks)."""
        if task.desired_status == "STOPPED":
            return
        task.desired_status = "STOPPED"
        task.stop_code = code
        task.stopped_reason = reason
        task.failed = failed
        task.stopping_at = self.clock.now()
        task.next_at = self._after(STOP_STEP_SECONDS)
        task.version += 1

    async def _stopping(self, task: Task) -> None:
        if not self._due(task):
            return
        if task.last_status in ("RUNNING", "PENDING", "PROVISIONING"):
            task.last_status = "DEACTIVATING"
        elif task.last_status == "DEACTIVATING":
            task.last_status = "STOPPING"
            self.ship(task)
            for run in task.containers:
                if run.checker is not None:
                    run.checker.cancel()
                if run.process is not None and run.last_status == "RUNNING":
                    stop_container(self.backend, run.process)
                    run.exit_code = run.process.exit_code
                if run.last_status != "STOPPED":
                    run.last_status = "STOPPED"
        elif task.last_status == "STOPPING":
            task.last_status = "DEPROVISIONING"
            self.ship(task)
            for listener in self.listeners.pop(task.arn, []):
                await listener.close()
            if task.ip:
                self.addresses.give_back(task.ip)
        else:
            task.last_status = "STOPPED"
            task.stopped_at = self.clock.now()
        task.next_at = self._after(STOP_STEP_SECONDS)
        task.version += 1

    async def close(self, tasks: list[Task]) -> None:
        """Stop every process and listener at once (the fake shuts down)."""
        for task in tasks:
            for run in task.containers:
                if run.checker is not None:
                    run.checker.cancel()
                if run.process is not None:
                    stop_container(self.backend, run.process)
        for listeners in self.listeners.values():
            for listener in listeners:
                with contextlib.suppress(Exception):
                    await listener.close()
        self.addresses.close()
        self.listeners.clear()

    # the awslogs driver

    def ship(self, task: Task) -> None:
        """Send the new output of ``task``'s containers to their log streams."""
        for run in task.containers:
            c = run.process
            log = run.definition.get("logConfiguration") or {}
            if c is None or log.get("logDriver") != "awslogs":
                continue
            self.backend.catch_up(c)
            options = log.get("options") or {}
            group = options["awslogs-group"]
            prefix = options.get("awslogs-stream-prefix")
            stream = f"{prefix}/{run.name}/{task.id}" if prefix else task.id
            for record in c.logs[run.shipped :]:
                if self.logs.has_group(group):
                    self.logs.append(group, stream, record.time, record.line)
            run.shipped = len(c.logs)
