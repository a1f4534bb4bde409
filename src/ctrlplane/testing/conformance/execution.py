"""Contract: exec (argv only, stdout, stderr, exit code, stdin, per service)."""

from __future__ import annotations

import pytest

from ctrlplane.errors import InvalidSpec
from ctrlplane.provider.capabilities import Capability
from ctrlplane.provider.enums import ServiceRole
from ctrlplane.provider.spec import ExecRequest
from ctrlplane.testing.conformance.context import SuiteContext

__all__ = ["ExecContract"]


class ExecContract:
    """``exec``."""

    async def _app(self, suite: SuiteContext) -> str:
        suite.require(Capability.PROVISION, Capability.EXEC)
        h = suite.harness
        side = h.idle_service("side", env={"ROLE": "side"}).model_copy(
            update={"role": ServiceRole.SIDECAR}
        )
        req, _ = await suite.provision(h.idle_service("app", env={"ROLE": "main"}), side)
        return req.instance_id

    async def test_exec_returns_stdout_and_exit_code(self, suite: SuiteContext) -> None:
        iid = await self._app(suite)
        res = await suite.run(iid, "echo", "hello", "world")
        assert (res.exit_code, res.stdout, res.stderr) == (0, b"hello world\n", b"")

    async def test_exec_returns_stderr_and_a_failing_exit_code(self, suite: SuiteContext) -> None:
        iid = await self._app(suite)
        res = await suite.run(iid, "sh", "-c", "echo out; echo err >&2; exit 3")
        assert (res.exit_code, res.stdout, res.stderr) == (3, b"out\n", b"err\n")

    async def test_exec_passes_stdin(self, suite: SuiteContext) -> None:
        iid = await self._app(suite)
        data = b"first line\nsecond line\n"
        res = await suite.run(iid, "cat", stdin=data)
        assert (res.exit_code, res.stdout) == (0, data)

    async def test_exec_of_an_unknown_program_exits_127(self, suite: SuiteContext) -> None:
        iid = await self._app(suite)
        res = await suite.run(iid, "sh", "-c", "no-such-program-here")
        assert res.exit_code == 127

    async def test_exec_rejects_a_shell_string(self, suite: SuiteContext) -> None:
        iid = await self._app(suite)
        with pytest.raises(InvalidSpec):
            ExecRequest(command="echo hello")
        smuggled = ExecRequest.model_construct(command=["echo"], stdin=None, tty=False)
        object.__setattr__(smuggled, "command", "echo hello")  # bypasses validation
        with pytest.raises(InvalidSpec):
            await suite.provider.exec(iid, smuggled)

    async def test_exec_runs_in_the_named_service(self, suite: SuiteContext) -> None:
        iid = await self._app(suite)
        main = await suite.run(iid, "printenv", "ROLE")
        side = await suite.run(iid, "printenv", "ROLE", service="side")
        assert (main.exit_code, main.stdout) == (0, b"main\n")
        assert (side.exit_code, side.stdout) == (0, b"side\n")
