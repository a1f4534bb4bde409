"""``python -m bench.manager``: a process managing many instances (B3's set-up).

It provisions one idle instance per ID in ``--ids-file`` (``--concurrency`` at a time,
default settings of the Docker backend), then lists the instances once and reads the
status of every one (again ``--concurrency`` at a time), and prints one JSON object:
``provisioned``, ``errors`` (the first few), ``provision_s``, ``listed``, ``list_s``,
``status_ok``, ``status_s``. The parent measures its peak RSS: the memory of a process
that manages that many instances. It removes nothing: the parent owns the instances
(it minted their IDs) and deprovisions them, also when this process is killed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench.workload import idle_request
from ctrlplane.provider.docker import DockerConfig, DockerProvider

__all__ = ["main"]


async def _bounded(
    items: Sequence[str], work: Callable[[str], Awaitable[object]], concurrency: int
) -> list[str]:
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(item: str) -> None:
        async with gate:
            try:
                await work(item)
            except Exception as exc:
                errors.append(f"{item}: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(i) for i in items))
    return errors


async def _manage(args: argparse.Namespace, ids: list[str]) -> dict[str, object]:
    labels = dict(item.split("=", 1) for item in args.label)
    provider = DockerProvider(DockerConfig(docker_host=args.engine))

    async def provision(iid: str) -> None:
        await provider.provision(
            idle_request(iid, tenant=args.tenant, labels=labels, name=f"b3-{iid[-6:]}")
        )

    started = time.monotonic()
    errors = await _bounded(ids, provision, args.concurrency)
    provision_s = time.monotonic() - started
    started = time.monotonic()
    listed = await provider.list_instances(args.tenant)
    list_s = time.monotonic() - started
    started = time.monotonic()
    status_errors = await _bounded(ids, provider.status, args.concurrency)
    status_s = time.monotonic() - started
    return {
        "provisioned": len(ids) - len(errors),
        "errors": (errors + status_errors)[:5],
        "provision_s": provision_s,
        "listed": len(listed),
        "list_s": list_s,
        "status_ok": len(ids) - len(status_errors),
        "status_s": status_s,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.manager", description=__doc__)
    p.add_argument("--engine", required=True, help="docker_host of the engine")
    p.add_argument("--tenant", required=True)
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--ids-file", required=True, help="instance IDs, one a line")
    p.add_argument("--concurrency", type=int, default=16)
    args = p.parse_args(argv)
    report = asyncio.run(_manage(args, Path(args.ids_file).read_text().split()))
    print(json.dumps(report))
    return 0 if not report["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
