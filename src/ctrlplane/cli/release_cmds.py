"""``releases`` (what each retained release changed) and ``rollback`` (``--to`` a revision
number or a release-ID prefix).

Revisions number the retained releases oldest first: revision 1 is the oldest release
still retained (older ones are pruned past the provider's history depth, so numbers
shift when a release is pruned; IDs never do). ``--to`` takes a revision number, a whole
release ID, or a unique prefix of one (with or without ``rel_``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from ctrlplane.cli.completion import complete_instances
from ctrlplane.cli.context import CliState, pass_state, resolve_instance, run
from ctrlplane.cli.operations import probe_intervals, rollback_with_progress
from ctrlplane.cli.options import DURATION, global_options
from ctrlplane.cli.output import echo_table, emit_json
from ctrlplane.cli.progress import run_on_instance
from ctrlplane.errors import InvalidSpec, NotSupported, Problem, ReleaseNotFound
from ctrlplane.provider import Provider, Release, ReleaseHistory

__all__ = ["pick_release", "release_changes", "releases_cmd", "rollback_cmd"]


def _history(provider: Provider, state: CliState) -> ReleaseHistory:
    if not isinstance(provider, ReleaseHistory):
        raise NotSupported(state.chosen_provider, "releases", detail="no release history")
    return provider


def release_changes(release: Release, before: Release | None) -> list[str]:
    """What ``release`` changed against the release ``before`` it, per service:
    ``web: image app:1 -> app:2``, ``web: env +A ~B -C`` (keys only), ``web: health_check``;
    ``["initial release"]`` without one before; a rollback says what it restored."""
    if before is None:
        return ["initial release"]
    out: list[str] = []
    old = {s.name: s for s in before.services}
    for svc in release.services:
        prev = old.get(svc.name)
        if prev is None:
            out.append(f"{svc.name}: added")
            continue
        parts = []
        if prev.image != svc.image:
            parts.append(f"image {prev.image} -> {svc.image}")
        keys = [f"+{k}" for k in svc.env if k not in prev.env]
        keys += [f"~{k}" for k in svc.env if k in prev.env and prev.env[k] != svc.env[k]]
        keys += [f"-{k}" for k in prev.env if k not in svc.env]
        if keys:
            parts.append("env " + " ".join(keys))
        if prev.health_check != svc.health_check:
            parts.append("health_check")
        if parts:
            out.append(f"{svc.name}: {', '.join(parts)}")
    if release.rollback_of:
        out.insert(0, f"rollback to {release.rollback_of}")
    return out or ["no change (redeploy)"]


def _revisions(history: Sequence[Release]) -> list[tuple[int, Release, Release | None]]:
    """(revision, release, the release before it), newest first."""
    oldest_first = list(reversed(history))
    rows = [(i + 1, r, oldest_first[i - 1] if i else None) for i, r in enumerate(oldest_first)]
    return list(reversed(rows))


def pick_release(history: Sequence[Release], wanted: str, instance_id: str) -> Release:
    """The release ``wanted`` names: a revision number, an ID, or a unique ID prefix."""
    known = [r.release_id for r in history]
    if wanted.isdigit():
        number = int(wanted)
        oldest_first = list(reversed(history))
        if 1 <= number <= len(oldest_first):
            return oldest_first[number - 1]
        raise ReleaseNotFound(instance_id, f"revision {number}", known=[f"1..{len(oldest_first)}"])
    prefix = wanted if wanted.startswith("rel_") else f"rel_{wanted}"
    found = [r for r in history if r.release_id.startswith(prefix)]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise InvalidSpec(
            [
                Problem(
                    "--to",
                    f"{wanted!r} matches {len(found)} releases: "
                    + ", ".join(r.release_id for r in found),
                )
            ],
            subject="option",
        )
    raise ReleaseNotFound(instance_id, wanted, known=known)


@click.command("releases")
@click.argument("instance", shell_complete=complete_instances)
@global_options()
@pass_state
def releases_cmd(state: CliState, instance: str) -> None:
    """List an instance's retained releases and what each changed.

    Newest first; * marks the live one; REV is the revision number rollback --to
    takes (1 is the oldest retained). CHANGES says what a release changed against the
    one before it: images, env keys added (+), changed (~) or removed (-), health
    checks, and which release a rollback restored.

    Example: ctrlplane releases hello-web
    """
    provider = state.provider()

    async def go() -> tuple[str, list[Release]]:
        iid, _ = await resolve_instance(provider, instance, state.tenant_id)
        return iid, await _history(provider, state).releases(iid)

    iid, history = run(go())
    rows = _revisions(history)
    if state.json:
        releases: list[dict[str, Any]] = []
        for number, release, before in rows:
            doc = release.to_wire()
            doc["revision"] = number
            doc["changes"] = release_changes(release, before)
            releases.append(doc)
        emit_json({"instance_id": iid, "releases": releases})
        return
    echo_table(
        ["", "rev", "release", "created", "strategy", "changes"],
        [
            [
                "*" if r.live else "",
                number,
                r.release_id,
                r.created_at.isoformat(timespec="seconds"),
                r.strategy or ("rollback" if r.rollback_of else "provision"),
                "; ".join(release_changes(r, before)),
            ]
            for number, r, before in rows
        ],
    )


@click.command("rollback")
@click.argument("instance", shell_complete=complete_instances)
@click.option(
    "--to",
    "to",
    default="",
    metavar="REV|RELEASE",
    help="Release to restore: a revision number (see releases), a release ID or a unique "
    "prefix of one (default: the release before the live one).",
)
@click.option(
    "--timeout", type=DURATION, default="15m", show_default=True, help="How long it may take."
)
@global_options()
@pass_state
def rollback_cmd(state: CliState, instance: str, to: str, timeout: float) -> None:
    """Restore an earlier release exactly (recorded as a new release).

    --to takes a revision number (ctrlplane releases shows them), a release ID or a
    unique prefix of one. Progress is shown on stderr. A restore that fails its health
    gate exits 7 (the release before it runs again) or 8 (it could not be restored).
    Ctrl-C cancels and says what state the instance was left in.

    Example: ctrlplane rollback hello-web --to 1
    """
    provider = state.provider()

    async def go(iid: str) -> str:
        history = await _history(provider, state).releases(iid)
        if to:
            target = pick_release(history, to, iid)
        else:
            live_at = next((i for i, r in enumerate(history) if r.live), 0)
            if live_at + 1 >= len(history):
                raise click.UsageError("there is no earlier release to roll back to")
            target = history[live_at + 1]
        intervals = probe_intervals({s.name: s.health_check for s in target.services})
        await rollback_with_progress(
            state, provider, iid, target.release_id, intervals=intervals, limit=timeout
        )
        return target.release_id

    iid, restored = run_on_instance(provider, instance, state.tenant_id, go)
    if state.json:
        emit_json({"instance_id": iid, "restored": restored})
    else:
        click.echo(f"rolled {iid} back to {restored}")
