"""The commands that talk to a backend without drawing progress (``ls``, ``status``,
``exec``, ``down``) import no more than the backend itself needs (issue 17, B3/B5): no
progress view, no rich, no YAML parser."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("ctrlplane.cli.progress", "rich", "yaml")

PROBE = """
import json, sys
for module in sys.argv[1:]:
    __import__(module)
heavy = {heavy!r}
print(json.dumps(sorted(m for m in sys.modules if m.startswith(heavy))))
"""


def loaded_after(*modules: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *modules],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(out.stdout))


def test_listing_status_and_exec_commands_import_no_progress_view() -> None:
    assert (
        loaded_after(
            "ctrlplane.cli.lifecycle_cmds",
            "ctrlplane.cli.status_cmd",
            "ctrlplane.cli.operate_cmds",
            "ctrlplane.provider.docker",
        )
        == []
    )


def test_the_probe_sees_the_progress_view_of_deploy() -> None:
    # Guard against a probe that can never fail: the deploy command draws progress.
    assert "ctrlplane.cli.progress" in loaded_after("ctrlplane.cli.deploy_cmd")


def test_validation_imports_yaml_only_for_a_yaml_config_file() -> None:
    code = (
        "import sys\n"
        "from ctrlplane.provider.validation import validate_request\n"
        "from ctrlplane.provider import ProvisionRequest\n"
        "before = 'yaml' in sys.modules\n"
        "req = ProvisionRequest.model_validate({'instance_id': 'inst_01m97ee62aetvs8vr2b3bt7zm4',"
        " 'name': 'x', 'services': [{'name': 'web', 'image': 'busybox', 'config_files':"
        " [{'name': 'c', 'path': '/etc/c.yaml', 'format': 'yaml', 'content': 'a: [1'}]}]})\n"
        "try:\n"
        "    validate_request(req)\n"
        "except Exception as exc:\n"
        "    print(before, 'yaml' in sys.modules, 'config_files[0].content' in str(exc))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.split() == ["False", "True", "True"]
