"""``up -f FILE``: create an instance, or converge the live one to the file.

Like ``kubectl apply`` or ``docker compose up``: the first ``up`` provisions; the next
ones compare the file with the live release (:mod:`ctrlplane.cli.converge`) and

- deploy what a deploy changes (image, env, health check) with ``--strategy``;
- scale the main service's replicas, cpu and memory (fewer replicas before the deploy,
  more after it, so fewer units are rolled);
- refuse (exit 2, nothing changed) what only re-creating the instance changes, naming
  each difference, unless ``--recreate`` is given: then the instance is removed and
  provisioned again under the same ID (its volumes and release history start over);
- say ``unchanged`` when nothing differs; start the instance if it is stopped;
- provision an instance whose provision never finished (its process was killed: status
  reports the provision interrupted, or no release is recorded) instead of comparing it:
  the backend's repair finishes or undoes what was left first
  (:func:`~ctrlplane.cli.up_flow.unfinished_provision`).

The instance is the one of ``--instance-id``, else the one running a workload of the
file's name in the tenant (several: refused, exit 2), else the one whose volumes
``down --keep-volumes`` kept on this machine (:mod:`ctrlplane.cli.kept_volumes`: its
data is found again), else a new one.
"""

from __future__ import annotations

from typing import Any

import click

from ctrlplane.cli.context import CliState, pass_state, run
from ctrlplane.cli.options import DURATION, global_options, workload_file_option
from ctrlplane.cli.workload_input import WorkloadInput, read_input

__all__ = ["up_cmd"]

STRATEGIES = ("rolling", "blue-green", "canary")


@click.command("up")
@workload_file_option("Workload file or Compose file (YAML or JSON); - reads standard input.")
@click.option(
    "--instance-id",
    default=None,
    help="Use this instance ID (default: the existing instance of the same workload name "
    "and tenant, else the one whose volumes down --keep-volumes kept, else a new one).",
)
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    default="rolling",
    show_default=True,
    help="How changed services are rolled out on an existing instance.",
)
@click.option(
    "--recreate",
    is_flag=True,
    help="Apply differences a deploy cannot (ports, command, volumes, services...) by "
    "removing the instance and provisioning it again under the same ID.",
)
@click.option(
    "--timeout",
    type=DURATION,
    default="10m",
    show_default=True,
    help="How long to wait for the instance to run (2m, 90s, 300).",
)
@global_options()
@pass_state
def up_cmd(
    state: CliState,
    file: str,
    instance_id: str | None,
    strategy: str,
    recreate: bool,
    timeout: float,
) -> None:
    """Create or converge an instance from a workload or Compose file, and wait until it runs.

    The first run provisions the instance. Later runs compare the file with the live
    release and converge, like kubectl apply: changed image, env or health check are
    deployed (--strategy), the main service's replicas, cpu and memory are scaled, and
    "unchanged" is printed when nothing differs. What only re-creating the instance
    changes (ports, command, volumes, secrets, services added or removed...) is refused
    (exit 2) and named, unless --recreate is given. After down --keep-volumes, up
    provisions the same instance ID again, so the kept volumes' data is found. An
    instance whose provision was
    interrupted (its process killed) is provisioned: the backend first finishes or undoes
    what was left. Several instances of that name in
    the tenant: refused (exit 2), listing them. Progress is shown on stderr; Ctrl-C
    cancels: what was created is removed, and the state left is printed.

    Example: ctrlplane up -f examples/hello-web.yaml --timeout 2m
    """
    from ctrlplane.cli.up_flow import UpFlow

    workload: WorkloadInput = read_input(file)
    if not state.json:
        for note in workload.notes():
            click.echo(note, err=True)
    flow = UpFlow(state, workload, file, strategy=strategy, recreate=recreate, timeout=timeout)
    try:
        outcome: dict[str, Any] = run(flow.go(instance_id))
    except KeyboardInterrupt:
        from ctrlplane.cli.progress import report_interrupted

        report_interrupted(flow.provider, flow.instance_id)
    flow.show(outcome)
