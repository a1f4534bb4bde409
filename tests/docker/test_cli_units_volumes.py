"""``ctrlplane ps`` and ``ctrlplane down --keep-volumes`` on the REAL engine (issue 16):

- ``ps`` prints one row per replica unit (service, replica, release, image, state,
  health, restarts, ports, age) of a two-replica service with a sidecar, and ``-o json``
  the same rows; only the instance's units, never its other containers;
- ``down --keep-volumes`` keeps the named volume, and the next ``up`` of the same file
  finds the data written before it; a plain ``down`` removes the volumes.

Every instance ID is minted by ``make_id`` (nothing may be left behind), and every
instance is taken down by ``ctrlplane down``. Test commands trap SIGTERM so stops are quick.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from .test_cli_converge_and_compose import IMAGE, Cli, cli

__all__ = ["cli"]  # the fixture: ctrlplane in a project directory with fast Docker settings

UNITS = """\
name: {name}
services:
  - name: web
    image: {image}
    command: ["sh", "-c"]
    args:
      - |
        trap 'exit 0' TERM
        mkdir -p /www && echo ok > /www/healthz
        httpd -f -p 8080 -h /www &
        wait
    ports: [{{container: 8080}}]
    resources: {{replicas: 2}}
    health_check: {{path: /healthz, port: 8080, interval: 0.3, timeout: 0.3, retries: 5}}
  - name: side
    role: sidecar
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
"""

VOLUMES = """\
name: {name}
services:
  - name: db
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
    volumes: [{{name: data, mount_path: /data}}]
"""


def _docker(*args: str) -> list[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout
    return out.split()


def _containers(instance_id: str) -> list[str]:
    """IDs of every container on the engine labelled with the instance (any kind)."""
    return _docker(
        "ps", "-aq", "--no-trunc", "--filter", f"label=io.ctrlplane.instance={instance_id}"
    )


def _volumes(instance_id: str) -> list[str]:
    """Names of the instance's data volumes on the engine (release records left out)."""
    every = _docker("volume", "ls", "-q", "--filter", f"label=io.ctrlplane.instance={instance_id}")
    records = _docker(
        "volume",
        "ls",
        "-q",
        "--filter",
        f"label=io.ctrlplane.instance={instance_id}",
        "--filter",
        "label=io.ctrlplane.release-record",
    )
    return sorted(set(every) - set(records))


# -- ps -------------------------------------------------------------------------------------


def test_ps_prints_one_row_per_replica_unit_and_json_the_same_rows(
    cli: Cli, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    name = f"ps-{iid[-8:]}"
    (cli.cwd / "app.yaml").write_text(UNITS.format(name=name, image=IMAGE))
    cli("up", "-f", "app.yaml", "--instance-id", iid)
    try:
        releases = cli.json("releases", name)["releases"]
        assert isinstance(releases, list)
        assert len(releases) == 1, releases
        release_id = releases[0]["release_id"]
        doc = cli.json("ps", name)
        assert doc["instance_id"] == iid
        units = doc["units"]
        assert isinstance(units, list)
        assert [(u["service"], u["replica"]) for u in units] == [
            ("web", 0),
            ("web", 1),
            ("side", 0),
            ("side", 1),
        ], units
        for u in units:
            assert u["release_id"] == release_id
            assert u["image"] == IMAGE
            assert u["state"] == "running"
            assert u["started_at"]
        assert [u.get("health", "") for u in units] == ["healthy", "healthy", "", ""]
        # Only units: the provider refs are the instance's service containers, each once,
        # and every one of them is a container labelled with the instance.
        refs = [u["provider_ref"] for u in units]
        assert len(set(refs)) == 4
        assert set(refs) <= set(_containers(iid))
        web_ports = [[p for p in u.get("ports", []) if p["public"]] for u in units[:2]]
        assert all(len(ports) == 1 for ports in web_ports), units
        assert all(p["url"].startswith("tcp://127.0.0.1:") for ports in web_ports for p in ports)

        table = cli("ps", name).stdout
        header, *rows = [line.split() for line in table.splitlines() if line.strip()]
        assert " ".join(header) == "SERVICE REPLICA RELEASE IMAGE STATE HEALTH RESTARTS PORTS AGE"
        assert [r[:7] for r in rows] == [
            [
                u["service"],
                str(u["replica"]),
                release_id,
                IMAGE,
                "running",
                u.get("health") or "-",
                "0",
            ]
            for u in units
        ]
        # The web units print their published endpoint as a URL (the port speaks HTTP),
        # the same endpoint -o json gives; the sidecars have no port.
        for row, ports in zip(rows[:2], web_ports, strict=True):
            assert row[7] == ports[0]["url"].replace("tcp://", "http://")
        assert [r[7] for r in rows[2:]] == ["-", "-"]
        assert all(r[8].endswith(("s", "m")) for r in rows), rows

        only = cli("ps", name, "-s", "side").stdout
        assert [ln.split()[0] for ln in only.splitlines()[1:] if ln.strip()] == ["side", "side"]
    finally:
        cli("down", name, check=False)
    assert _containers(iid) == []


# -- down --keep-volumes ------------------------------------------------------------------


def test_down_keep_volumes_keeps_the_data_for_the_next_up_and_plain_down_removes_it(
    cli: Cli, make_id: Callable[[], str]
) -> None:
    iid = make_id()
    name = f"vol-{iid[-8:]}"
    (cli.cwd / "app.yaml").write_text(VOLUMES.format(name=name, image=IMAGE))
    cli("up", "-f", "app.yaml", "--instance-id", iid)
    try:
        volumes = _volumes(iid)
        assert len(volumes) == 1, volumes
        cli("exec", name, "--", "sh", "-c", "echo written-before > /data/kept.txt")

        down = cli("down", name, "--keep-volumes")
        assert down.stdout == f"removed {iid} (volumes kept)\n"
        assert f"the next up of workload {name!r} here uses them again" in down.stderr
        assert _containers(iid) == []
        assert _volumes(iid) == volumes
        assert cli("status", name, check=False).returncode == 3
        listed = json.loads(cli("-o", "json", "ls").stdout)
        assert [s for s in listed if iid == s["instance_id"] or name == s["name"]] == []

        # The same file, no --instance-id: up provisions the instance whose volumes
        # were kept, and the data written before is there.
        again = cli("up", "-f", "app.yaml")
        assert f"instance {iid} ({name})" in again.stdout, again.stdout + again.stderr
        assert "with the volumes down --keep-volumes kept" in again.stderr
        assert cli("exec", name, "--", "cat", "/data/kept.txt").stdout == "written-before\n"
        assert _volumes(iid) == volumes

        assert cli("down", name).stdout == f"removed {iid}\n"
        assert _containers(iid) == []
        assert _volumes(iid) == []
    finally:
        cli("down", name, check=False)  # also an instance a failing up made anew
        cli("down", iid, check=False)
