"""Simulated kubelet: runs a pod's containers with the fake runtime of ``ctrlplane.testing``.

A :class:`PodRunner` owns one pod: it "pulls" images (a missing image -> ``ErrImagePull``
then ``ImagePullBackOff``), runs init containers one by one (a failing init restarts with
``CrashLoopBackOff``), starts native sidecars (waiting for their startup probe) and then the
containers in order, restarts exited containers (``restartPolicy: Always``), runs readiness
probes (posting ``Unhealthy`` Events on failures) and writes everything into the pod's
``status`` as a kubelet would. Processes are the fake images and busybox-like shell of
:mod:`ctrlplane.testing`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.spec import HealthCheckSpec, ServiceSpec
from ctrlplane.testing.backend import FakeBackend
from ctrlplane.testing.probes import probe_outcome
from ctrlplane.testing.records import ContainerFiles, FakeContainer
from ctrlplane.testing.runtime import start_container, stop_container

from .store import micro_time, now_rfc3339

if TYPE_CHECKING:
    from .cluster import Cluster

JSON = dict[str, Any]


def _hc(probe: JSON) -> HealthCheckSpec:
    period = timedelta(seconds=probe.get("periodSeconds", 10))
    if "httpGet" in probe:
        return HealthCheckSpec(
            path=probe["httpGet"].get("path", "/"), port=probe["httpGet"]["port"], interval=period
        )
    if "tcpSocket" in probe:
        return HealthCheckSpec(port=probe["tcpSocket"]["port"], interval=period)
    return HealthCheckSpec(command=probe["exec"]["command"], interval=period)


@dataclass
class Slot:
    """One container of the pod: its spec, its current process and what the kubelet reports."""

    spec: JSON
    kind: str  # init | sidecar | container
    proc: FakeContainer | None = None
    previous: FakeContainer | None = None
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    terminated: JSON | None = None
    last_terminated: JSON | None = None
    restarts: int = 0
    ready: bool = False
    started: bool = False
    fails: int = 0

    @property
    def name(self) -> str:
        return str(self.spec["name"])


@dataclass
class PodRunner:
    """The simulated kubelet of one pod."""

    cluster: Cluster
    pod: JSON
    replica: int
    slots: list[Slot] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    probes: list[asyncio.Task[None]] = field(default_factory=list)
    volumes: dict[str, dict[str, bytes]] = field(default_factory=dict)
    stopped: bool = False

    @property
    def backend(self) -> FakeBackend:
        return self.cluster.backend

    @property
    def name(self) -> str:
        return str(self.pod["metadata"]["name"])

    @property
    def ns(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    def start(self) -> None:
        spec = self.pod["spec"]
        for c in spec.get("initContainers") or []:
            self.slots.append(Slot(c, "sidecar" if c.get("restartPolicy") == "Always" else "init"))
        for c in spec.get("containers") or []:
            self.slots.append(Slot(c, "container"))
        ip = self.pod["status"].get("podIP", "")
        self.pod["status"] = {"phase": "Pending", "qosClass": "BestEffort", "podIP": ip}
        self.sync()
        self.task = asyncio.create_task(self._run())

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    # the pod's life

    def _scaled(self, seconds: float) -> float:
        return seconds * self.cluster.time_scale

    async def _run(self) -> None:
        try:
            self.pod["status"]["startTime"] = now_rfc3339()
            for slot in self.slots:
                if slot.kind == "container":
                    continue
                await self._run_init_or_sidecar(slot)
            for slot in self.slots:
                if slot.kind == "container":
                    await self._start(slot)
            while not self.stopped:
                await asyncio.sleep(self._scaled(0.5))
                for slot in self.slots:
                    if slot.kind != "init":
                        await self._watch(slot)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # pragma: no cover - a bug in the fake: make it visible
            self.cluster.errors.append(f"pod {self.name}: {type(exc).__name__}: {exc}")
            raise

    async def _pull(self, slot: Slot) -> bool:
        image = slot.spec["image"]
        if self.backend.image(image) is not None and image not in self.cluster.hooks.broken_images:
            return True
        message = f'Back-off pulling image "{image}"'
        slot.waiting = ("ErrImagePull", f'rpc error: pull access denied for "{image}"')
        self.sync()
        self.cluster.event(
            self.pod, "Failed", f'Failed to pull image "{image}": not found', "Warning"
        )
        await asyncio.sleep(self._scaled(0.2))
        slot.waiting = ("ImagePullBackOff", message)
        self.sync()
        while not self.stopped:
            await asyncio.sleep(self._scaled(0.5))
            if (
                self.backend.image(image) is not None
                and image not in self.cluster.hooks.broken_images
            ):
                return True
        return False

    async def _run_init_or_sidecar(self, slot: Slot) -> None:
        while not self.stopped:
            if not await self._pull(slot):
                return
            await self._start(slot)
            if slot.kind == "sidecar":
                await self._until_started(slot)
                return
            proc = slot.proc
            assert proc is not None
            code = proc.exit_code
            slot.terminated = self._terminated(proc, code or 0)
            slot.waiting = None
            self.sync()
            if code == 0:
                return
            slot.last_terminated, slot.terminated = slot.terminated, None
            slot.restarts += 1
            slot.waiting = ("CrashLoopBackOff", f"back-off restarting failed container {slot.name}")
            self.sync()
            await asyncio.sleep(self._scaled(min(0.2 * slot.restarts, 1.0)))

    async def _until_started(self, slot: Slot) -> None:
        if "startupProbe" not in slot.spec:
            slot.started = True
            return
        probe = slot.spec["startupProbe"]
        while not self.stopped and not slot.started:
            if await self._probe(slot, probe, "Startup"):
                slot.started = True
                self.sync()
                return
            await asyncio.sleep(self._scaled(probe.get("periodSeconds", 10)))

    def _terminated(self, proc: FakeContainer, code: int) -> JSON:
        return {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": now_rfc3339(),
            "finishedAt": now_rfc3339(),
            "containerID": f"fake://{proc.container_id}",
        }

    def _env(self, spec: JSON) -> dict[str, str]:
        env: dict[str, str] = {}
        for e in spec.get("env") or []:
            if "value" in e:
                env[e["name"]] = e["value"]
            elif "valueFrom" in e and "secretKeyRef" in e["valueFrom"]:
                ref = e["valueFrom"]["secretKeyRef"]
                data = self.cluster.secret_data(self.ns, ref["name"])
                if ref["key"] in data:
                    env[e["name"]] = data[ref["key"]].decode(errors="replace")
            elif "valueFrom" in e and "configMapKeyRef" in e["valueFrom"]:
                ref = e["valueFrom"]["configMapKeyRef"]
                cm = self.cluster.store.get("ConfigMap", self.ns, ref["name"]) or {}
                if ref["key"] in (cm.get("data") or {}):
                    env[e["name"]] = cm["data"][ref["key"]]
        return env

    def _files(self, spec: JSON) -> ContainerFiles:
        files = ContainerFiles()
        image = self.backend.image(spec["image"])
        if image is not None:
            files.own.update(image.files)
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        for m in spec.get("volumeMounts") or []:
            vol = volumes.get(m["name"])
            path = m["mountPath"].rstrip("/")
            if vol is None or "persistentVolumeClaim" in vol:
                claim = (
                    vol["persistentVolumeClaim"]["claimName"] if vol else f"{m['name']}-{self.name}"
                )
                files.mounts.append((path, self.cluster.claim_files(self.ns, claim)))
            elif "emptyDir" in vol:
                files.mounts.append((path, self.volumes.setdefault(m["name"], {})))
            elif "secret" in vol or "configMap" in vol:
                if "secret" in vol:
                    data = self.cluster.secret_data(self.ns, vol["secret"]["secretName"])
                else:
                    cm = (
                        self.cluster.store.get("ConfigMap", self.ns, vol["configMap"]["name"]) or {}
                    )
                    data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
                if "subPath" in m:
                    if m["subPath"] in data:
                        files.own[path] = data[m["subPath"]]
                else:
                    for key, value in data.items():
                        files.own[f"{path}/{key}"] = value
        return files

    async def _start(self, slot: Slot) -> None:
        if not await self._pull(slot):
            return
        spec = slot.spec
        image = self.backend.image(spec["image"])
        assert image is not None
        role = {"init": ServiceRole.INIT, "sidecar": ServiceRole.SIDECAR}.get(
            slot.kind, ServiceRole.MAIN
        )
        proc = FakeContainer(
            service=slot.name,
            replica=self.replica,
            role=role,
            image=image,
            env=self._env(spec),
            files=self._files(spec),
            ports=[p["containerPort"] for p in spec.get("ports") or []],
            image_ref=spec["image"],
        )
        if slot.proc is not None:
            slot.previous = slot.proc
        slot.proc = proc
        svc = ServiceSpec(
            name=slot.name,
            image=spec["image"],
            role=role,
            command=list(spec.get("command") or []),
            args=list(spec.get("args") or []),
        )
        slot.waiting = None
        slot.terminated = None
        crash = self.cluster.hooks.crash_containers.get(slot.name)
        await start_container(self.backend, proc, svc, time_scale=self.cluster.time_scale)
        if crash is not None and slot.kind != "init":
            self.backend.emit(proc, f"crashing with exit code {crash} (hook)", "stderr")
            stop_container(self.backend, proc)
            proc.exit_code = crash
        slot.ready = slot.kind != "init" and "readinessProbe" not in spec and proc.running
        slot.started = proc.running and "startupProbe" not in spec
        self.sync()
        if slot.kind != "init" and "readinessProbe" in spec:
            self.probes.append(asyncio.create_task(self._readiness(slot, proc)))

    async def _watch(self, slot: Slot) -> None:
        proc = slot.proc
        if proc is None or proc.running or slot.waiting is not None:
            return
        slot.last_terminated = self._terminated(proc, proc.exit_code or 0)
        slot.restarts += 1
        slot.ready = False
        slot.waiting = ("CrashLoopBackOff", f"back-off restarting failed container {slot.name}")
        self.sync()
        await asyncio.sleep(self._scaled(min(0.3 * slot.restarts, 2.0)))
        if not self.stopped:
            await self._start(slot)

    async def _probe(self, slot: Slot, probe: JSON, what: str) -> bool:
        proc = slot.proc
        if proc is None:
            return False
        if slot.name in self.cluster.hooks.failing_probes:
            ok, observed = False, "probe failure injected by the test"
        else:
            outcome = await probe_outcome(self.backend, proc, _hc(probe))
            ok, observed = outcome.healthy, outcome.observed
        if not ok:
            self.cluster.event(
                self.pod,
                "Unhealthy",
                f"{what} probe failed: {observed}",
                "Warning",
                field_path=f"spec.containers{{{slot.name}}}",
            )
        return ok

    async def _readiness(self, slot: Slot, proc: FakeContainer) -> None:
        probe = slot.spec["readinessProbe"]
        threshold = probe.get("failureThreshold", 3)
        failures = 0
        await asyncio.sleep(self._scaled(probe.get("initialDelaySeconds", 0)))
        while not self.stopped and slot.proc is proc and proc.running:
            if await self._probe(slot, probe, "Readiness"):
                failures = 0
                if not slot.ready:
                    slot.ready = True
                    self.sync()
            else:
                failures += 1
                if failures >= threshold and slot.ready:
                    slot.ready = False
                    self.sync()
            await asyncio.sleep(self._scaled(probe.get("periodSeconds", 10)))

    # status

    def _status(self, slot: Slot) -> JSON:
        state: JSON
        if slot.waiting is not None:
            reason, message = slot.waiting
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        elif slot.terminated is not None:
            state = {"terminated": slot.terminated}
        elif slot.proc is not None and slot.proc.running:
            started = slot.proc.started_at
            at = started.strftime("%Y-%m-%dT%H:%M:%SZ") if started else now_rfc3339()
            state = {"running": {"startedAt": at}}
        elif slot.proc is not None:
            state = {"terminated": self._terminated(slot.proc, slot.proc.exit_code or 0)}
        else:
            state = {"waiting": {"reason": "PodInitializing"}}
        out: JSON = {
            "name": slot.name,
            "image": slot.spec["image"],
            "imageID": "",
            "ready": slot.ready,
            "restartCount": slot.restarts,
            "started": slot.started if slot.kind != "init" else False,
            "state": state,
        }
        if slot.last_terminated is not None:
            out["lastState"] = {"terminated": slot.last_terminated}
        if slot.proc is not None:
            out["containerID"] = f"fake://{slot.proc.container_id}"
        return out

    def sync(self) -> None:
        """Write the kubelet's view into the pod's status."""
        status = self.pod.setdefault("status", {})
        inits = [self._status(s) for s in self.slots if s.kind != "container"]
        mains = [self._status(s) for s in self.slots if s.kind == "container"]
        if inits:
            status["initContainerStatuses"] = inits
        status["containerStatuses"] = mains
        long_lived = [s for s in self.slots if s.kind != "init"]
        inits_done = all(
            s.terminated is not None and s.terminated.get("exitCode") == 0
            for s in self.slots
            if s.kind == "init"
        )
        running = any(s.proc is not None and s.proc.running for s in long_lived)
        ready = bool(long_lived) and all(s.ready for s in long_lived)
        status["phase"] = "Running" if running and inits_done else "Pending"
        status["hostIP"] = "10.0.0.254"
        status["conditions"] = [
            {
                "type": "Initialized",
                "status": "True" if inits_done else "False",
                "lastTransitionTime": now_rfc3339(),
            },
            {
                "type": "Ready",
                "status": "True" if ready else "False",
                "lastTransitionTime": now_rfc3339(),
            },
            {
                "type": "ContainersReady",
                "status": "True" if ready else "False",
                "lastTransitionTime": now_rfc3339(),
            },
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_rfc3339()},
        ]
        self.cluster.store.touch(self.pod)

    @property
    def ready(self) -> bool:
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in self.pod["status"].get("conditions", [])
        )

    async def stop(self) -> None:
        """Stop every process (graceful termination)."""
        self.stopped = True
        for t in self.probes:
            t.cancel()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        for slot in reversed(self.slots):
            if slot.proc is not None:
                stop_container(self.backend, slot.proc)


def decode_data(obj: JSON | None) -> dict[str, bytes]:
    """A Secret's data, decoded (``stringData`` merged as the server does)."""
    if obj is None:
        return {}
    out = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    out.update({k: v.encode() for k, v in (obj.get("stringData") or {}).items()})
    return out


Hook = Callable[[JSON], None]
_ = micro_time
