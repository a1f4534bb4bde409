"""One simulated Fly Machine: its configuration versions, states, process, checks, events.

States, as the Machines API reports them: ``created`` (never started; ``skip_launch``)
-> ``starting`` -> ``started`` -> ``stopping`` -> ``stopped``, ``replacing`` while an
update swaps the configuration, ``destroying`` -> ``destroyed``, and ``failed`` when the
Machine cannot launch (a secret or volume it needs is missing). Each transient state lasts
:attr:`Settings.step`.

The Machine's process is a :class:`~ctrlplane.testing.records.FakeContainer` started
with the fake shell (:func:`~ctrlplane.testing.runtime.start_container`): the command is
``init.exec``, or ``init.entrypoint`` + ``init.cmd`` (the image's behaviour otherwise);
its env is ``config.env``, the process's env and the app secrets its process entry
names (``processes[0].secrets``, or every app secret unless ``ignore_app_secrets``); its
files are the image's, ``config.files`` (``raw_value`` base64, or ``secret_name``: an app
secret holding base64), and the volume of each mount. When the process exits, an
``exit`` event records ``request.exit_event`` (``exit_code``, ``requested_stop``,
``restarting``); the restart policy (``no``, ``always``, ``on-failure`` with
``max_retries``, the default) decides whether it starts again; ``auto_destroy`` destroys
a Machine that stopped by itself. Checks (``config.checks``, ``tcp``/``http``) run
every ``interval`` after ``grace_period`` while the Machine is started.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.health import ProbeOutcome
from ctrlplane.provider.spec import HealthCheckSpec, ServiceSpec
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.probes import probe_outcome
from ctrlplane.testing.records import ContainerFiles, FakeContainer
from ctrlplane.testing.runtime import start_container, stop_container
from ctrlplane.testing.shell import run_command

from .records import FakeApp, FakeLease, iso, new_token, now_ms

__all__ = ["FakeMachine", "Settings", "go_duration"]

JSON = dict[str, Any]
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_EVENTS_KEPT = 40
DEFAULT_MAX_RETRIES = 3
"""Restarts of an ``on-failure`` Machine without ``max_retries``."""


def go_duration(text: str | None, default: float) -> float:
    """Seconds of a Go duration string (``"1m30s"``, ``"200ms"``); ``default`` if unset."""
    if not text:
        return default
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"([0-9.]+)(ns|us|µs|ms|s|m|h)", text))


@dataclass(frozen=True)
class Settings:
    """Timing of the simulation (seconds)."""

    step: float = 0.005
    """How long each transient state lasts."""
    restart_delay: float = 0.05
    """Pause before a crashed Machine starts again."""
    destroyed_retention: float = 120.0
    """How long a destroyed Machine stays readable (``GET``, ``include_deleted``)."""


class LaunchFailed(Exception):
    """The Machine cannot start (what is missing)."""


class FakeMachine:
    """A Machine of ``app``; ``backend`` gives image behaviours and faults."""

    def __init__(
        self,
        app: FakeApp,
        backend: FakeBackend,
        settings: Settings,
        *,
        machine_id: str,
        name: str,
        region: str,
        config: JSON,
        private_ip: str,
        cordoned: bool,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        self.backend = backend
        self.settings = settings
        self.id = machine_id
        self.name = name
        self.region = region
        self.private_ip = private_ip
        self.cordoned = cordoned
        self.versions: list[tuple[str, JSON]] = [(new_token(26), config)]
        self.state = "created"
        self.ever_started = False
        self.events: list[JSON] = []
        self.lease: FakeLease | None = None
        self.checks: dict[str, JSON] = {}
        self.container: FakeContainer | None = None
        self.retries = 0
        self.created_at = iso()
        self.updated_at = self.created_at
        self.destroyed_at: float | None = None
        self.started_at = 0.0
        self._changed = asyncio.Event()
        self.transitions: list[str] = ["created"]
        """Every state the Machine entered, in order (``/wait`` sees states passed through)."""
        self._supervisor: asyncio.Task[None] | None = None
        self._checkers: list[asyncio.Task[None]] = []
        self._on_change = on_change
        self.lock = asyncio.Lock()
        """Serialises this Machine's lifecycle operations."""
        self.event("launch", "created", "user")

    # -- identity ----------------------------------------------------------------------

    @property
    def config(self) -> JSON:
        return self.versions[-1][1]

    @property
    def version(self) -> str:
        return self.versions[-1][0]

    @property
    def gone(self) -> bool:
        return self.state in ("destroying", "destroyed")

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self.config.get("metadata") or {})

    @property
    def service_name(self) -> str:
        return self.metadata.get("fly_process_group") or self.name

    def expired(self) -> bool:
        """Whether a destroyed Machine is past its retention (then it is forgotten)."""
        return (
            self.destroyed_at is not None
            and time.time() - self.destroyed_at > self.settings.destroyed_retention
        )

    # -- bookkeeping -------------------------------------------------------------------

    def _set(self, state: str) -> None:
        self.state = state
        self.transitions.append(state)
        self.updated_at = iso()
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        self._on_change()

    def event(
        self, kind: str, status: str, source: str = "flyd", request: JSON | None = None
    ) -> None:
        """Record an event (newest first, the last few kept)."""
        item: JSON = {
            "id": new_token(26).upper(),
            "type": kind,
            "status": status,
            "source": source,
            "timestamp": now_ms(),
        }
        if request is not None:
            item["request"] = request
        self.events.insert(0, item)
        del self.events[_EVENTS_KEPT:]

    def _exit_event(self, code: int, *, requested: bool, restarting: bool) -> None:
        exit_event = {
            "exit_code": code,
            "oom_killed": False,
            "requested_stop": requested,
            "restarting": restarting,
            "exited_at": iso(),
        }
        self.event("exit", "stopped", "flyd", {"exit_event": exit_event})

    async def wait(self, state: str, limit: float) -> bool:
        """Wait until the Machine is in ``state`` or entered it since the wait began (a
        destroyed Machine has passed ``stopped``); ``False`` after ``limit`` seconds."""
        deadline = time.monotonic() + limit
        first = len(self.transitions)
        while not self._in(state) and state not in self.transitions[first:]:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return True

    def _in(self, state: str) -> bool:
        if state == "stopped" and self.state in ("destroying", "destroyed"):
            return True
        return self.state == state

    # -- the process -------------------------------------------------------------------

    def _argv(self) -> tuple[list[str], list[str]]:
        """(entrypoint, cmd): ``init.exec`` replaces both; else each overrides the image's."""
        init: JSON = self.config.get("init") or {}
        process: JSON = (self.config.get("processes") or [{}])[0]
        if process.get("exec") or init.get("exec"):
            return list(process.get("exec") or init["exec"]), []
        entry = process.get("entrypoint") or init.get("entrypoint") or []
        cmd = process.get("cmd") or init.get("cmd") or []
        return list(entry), list(cmd)

    def _env(self) -> dict[str, str]:
        env = {str(k): str(v) for k, v in (self.config.get("env") or {}).items()}
        process: JSON = (self.config.get("processes") or [{}])[0]
        env.update({str(k): str(v) for k, v in (process.get("env") or {}).items()})
        wanted = process.get("secrets")
        if wanted:
            for item in wanted:
                name = item.get("name") or item["env_var"]
                if name not in self.app.secrets:
                    raise LaunchFailed(f"secret {name!r} not found in app {self.app.name}")
                env[item["env_var"]] = self.app.secrets[name]
        elif not process.get("ignore_app_secrets"):
            env.update(self.app.secrets)
        return env

    def _files(self) -> ContainerFiles:
        image = self.backend.image(str(self.config.get("image", "")))
        files = ContainerFiles(own=dict(image.files) if image is not None else {})
        for item in self.config.get("files") or []:
            if item.get("secret_name"):
                value = self.app.secrets.get(item["secret_name"])
                if value is None:
                    raise LaunchFailed(f"secret {item['secret_name']!r} not found")
            else:
                value = item.get("raw_value", "")
            try:
                files.own[item["guest_path"]] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise LaunchFailed(f"file {item['guest_path']}: content is not base64") from None
        for mount in self.config.get("mounts") or []:
            volume = self.app.volumes.get(mount.get("volume", ""))
            if volume is None:
                raise LaunchFailed(f"volume {mount.get('volume')!r} not found")
            files.mounts.append((str(mount["path"]).rstrip("/"), volume.files))
        files.mounts.sort(key=lambda m: -len(m[0]))
        return files

    def _ports(self) -> list[int]:
        ports = [int(s["internal_port"]) for s in self.config.get("services") or []]
        ports += [int(c["port"]) for c in (self.config.get("checks") or {}).values() if "port" in c]
        return sorted(set(ports))

    def _prepare(self) -> tuple[FakeContainer, ServiceSpec]:
        ref = str(self.config.get("image", ""))
        image = self.backend.image(ref)
        if image is None:
            raise LaunchFailed(f"image {ref!r} not found")
        meta = self.metadata
        replica = meta.get("ctrlplane_replica", "0")
        container = FakeContainer(
            service=self.service_name,
            replica=int(replica) if replica.isdigit() else 0,
            role=ServiceRole.MAIN,
            image=image,
            env=self._env(),
            files=self._files(),
            ports=self._ports(),
            image_ref=ref,
        )
        entry, cmd = self._argv()
        spec = ServiceSpec(
            name="machine", image=ref, role=ServiceRole.MAIN, command=entry, args=cmd
        )
        return container, spec

    async def launch(self, source: str = "user") -> None:
        """Start the Machine (from ``created``, ``stopped`` or ``failed``)."""
        self._set("starting")
        self.event("start", "starting", source)
        await asyncio.sleep(self.settings.step)
        if await self._boot():
            self.ever_started = True
            self._supervisor = asyncio.create_task(self._supervise())

    async def _boot(self) -> bool:
        """Start a fresh process (the VM boots): ``False`` when it cannot launch."""
        try:
            container, spec = self._prepare()
        except LaunchFailed as exc:
            self._set("failed")
            self.event("launch", "failed", "flyd", {"error": str(exc)})
            return False
        self.container = container
        await start_container(self.backend, container, spec)
        self.started_at = time.time()
        self._set("started")
        self.event("start", "started", "flyd")
        self._checkers = [
            asyncio.create_task(self._check_loop(name, check))
            for name, check in (self.config.get("checks") or {}).items()
        ]
        return True

    def _restart_policy(self) -> tuple[str, int]:
        restart = self.config.get("restart") or {}
        return str(restart.get("policy") or "on-failure"), int(
            restart.get("max_retries", DEFAULT_MAX_RETRIES)
        )

    async def _supervise(self) -> None:
        """Watch the process; apply the restart policy when it exits by itself."""
        while True:
            c = self.container
            assert c is not None
            while c.running:  # noqa: ASYNC110 - the fake container has no exit event
                await asyncio.sleep(0.01)
            code = c.exit_code if c.exit_code is not None else 0
            policy, retries = self._restart_policy()
            restarting = policy == "always" or (
                policy == "on-failure" and code != 0 and self.retries < retries
            )
            self._exit_event(code, requested=False, restarting=restarting)
            self._stop_checks()
            if not restarting:
                self._set("stopped")
                if self.config.get("auto_destroy"):
                    await self._destroy_now()
                return
            self.retries += 1
            self._set("starting")
            await asyncio.sleep(self.settings.restart_delay)
            if not await self._boot():
                return

    def _stop_checks(self) -> None:
        for task in self._checkers:
            task.cancel()
        self._checkers = []

    def _halt(self) -> None:
        """Stop the supervisor, the checks and the process (no event)."""
        self._stop_checks()
        if self._supervisor is not None and self._supervisor is not asyncio.current_task():
            self._supervisor.cancel()
        self._supervisor = None
        if self.container is not None:
            stop_container(self.backend, self.container)

    async def _check_loop(self, name: str, check: JSON) -> None:
        grace = go_duration(check.get("grace_period"), 0.0)
        interval = go_duration(check.get("interval"), 15.0)
        limit = go_duration(check.get("timeout"), 2.0)
        self.checks[name] = {
            "name": name,
            "status": "warning",
            "output": "waiting for status update",
            "updated_at": iso(),
        }
        await asyncio.sleep(grace)
        hc = HealthCheckSpec(
            path=str(check.get("path") or "/") if check.get("type") == "http" else "",
            port=int(check.get("port", 0)),
        )
        while True:
            c = self.container
            assert c is not None
            try:
                outcome = await asyncio.wait_for(probe_outcome(self.backend, c, hc), limit)
            except TimeoutError:
                outcome = ProbeOutcome(False, f"timed out after {limit:g}s")
            self.checks[name] = {
                "name": name,
                "status": "passing" if outcome.healthy else "critical",
                "output": outcome.observed,
                "updated_at": iso(),
            }
            self._on_change()
            await asyncio.sleep(interval)

    # -- operations (the server serialises them with ``lock``) ---------------------------

    async def stop(self) -> None:
        """Stop a started Machine (a requested stop: no restart)."""
        if self.state not in ("started", "starting"):
            return
        self._set("stopping")
        self._halt()
        self._exit_event(0, requested=True, restarting=False)
        self.checks.clear()
        await asyncio.sleep(self.settings.step)
        self._set("stopped")

    async def restart(self) -> None:
        """Stop, then start again."""
        self.event("restart", "restarting", "user")
        await self.stop()
        self.retries = 0
        await self.launch("user")

    def begin_update(self, config: JSON) -> None:
        """Take a new configuration version now (the answer of the update shows it); the
        caller then runs :meth:`finish_update` (holding :attr:`lock`)."""
        self._set("replacing")
        self.event("update", "replacing", "user")
        self._halt()
        self.checks.clear()
        self.versions.append((new_token(26), config))
        self.retries = 0

    async def finish_update(self, *, running: bool, skip_launch: bool) -> None:
        """Start the Machine with its new configuration unless ``skip_launch`` (then it
        stays stopped, or created if it never ran)."""
        if running:
            self._exit_event(0, requested=True, restarting=False)
        await asyncio.sleep(self.settings.step)
        if skip_launch:
            self._set("stopped" if self.ever_started else "created")
            return
        await self.launch("user")

    async def destroy(self) -> None:
        """Destroy the Machine (stopping it first); its volume is detached."""
        if self.gone:
            return
        await self._destroy_now()

    async def _destroy_now(self) -> None:
        self._set("destroying")
        self._halt()
        await asyncio.sleep(self.settings.step)
        for volume in self.app.volumes.values():
            if volume.attached_machine_id == self.id:
                volume.attached_machine_id = ""
        self.lease = None
        self.cordoned = True
        self.destroyed_at = time.time()
        self.event("destroy", "destroyed", "user")
        self._set("destroyed")

    async def exec(self, argv: list[str], limit: float) -> tuple[bytes, bytes, int]:
        """Run ``argv`` in the Machine with the fake shell."""
        c = self.container
        assert c is not None
        async with asyncio.timeout(limit):
            res = await run_command(argv, env=c.env, fs=c.files)
        return res.stdout, res.stderr, res.exit_code

    def processes(self) -> list[JSON]:
        """``ProcessStat``s of a started Machine (its one process)."""
        c = self.container
        if self.state != "started" or c is None or not c.running:
            return []
        entry, cmd = self._argv()
        listen = [{"address": f"0.0.0.0:{p}", "proto": "tcp"} for p in c.ports if c.image.listens]
        return [
            {
                "pid": 1,
                "command": " ".join([*entry, *cmd]) or "/init",
                "cpu": int(c.image.cpu_percent * 10),
                "rss": c.image.memory_mb * 1024 * 1024,
                "rtime": int((time.time() - self.started_at) * 1000),
                "stime": 1,
                "directory": "/",
                "listen_sockets": listen,
            }
        ]

    # -- API shape ---------------------------------------------------------------------

    def image_ref(self) -> JSON:
        ref = str(self.config.get("image", ""))
        repository, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
        return {
            "registry": "docker-hub-mirror.fly.io",
            "repository": repository or ref,
            "tag": tag or "latest",
            "digest": "sha256:" + hashlib.sha256(ref.encode()).hexdigest(),
            "labels": {},
        }

    def as_json(self, *, nonce: str | None = None) -> JSON:
        out: JSON = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "region": self.region,
            "instance_id": self.version,
            "private_ip": self.private_ip,
            "config": self.config,
            "image_ref": self.image_ref(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "events": list(self.events),
        }
        if self.config.get("checks"):
            out["checks"] = [
                self.checks.get(
                    name,
                    {"name": name, "status": "warning", "output": "not started", "updated_at": ""},
                )
                for name in self.config["checks"]
            ]
        if nonce is not None:
            out["nonce"] = nonce
        return out
