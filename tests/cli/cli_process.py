"""Running the real ``ctrlplane`` command as a subprocess, from a project directory, with
an environment of the test's own (none of the developer's ``CTRLPLANE_*``/``NOMAD_*``
variables or kubeconfig leak in)."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EXE", "Target", "base_env"]

EXE = str(Path(sys.executable).with_name("ctrlplane"))


@dataclass
class Target:
    """Where the CLI runs: its working directory and environment."""

    cwd: Path
    env: dict[str, str]
    name: str  # the provider name the CLI reports

    async def run(self, *args: str) -> tuple[int, str, str]:
        """Run ``ctrlplane ARGS``; (exit code, stdout, stderr)."""
        proc = await asyncio.create_subprocess_exec(
            EXE,
            *args,
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    async def ok(self, *args: str) -> str:
        """Run ``ctrlplane ARGS``, which must exit 0; its stdout."""
        code, out, err = await self.run(*args)
        assert code == 0, f"{args}: exit {code}\n{out}\n{err}"
        return out


def base_env(tmp_path: Path) -> dict[str, str]:
    """This process' environment without ctrlplane's, Nomad's or kubectl's settings; the
    config and state directories under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRLPLANE_", "NOMAD_"))}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    env.pop("KUBECONFIG", None)
    return env
