"""The job and deployment endpoints of the fake agent.

Register (``PUT /v1/jobs``, ``/v1/job/:id``; ``EnforceIndex`` with ``JobModifyIndex`` as a
check-and-set, ``0`` meaning "only if it does not exist"), read, list (``prefix``;
``meta``/``filter`` from 1.4), versions, stability (``/v1/job/:id/stable``), revert, stop
and purge (``DELETE``; an unknown job answers 200 with an evaluation, as a real agent
does), allocations, evaluations, deployments (in no particular order, as a real agent
lists them), promote, fail and allocation health (``health_check = "manual"``).

Answers follow what a 1.1.2 agent sent (see ``docs/nomad.md`` and
``tests/nomad/test_fake_truth.py``): validation errors are 500 with Nomad's nested
multierror text, unknown fields are accepted (and recorded), promote or fail of an
unknown or terminal deployment is 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from .filters import FilterError, compile_filter
from .multierror import render
from .replies import eval_reply, text
from .schema import review_job

if TYPE_CHECKING:
    from .jobs import AgentState
    from .server import FakeNomadAgent

__all__ = ["JobsApi"]

JSON = dict[str, Any]
_REGISTER_FIELDS = {
    "Job",
    "EnforceIndex",
    "JobModifyIndex",
    "PreserveCounts",
    "PolicyOverride",
    "EvalPriority",
    "Submission",
}
_ENFORCE = "Enforcing job modify index"


def _ns(request: web.Request) -> str:
    return request.query.get("namespace") or "default"


def _everything(job: Any) -> bool:
    return True


class JobsApi:
    """Jobs, evaluations and deployments of one agent."""

    def __init__(self, agent: FakeNomadAgent) -> None:
        self.agent = agent

    @property
    def state(self) -> AgentState:
        return self.agent.state

    def routes(self, r: web.UrlDispatcher) -> None:
        r.add_get("/v1/jobs", self.list_jobs)
        r.add_route("PUT", "/v1/jobs", self.register)
        r.add_route("POST", "/v1/jobs", self.register)
        r.add_get("/v1/job/{id}", self.read_job)
        r.add_route("POST", "/v1/job/{id}", self.register)
        r.add_route("PUT", "/v1/job/{id}", self.register)
        r.add_delete("/v1/job/{id}", self.deregister)
        r.add_get("/v1/job/{id}/versions", self.versions)
        r.add_route("POST", "/v1/job/{id}/stable", self.stable)
        r.add_route("PUT", "/v1/job/{id}/stable", self.stable)
        r.add_route("POST", "/v1/job/{id}/revert", self.revert)
        r.add_route("PUT", "/v1/job/{id}/revert", self.revert)
        r.add_get("/v1/job/{id}/allocations", self.job_allocs)
        r.add_get("/v1/job/{id}/evaluations", self.job_evals)
        r.add_get("/v1/evaluation/{id}", self.read_eval)
        r.add_get("/v1/job/{id}/deployment", self.latest_deployment)
        r.add_get("/v1/job/{id}/deployments", self.deployments)
        for verb in ("POST", "PUT"):
            r.add_route(verb, "/v1/deployment/promote/{id}", self.promote)
            r.add_route(verb, "/v1/deployment/fail/{id}", self.fail_deployment)
            r.add_route(verb, "/v1/deployment/allocation-health/{id}", self.allocation_health)

    # -- register -------------------------------------------------------------------------

    def _enforce(self, body: JSON, current: int | None) -> str:
        """Why an ``EnforceIndex`` registration is refused (``""``: it is not)."""
        if not body.get("EnforceIndex"):
            return ""
        wanted = int(body.get("JobModifyIndex", 0) or 0)
        if wanted == 0 and current is not None:
            return f"{_ENFORCE} 0: job already exists"
        if wanted and current is None:
            return f"{_ENFORCE} {wanted}: job does not exist"
        if wanted and wanted != current:
            return f"{_ENFORCE} {wanted}: job exists with conflicting job modify index: {current}"
        return ""

    async def register(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError as exc:
            return text(400, f"Request body could not be decoded: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("Job"), dict):
            return text(400, "Job must be specified")
        self.agent.note_unknown("register request", set(body) - _REGISTER_FIELDS)
        job = body["Job"]
        ns = _ns(request)
        review = review_job(job, namespace=ns, version=self.agent.features)
        if review.decode:
            return text(400, f"Request body could not be decoded: {review.decode[0]}")
        self.agent.note_unknown(f"job {job.get('ID')}", review.unknown)
        self.agent.lenient.extend(review.lenient)
        if review.invalid:
            return text(500, render(review.invalid))
        if ns not in self.agent.namespaces:
            return text(500, f'job "{job["ID"]}" is in nonexistent namespace "{ns}"')
        if "id" in request.match_info and request.match_info["id"] != job["ID"]:
            return text(400, "Job ID does not match name")
        state = self.state.job(ns, job["ID"])
        refused = self._enforce(body, state.modify_index if state is not None else None)
        if refused:
            return text(500, refused)
        stored, changed = self.state.register(ns, job)
        state = self.state.job(ns, job["ID"])
        assert state is not None  # registered just above
        if state.parameterized:
            return eval_reply(stored["JobModifyIndex"], evaluated=False)
        if not changed:
            ev = self.state.evaluate(state, stored, "job-register")
            return eval_reply(ev["CreateIndex"], stored["JobModifyIndex"])
        return eval_reply(stored["JobModifyIndex"])

    # -- reading --------------------------------------------------------------------------

    async def list_jobs(self, request: web.Request) -> web.Response:
        """``JobListStub`` objects of the namespace by ID (``prefix`` applied); from 1.4
        filtered by ``filter`` (the subset in :mod:`.filters`) and with ``Meta`` when
        ``meta=true``; before 1.4 both are ignored, as a 1.1.2 agent did."""
        modern = self.agent.features.list_meta_and_filter
        expr = request.query.get("filter", "") if modern else ""
        try:
            keep = compile_filter(expr) if expr else _everything
        except FilterError as exc:
            return text(400, str(exc))
        with_meta = modern and request.query.get("meta") == "true"
        prefix = request.query.get("prefix", "")
        out = []
        for (ns, job_id), state in sorted(self.state.jobs.items()):
            if ns != _ns(request) or not job_id.startswith(prefix) or not keep(state.current):
                continue
            job = state.current
            stub: JSON = {
                "ID": job_id,
                "ParentID": job.get("ParentID", ""),
                "Name": job.get("Name", job_id),
                "Namespace": ns,
                "Datacenters": job.get("Datacenters"),
                "Type": job.get("Type", "service"),
                "Priority": job.get("Priority", 50),
                "Periodic": False,
                "ParameterizedJob": bool(job.get("ParameterizedJob")),
                "Stop": bool(job.get("Stop")),
                "Status": self.state.job_status(state),
                "StatusDescription": "",
                "JobSummary": None,
                "CreateIndex": job["CreateIndex"],
                "ModifyIndex": job["ModifyIndex"],
                "JobModifyIndex": job["JobModifyIndex"],
                "SubmitTime": job["SubmitTime"],
            }
            if with_meta:
                stub["Meta"] = dict(job.get("Meta") or {})
            out.append(stub)
        return web.json_response(out)

    async def read_job(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return text(404, "job not found")
        job = dict(state.current)
        job["Status"] = self.state.job_status(state) if not job.get("Stop") else "dead"
        return web.json_response(job)

    async def versions(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return text(404, "job versions not found")
        return web.json_response({"Versions": list(reversed(state.versions)), "Diffs": None})

    async def stable(self, request: web.Request) -> web.Response:
        """Mark a job version stable or not (``Stable``); Nomad reverts only to stable
        versions."""
        body = await request.json()
        self.agent.note_unknown("stability request", set(body) - {"JobID", "JobVersion", "Stable"})
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return text(404, "job not found")
        wanted = next((v for v in state.versions if v["Version"] == body.get("JobVersion")), None)
        if wanted is None:
            return text(
                500,
                f"job {request.match_info['id']!r} at version {body.get('JobVersion')} not found",
            )
        wanted["Stable"] = bool(body.get("Stable"))
        index = self.state.tick()
        return web.json_response({"JobModifyIndex": index, "Index": index})

    async def revert(self, request: web.Request) -> web.Response:
        body = await request.json()
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None:
            return text(404, "job not found")
        wanted = next((v for v in state.versions if v["Version"] == body.get("JobVersion")), None)
        if wanted is None:
            return text(500, f"job version {body.get('JobVersion')} not found")
        job = {k: v for k, v in wanted.items() if k not in {"Version", "Stable", "Status"}}
        stored, _ = self.state.register(_ns(request), job)
        return eval_reply(stored["JobModifyIndex"])

    async def deregister(self, request: web.Request) -> web.Response:
        """Stop (a new version with ``Stop``) or purge; an unknown job is fine (200)."""
        ns, job_id = _ns(request), request.match_info["id"]
        state = self.state.job(ns, job_id)
        if request.query.get("purge") == "true":
            await self.state.purge(ns, job_id)
            return eval_reply(self.state.tick(), deregister=True)
        if state is None:
            return eval_reply(self.state.tick(), deregister=True)
        job = dict(state.current)
        job["Stop"] = True
        stored, _ = self.state.register(ns, job)
        return eval_reply(stored["JobModifyIndex"], deregister=True)

    async def job_allocs(self, request: web.Request) -> web.Response:
        allocs = self.state.job_allocs(_ns(request), request.match_info["id"])
        return web.json_response([a.stub() for a in allocs])

    async def job_evals(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        return web.json_response([] if state is None else list(reversed(state.evals)))

    async def read_eval(self, request: web.Request) -> web.Response:
        for (ns, _), state in self.state.jobs.items():
            for ev in state.evals:
                if ns == _ns(request) and ev["ID"] == request.match_info["id"]:
                    return web.json_response(ev)
        return text(404, "eval not found")

    async def latest_deployment(self, request: web.Request) -> web.Response:
        state = self.state.job(_ns(request), request.match_info["id"])
        if state is None or not state.deployments:
            return web.json_response(None)
        return web.json_response(max(state.deployments, key=lambda d: d["CreateIndex"]))

    async def deployments(self, request: web.Request) -> web.Response:
        """The job's deployments in no particular order (a real agent lists them in its
        state store's order, not by time)."""
        state = self.state.job(_ns(request), request.match_info["id"])
        found = [] if state is None else sorted(state.deployments, key=lambda d: d["ID"])
        return web.json_response(found)

    # -- deployments ----------------------------------------------------------------------

    def _active(self, request: web.Request, refusal: str) -> tuple[Any, JSON] | web.Response:
        """The running deployment the request names, or the agent's 500 (unknown, or
        ``refusal`` when it ended)."""
        found = self.state.deployment(request.match_info["id"])
        if found is None:
            return text(500, "deployment not found")
        if found[1]["Status"] != "running":
            return text(500, refusal)
        return found

    async def promote(self, request: web.Request) -> web.Response:
        found = self._active(request, "can't promote terminal deployment")
        if isinstance(found, web.Response):
            return found
        state, dep = found
        group_name, group = next(iter(dep["TaskGroups"].items()))
        canaries = [a for a in state.allocs if a.id in (group.get("PlacedCanaries") or [])]
        healthy = sum(1 for a in canaries if a.healthy)
        if healthy < int(group.get("DesiredCanaries", 0)):
            return text(
                500,
                f'Task group "{group_name}" has {healthy}/{group["DesiredCanaries"]} healthy '
                "allocations",
            )
        state.promote.set()
        return web.json_response({"DeploymentModifyIndex": self.state.tick(), "EvalID": ""})

    async def fail_deployment(self, request: web.Request) -> web.Response:
        found = self._active(request, "can't fail terminal deployment")
        if isinstance(found, web.Response):
            return found
        state, dep = found
        self.state.fail(state, dep)
        return web.json_response({"DeploymentModifyIndex": self.state.tick(), "EvalID": ""})

    async def allocation_health(self, request: web.Request) -> web.Response:
        """Set the health of a deployment's allocations (``HealthCheck = "manual"``)."""
        found = self._active(request, "can't set health of allocations for a terminal deployment")
        if isinstance(found, web.Response):
            return found
        state, dep = found
        body = await request.json()
        self.agent.note_unknown(
            "allocation health request",
            set(body) - {"DeploymentID", "HealthyAllocationIDs", "UnhealthyAllocationIDs"},
        )
        verdicts = [(i, True) for i in body.get("HealthyAllocationIDs") or []]
        verdicts += [(i, False) for i in body.get("UnhealthyAllocationIDs") or []]
        mine = {a.id: a for a in state.allocs if a.deployment_id == dep["ID"]}
        for alloc_id, _ in verdicts:
            if alloc_id not in mine:
                return text(500, f"Allocation {alloc_id!r} is not part of deployment")
        for alloc_id, healthy in verdicts:
            mine[alloc_id].set_health(healthy)
        return web.json_response({"DeploymentModifyIndex": self.state.tick(), "EvalID": ""})
